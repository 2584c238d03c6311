"""The ``unknown`` outcome: a frame or cine that is none of the model's views.

Two rules, both from the model file, never from code:

* **OTHER class**: a model trained with a class named ``OTHER`` (``data.other: true`` in the
  training config) rejects every frame whose argmax is that class. The rule applies whenever
  the model's labels include ``OTHER``.
* **Score threshold**: the metadata entry ``echostream.unknown`` (written by
  ``echostream calibrate --unknown``) holds a score and a threshold. With ``max_softmax`` (the
  highest probability among the known views, the ``OTHER`` column left out, after the model's
  temperature) a frame whose score falls under the threshold is rejected. With
  ``mahalanobis`` the threshold is on the penultimate features' distance to the views and is
  built into the graph (:mod:`echostream.train.unknown_gate`): the file's ``OTHER`` output
  wins exactly when the distance passes it, so the ``OTHER`` rule applies it and the entry
  only names it. No entry, no threshold.

``unknown`` is distinct from ``uncertain``: *uncertain* is one of the views, with low
confidence; *unknown* is not one of the views.

Every caller takes a model's rule from :func:`rule_for` (an engine, its ``ModelInfo``); its
chain from :func:`~echostream.stream.temporal.chain_for` and a cine's verdict from
:func:`~echostream.stream.verdict.verdict_for`, which both apply it: one way, so no path shows
``OTHER`` or ignores the threshold.

Example::

    rule = rule_for(engine)
    reason = rule.check(probs)             # None, or why this frame is not one of the views
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

if TYPE_CHECKING:
    from .model_file import ModelInfo

#: The class name of "not one of the views" in a model's labels (the simulator's name too).
OTHER = "OTHER"
#: What reports show for a frame or cine that is not one of the views.
UNKNOWN = "unknown"
#: How a frame's reason starts when the Mahalanobis gate rejected it.
FAR_FROM_VIEWS = "far from every view"
#: Scores a threshold may be set on: from the calibrated probabilities (``max_softmax``) or
#: built into the graph as its ``OTHER`` output (``mahalanobis``).
SCORES = ("max_softmax", "mahalanobis")


def check_unknown_entry(entry: Mapping[str, Any]) -> None:
    """Raise ValueError when an ``echostream.unknown`` metadata entry cannot be applied.

    >>> check_unknown_entry({"score": "max_softmax", "threshold": 0.4})
    >>> check_unknown_entry({"score": "energy", "threshold": -3.0})
    Traceback (most recent call last):
    ...
    ValueError: unknown-view score 'energy' is not one this echostream applies (max_softmax, \
mahalanobis)
    """
    if not entry:
        return
    score = entry.get("score")
    if score not in SCORES:
        raise ValueError(
            f"unknown-view score {score!r} is not one this echostream applies ({', '.join(SCORES)})"
        )
    threshold = entry.get("threshold")
    if threshold is None:
        return
    if not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise ValueError(f"unknown-view threshold must be a number, got {threshold!r}")
    if score == "max_softmax" and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"a max_softmax threshold must be in [0, 1], got {threshold!r}")
    if score == "mahalanobis" and threshold <= 0:
        raise ValueError(f"a Mahalanobis distance threshold must be positive, got {threshold!r}")


@dataclass(frozen=True)
class UnknownRule:
    """When a frame is ``unknown``: ``other`` is the index of the ``OTHER`` class (None: the
    model has none), ``threshold`` the ``max_softmax`` under which a frame is rejected (None:
    no threshold), ``gate`` the distance threshold when the ``OTHER`` output is the graph's
    Mahalanobis gate (None: a trained class). An inactive rule rejects nothing."""

    num_classes: int
    other: int | None = None
    threshold: float | None = None
    score: str = "max_softmax"
    gate: float | None = None

    @classmethod
    def from_labels(
        cls, labels: Sequence[str], entry: Mapping[str, Any] | None = None
    ) -> UnknownRule:
        """The rule for a model with ``labels`` and metadata ``entry`` (``echostream.unknown``).

        >>> UnknownRule.from_labels(["PLAX", "A4C", "OTHER"]).other
        2
        >>> UnknownRule.from_labels(["PLAX", "A4C"]).active
        False
        """
        entry = dict(entry or {})
        check_unknown_entry(entry)
        labels = list(labels)
        other = labels.index(OTHER) if OTHER in labels else None
        threshold = entry.get("threshold")
        if entry.get("score") == "mahalanobis":
            if other is None:
                raise ValueError(
                    f"a Mahalanobis gate needs the {OTHER} output it adds to the labels"
                )
            gate = None if threshold is None else float(threshold)
            return cls(num_classes=len(labels), other=other, score="mahalanobis", gate=gate)
        return cls(
            num_classes=len(labels),
            other=other,
            threshold=None if threshold is None else float(threshold),
            score=str(entry.get("score", "max_softmax")),
        )

    @classmethod
    def from_info(cls, info: ModelInfo) -> UnknownRule:
        """The rule a model file describes (its labels and ``echostream.unknown`` entry; an
        info without that entry has no threshold)."""
        return cls.from_labels(info.labels, getattr(info, "unknown", None))

    @property
    def active(self) -> bool:
        """True when the rule can reject anything."""
        return self.other is not None or self.threshold is not None

    @property
    def known(self) -> np.ndarray:
        """Indices of the known views (every class but ``OTHER``)."""
        return np.array([i for i in range(self.num_classes) if i != self.other], dtype=np.int64)

    def best_known(self, probs: np.ndarray) -> np.ndarray | int:
        """Index of the most probable known view: per row of ``(N, K)``, or one for ``(K,)``."""
        p = np.asarray(probs)
        best = self.known[np.argmax(p[..., self.known], axis=-1)]
        return int(best) if p.ndim == 1 else best

    def scores(self, probs: np.ndarray) -> np.ndarray:
        """``max_softmax`` per row of ``(N, K)`` probabilities: the best known view's
        probability (high: looks like a known view)."""
        p = np.asarray(probs, dtype=np.float64)
        return p[..., self.known].max(axis=-1)

    def reasons(self, probs: np.ndarray) -> list[str | None]:
        """Per row of ``(N, K)``: why the frame is unknown, or None when it is a known view.

        >>> rule = UnknownRule(num_classes=3, other=2, threshold=0.5)
        >>> rule.reasons(np.array([[0.7, 0.2, 0.1], [0.2, 0.1, 0.7], [0.45, 0.4, 0.15]]))
        [None, 'OTHER class 0.70', 'max_softmax 0.45 < 0.50']
        """
        p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
        if not self.active:
            return [None] * len(p)
        out: list[str | None] = []
        top = p.argmax(axis=1)
        score = self.scores(p)
        for row, best, s in zip(p, top, score, strict=True):
            if self.other is not None and best == self.other:
                out.append(self._other_reason(row[self.other]))
            elif self.threshold is not None and s < self.threshold:
                out.append(f"{self.score} {s:.2f} < {self.threshold:.2f}")
            else:
                out.append(None)
        return out

    def _other_reason(self, p_other: float) -> str:
        if self.gate is not None:
            return f"{FAR_FROM_VIEWS} (Mahalanobis distance over {self.gate:.4g})"
        return f"{OTHER} class {p_other:.2f}"

    def rejected(self, probs: np.ndarray) -> np.ndarray:
        """Boolean ``(N,)``: which rows of ``(N, K)`` are unknown."""
        p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
        out = np.zeros(len(p), dtype=bool)
        if self.other is not None:
            out |= p.argmax(axis=1) == self.other
        if self.threshold is not None:
            out |= self.scores(p) < self.threshold
        return out

    def check(self, probs: np.ndarray) -> str | None:
        """Why one frame's ``(K,)`` probabilities are unknown, or None."""
        return self.reasons(np.asarray(probs)[None])[0]

    def describe(self) -> str:
        """One line for reports.

        >>> UnknownRule(num_classes=9, other=8, threshold=0.41).describe()
        'OTHER class; max_softmax under 0.41'
        """
        parts = []
        if self.gate is not None:
            parts.append(f"Mahalanobis distance over {self.gate:.4g}")
        elif self.other is not None:
            parts.append(f"{OTHER} class")
        if self.threshold is not None:
            parts.append(f"{self.score} under {self.threshold:.2f}")
        return "; ".join(parts) or "none"


class HasModelInfo(Protocol):
    """A loaded model (:class:`~echostream.stream.pipeline.Engine`): its file's metadata."""

    @property
    def info(self) -> ModelInfo: ...


def rule_for(model: HasModelInfo | ModelInfo | UnknownRule) -> UnknownRule:
    """The unknown-view rule of ``model``: an :class:`~echostream.stream.pipeline.Engine`, its
    ``ModelInfo``, or a rule (returned as is). An object without ``info`` is read as the info
    itself (its ``labels``, and its ``unknown`` entry if it has one).

    >>> from types import SimpleNamespace
    >>> rule_for(SimpleNamespace(labels=("PLAX", "A4C", "OTHER"))).describe()
    'OTHER class'
    """
    if isinstance(model, UnknownRule):
        return model
    return UnknownRule.from_info(_info(model))


def labels_for(model: HasModelInfo | ModelInfo) -> tuple[str, ...]:
    """The class names of ``model`` (an engine or its ``ModelInfo``), in output order."""
    return tuple(_info(model).labels)


def _info(model: HasModelInfo | ModelInfo) -> ModelInfo:
    """``model``'s metadata: its ``info``, or ``model`` itself when it has none."""
    return cast("ModelInfo", getattr(model, "info", model))
