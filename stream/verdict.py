"""The verdict for a whole cine: majority vote over frames (as the thesis) and mean probability.

Example::

    v = cine_verdict(probs, labels)        # probs: (N, K) per-frame probabilities
    print(v.label, v.vote_share, v.confidence, v.top2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """One label's standing in a cine: its vote share and its mean probability."""

    label: str
    vote_share: float
    mean_prob: float


@dataclass(frozen=True)
class CineVerdict:
    """``label`` wins the per-frame majority vote (ties: the higher mean probability).

    ``confidence`` is the winner's mean probability over the frames, ``vote_share`` the share of
    frames whose argmax is the winner, ``by_mean`` the argmax of the mean probabilities (usually
    the same label; when not, the cine is ambiguous), ``top2`` the two best candidates by vote.
    """

    label: str
    confidence: float
    vote_share: float
    by_mean: str
    top2: tuple[Candidate, ...]
    n_frames: int
    mean_probs: dict[str, float]

    @property
    def agrees(self) -> bool:
        """True when the vote and the mean probability name the same label."""
        return self.label == self.by_mean

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["top2"] = [asdict(c) for c in self.top2]
        return d


def cine_verdict(probs: np.ndarray, labels: Sequence[str]) -> CineVerdict:
    """The verdict over ``probs`` ``(N, K)`` (one row per frame), with ``labels`` (K names).

    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> v = cine_verdict(p, ["PLAX", "A4C"])
    >>> v.label, round(v.vote_share, 3), round(v.confidence, 3)
    ('PLAX', 0.667, 0.567)
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"need (N, K) probabilities with N ≥ 1, got shape {p.shape}")
    if p.shape[1] != len(labels):
        raise ValueError(f"{p.shape[1]} classes but {len(labels)} labels")
    n = p.shape[0]
    votes = np.bincount(p.argmax(axis=1), minlength=p.shape[1]) / n  # (K,) vote shares
    mean = p.mean(axis=0)  # (K,)
    order = np.lexsort((-mean, -votes))  # by vote share, then mean probability
    win = int(order[0])
    top2 = tuple(Candidate(labels[int(i)], float(votes[i]), float(mean[i])) for i in order[:2])
    return CineVerdict(
        label=labels[win],
        confidence=float(mean[win]),
        vote_share=float(votes[win]),
        by_mean=labels[int(mean.argmax())],
        top2=top2,
        n_frames=n,
        mean_probs={lab: float(m) for lab, m in zip(labels, mean, strict=True)},
    )
