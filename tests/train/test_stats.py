"""Mean and 95 % CI over seeds (t distribution)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from echostream.train.experiments.stats import MeanCI, format_ci, mean_ci


def test_matches_scipy_t_interval():
    xs = [0.91, 0.93, 0.88, 0.95]
    s = mean_ci(xs)
    lo, hi = stats.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=stats.sem(xs))
    assert s.n == 4
    assert s.mean == pytest.approx(np.mean(xs))
    assert s.low == pytest.approx(lo)
    assert s.high == pytest.approx(hi)


def test_three_seeds_uses_t_not_normal():
    s = mean_ci([0.0, 1.0, 2.0])  # sd 1, n 3: t(0.975, 2) = 4.303
    assert s.half_width == pytest.approx(4.3027 / math.sqrt(3), rel=1e-4)


def test_single_and_empty_and_missing():
    one = mean_ci([0.8])
    assert one.n == 1 and one.mean == 0.8 and math.isnan(one.half_width)
    assert one.to_dict()["ci95"] is None
    assert format_ci(one) == "80.0 % (1 seed)"
    empty = mean_ci([])
    assert empty.n == 0 and format_ci(empty) == "–"
    assert mean_ci([0.5, None, float("nan"), 0.7]).n == 2


def test_format():
    assert format_ci(MeanCI(0.92, 0.05, 3)) == "92.0 ± 5.0 %"
    assert format_ci(MeanCI(1.5, 0.25, 3), percent=False, digits=2) == "1.50 ± 0.25"


def test_identical_values_have_zero_width():
    assert mean_ci([0.9, 0.9, 0.9]).half_width == pytest.approx(0.0)
