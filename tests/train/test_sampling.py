"""Per-class and vendor-fixed training-set sampling (experiments 3 and 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from echostream.train.experiments.sampling import (
    check_vendor_patients,
    class_quotas,
    fraction_rows,
    per_class_sample,
    smallest_vendor_count,
    vendor_counts,
    vendor_rows,
)


def _index(seed: int = 0) -> pd.DataFrame:
    """3 vendors with different sizes; 8 classes with unequal counts; one vendor per patient."""
    rng = np.random.default_rng(seed)
    rows = []
    for vendor, patients in (("a", 6), ("b", 3), ("c", 4)):
        for p in range(patients):
            for label in range(8):
                for _ in range(1 + (label % 3) + int(rng.integers(0, 3))):
                    rows.append({"patient_id": f"{vendor}{p}", "vendor": vendor, "label": label})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n", [1, 7, 8, 13, 50, 10_000])
def test_class_quotas_exact_total_and_proportional(n):
    counts = np.array([40, 30, 20, 5, 3, 1, 1, 100])
    q = class_quotas(counts, n)
    assert q.sum() == min(n, counts.sum())
    assert (q <= counts).all()
    if n >= len(counts):
        assert (q >= 1).all()
    if n == 50:  # largest remainder: within one of the exact share (after the floor-of-one)
        exact = n * counts / counts.sum()
        assert np.abs(q - exact).max() <= 1.0 + 1e-9


def test_per_class_sample_keeps_proportions_and_is_seeded():
    idx = _index()
    rows = np.arange(len(idx))
    labels = idx["label"].to_numpy()
    a = per_class_sample(rows, labels, 60, seed=3)
    assert len(a) == 60 and len(np.unique(a)) == 60
    assert set(labels[a]) == set(range(8))
    assert np.array_equal(a, per_class_sample(rows, labels, 60, seed=3))
    assert not np.array_equal(a, per_class_sample(rows, labels, 60, seed=4))


def test_fraction_rows():
    idx = _index()
    rows = np.arange(len(idx))
    r = fraction_rows(idx, rows, 0.1, seed=0)
    assert len(r) == max(8, round(0.1 * len(rows)))
    assert set(idx["label"].to_numpy()[r]) == set(range(8))  # at least one of each class
    tiny = fraction_rows(idx, rows, 0.001, seed=0)
    assert len(tiny) == 1
    with pytest.raises(ValueError, match="fraction"):
        fraction_rows(idx, rows, 0.0, seed=0)


def test_vendor_fixed_size_and_halves():
    idx = _index()
    rows = np.arange(len(idx))
    counts = vendor_counts(idx, rows)
    n = smallest_vendor_count(idx, rows)
    assert n == min(counts.values()) == counts["b"]
    for vendors in (["a"], ["c"], ["a", "c"], ["b", "c"]):
        r = vendor_rows(idx, rows, vendors, n, seed=1)
        assert len(r) == n  # the same training-set size whatever the vendors
        got = idx["vendor"].to_numpy()[r]
        assert set(got) == set(vendors)
        if len(vendors) == 2:
            per = [int((got == v).sum()) for v in vendors]
            assert abs(per[0] - per[1]) <= 1  # half from each vendor
    with pytest.raises(ValueError, match="vendor 'a' has"):
        vendor_rows(idx, rows, ["a"], counts["a"] + 1, seed=0)


def test_no_patient_crosses_vendors():
    idx = _index()
    check_vendor_patients(idx)
    bad = idx.copy()
    bad.loc[0, "vendor"] = "b"  # patient a0 now has frames under two vendors
    with pytest.raises(ValueError, match="1 patient"):
        check_vendor_patients(bad)
