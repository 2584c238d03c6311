"""The verdict for a whole cine: majority vote over frames (as the thesis) and mean probability.

``unknown`` (not one of the model's views, :mod:`echostream.stream.unknown`) is a label of its
own in the vote: each frame the model's rule rejects votes ``unknown``, and a cine whose vote
``unknown`` wins (ties included) is ``unknown``, with ``top2`` still naming the best known
views and ``reason`` saying why.

Example::

    v = verdict_for(probs, engine)         # probs: (N, K) per-frame probabilities
    print(v.label, v.vote_share, v.confidence, v.top2)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .unknown import FAR_FROM_VIEWS, OTHER, UNKNOWN, UnknownRule, labels_for, rule_for

if TYPE_CHECKING:
    from .model_file import ModelInfo
    from .unknown import HasModelInfo


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
    the same label; when not, the cine is ambiguous), ``top2`` the two best known views by vote.

    An ``unknown`` cine: ``label`` is ``"unknown"``, ``vote_share`` and ``confidence`` are the
    share of its frames that are not one of the views, ``reason`` says why.
    ``unknown_share`` is that share for every cine (0 when the model has no unknown rule).
    """

    label: str
    confidence: float
    vote_share: float
    by_mean: str
    top2: tuple[Candidate, ...]
    n_frames: int
    mean_probs: dict[str, float]
    unknown_share: float = 0.0
    reason: str | None = None

    @property
    def agrees(self) -> bool:
        """True when the vote and the mean probability name the same label."""
        return self.label == self.by_mean

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["top2"] = [asdict(c) for c in self.top2]
        return d


def _unknown_reason(reasons: Sequence[str | None]) -> str:
    """How many frames were rejected, and by which rule.

    >>> _unknown_reason(["OTHER class 0.70", None, "max_softmax 0.31 < 0.45"])  # doctest: +ELLIPSIS
    '2 of 3 frames are not one of the views (OTHER class on 1, max_softmax under the ... on 1)'
    >>> _unknown_reason([FAR_FROM_VIEWS + " (Mahalanobis distance over 1878)", None])
    '1 of 2 frames are not one of the views (Mahalanobis gate on 1)'
    """
    rejected = [r for r in reasons if r is not None]
    kinds = Counter(
        f"{OTHER} class" if r.startswith(OTHER)
        else "Mahalanobis gate" if r.startswith(FAR_FROM_VIEWS)
        else f"{r.split()[0]} under the threshold"
        for r in rejected
    )  # fmt: skip
    detail = ", ".join(f"{kind} on {n}" for kind, n in kinds.most_common())
    return f"{len(rejected)} of {len(reasons)} frames are not one of the views ({detail})"


def cine_verdict(
    probs: np.ndarray, labels: Sequence[str], unknown: UnknownRule | None = None
) -> CineVerdict:
    """The verdict over ``probs`` ``(N, K)`` (one row per frame), with ``labels`` (K names).

    ``unknown``: the model's rule (:meth:`UnknownRule.from_info`); None: the rule ``labels``
    imply (an ``OTHER`` label rejects the frames it wins; no threshold).

    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> v = cine_verdict(p, ["PLAX", "A4C"])
    >>> v.label, round(v.vote_share, 3), round(v.confidence, 3)
    ('PLAX', 0.667, 0.567)
    >>> q = np.array([[0.1, 0.2, 0.7], [0.2, 0.1, 0.7], [0.6, 0.3, 0.1]])
    >>> u = cine_verdict(q, ["PLAX", "A4C", "OTHER"])
    >>> u.label, round(u.vote_share, 3), [c.label for c in u.top2]
    ('unknown', 0.667, ['PLAX', 'A4C'])
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"need (N, K) probabilities with N ≥ 1, got shape {p.shape}")
    if p.shape[1] != len(labels):
        raise ValueError(f"{p.shape[1]} classes but {len(labels)} labels")
    rule = unknown if unknown is not None else UnknownRule.from_labels(labels)
    if rule.num_classes != len(labels):
        raise ValueError(f"the unknown rule is for {rule.num_classes} classes, not {len(labels)}")
    n, known = p.shape[0], rule.known
    reasons = rule.reasons(p)
    rejected = np.array([r is not None for r in reasons])
    unknown_share = float(rejected.mean())
    best = np.asarray(rule.best_known(p))  # (N,) the best known view of each frame
    votes = np.bincount(best[~rejected], minlength=p.shape[1]) / n  # (K,) known votes only
    mean = p.mean(axis=0)  # (K,)
    order = known[np.lexsort((-mean[known], -votes[known]))]  # known views: votes, then mean
    top2 = tuple(Candidate(labels[int(i)], float(votes[i]), float(mean[i])) for i in order[:2])
    win = int(order[0])
    top_mean = int(mean.argmax())
    by_mean = UNKNOWN if top_mean == rule.other else labels[top_mean]
    common = {"by_mean": by_mean, "top2": top2, "n_frames": n,
              "unknown_share": unknown_share}  # fmt: skip
    mean_probs = {lab: float(m) for lab, m in zip(labels, mean, strict=True)}
    if rejected.any() and unknown_share >= votes[win]:
        return CineVerdict(label=UNKNOWN, confidence=unknown_share, vote_share=unknown_share,
                           mean_probs=mean_probs, reason=_unknown_reason(reasons),
                           **common)  # fmt: skip
    return CineVerdict(label=labels[win], confidence=float(mean[win]),
                       vote_share=float(votes[win]), mean_probs=mean_probs, **common)  # fmt: skip


def verdict_for(probs: np.ndarray, model: HasModelInfo | ModelInfo) -> CineVerdict:
    """The verdict over ``probs`` ``(N, K)`` from ``model`` (an
    :class:`~echostream.stream.pipeline.Engine` or its ``ModelInfo``): its labels and its model
    file's unknown-view rule (:func:`~echostream.stream.unknown.rule_for`), threshold included.
    The one way a caller with a model gets a cine's verdict.

    >>> from types import SimpleNamespace
    >>> info = SimpleNamespace(labels=("PLAX", "A4C"), unknown={"score": "max_softmax",
    ...                                                        "threshold": 0.8})
    >>> verdict_for(np.array([[0.6, 0.4], [0.7, 0.3]]), info).label
    'unknown'
    """
    return cine_verdict(probs, labels_for(model), unknown=rule_for(model))
