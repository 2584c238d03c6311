"""Cine verdict: majority vote as the thesis, mean probability, vote share, top-2."""

from __future__ import annotations

import numpy as np
import pytest

from echostream.stream.verdict import cine_verdict

LABELS = ["PLAX", "A4C", "A2C"]


def test_majority_vote_and_mean_can_disagree() -> None:
    # Two frames mildly PLAX, one strongly A4C: the vote says PLAX, the mean says A4C.
    p = np.array([[0.5, 0.4, 0.1], [0.5, 0.45, 0.05], [0.0, 1.0, 0.0]])
    v = cine_verdict(p, LABELS)
    assert v.label == "PLAX" and v.by_mean == "A4C" and not v.agrees
    assert v.vote_share == pytest.approx(2 / 3)
    assert v.confidence == pytest.approx(1.0 / 3)
    assert [c.label for c in v.top2] == ["PLAX", "A4C"]
    assert v.top2[1].vote_share == pytest.approx(1 / 3)
    assert v.n_frames == 3
    assert sum(v.mean_probs.values()) == pytest.approx(1.0)
    d = v.to_dict()
    assert d["top2"][0]["label"] == "PLAX"


def test_vote_tie_goes_to_higher_mean() -> None:
    p = np.array([[0.6, 0.4, 0.0], [0.1, 0.9, 0.0]])
    assert cine_verdict(p, LABELS).label == "A4C"


def test_single_frame_and_bad_shapes() -> None:
    v = cine_verdict(np.array([[0.1, 0.2, 0.7]]), LABELS)
    assert v.label == "A2C" and v.vote_share == 1.0
    with pytest.raises(ValueError):
        cine_verdict(np.empty((0, 3)), LABELS)
    with pytest.raises(ValueError):
        cine_verdict(np.ones((2, 2)), LABELS)
