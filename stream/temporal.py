"""Temporal smoothing of per-frame view probabilities: small stages with one ``update``.

Each stage takes the per-frame probabilities (a ``(K,)`` array) or the :class:`Prediction` of
the stage before it, and returns a :class:`Prediction`. A :class:`TemporalChain` runs stages in
order and is built from the ``smoother:`` section of ``stream/stream.yaml``.

Example::

    chain = TemporalChain([EMA(alpha=0.3), Hysteresis(margin=0.1, patience=3),
                           UncertainGate(threshold=0.5)])
    for probs in per_frame_probs:          # (K,) each
        pred = chain.update(probs)
        print(pred.index, pred.confidence, pred.uncertain)

``unknown`` (not one of the model's views, :mod:`echostream.stream.unknown`) is a first-class
label: :class:`UnknownGate` (put first by ``from_config(..., unknown=rule)``) marks each raw
frame; :class:`EMA` smooths that mark like a probability, :class:`RollingVote` counts it as a
vote, :class:`Hysteresis` lets it through at once (it holds only among known views) and
:class:`UncertainGate` leaves unknown frames alone (uncertain = one of the views, unsure).
Without a gate nothing is ever unknown and every stage behaves as before. A model's chain
comes from :func:`chain_for`, which puts the model file's gate first.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .unknown import UNKNOWN, UnknownRule, rule_for

if TYPE_CHECKING:
    from .model_file import ModelInfo
    from .unknown import HasModelInfo


@dataclass(frozen=True)
class Prediction:
    """The label shown for one frame.

    ``probs`` are the (smoothed) probabilities, ``index`` the label shown (not always their
    argmax: a vote or hysteresis may hold another), ``confidence`` is ``probs[index]``,
    ``vote_share`` the share of the rolling window that voted for ``index`` (1.0 without a vote),
    ``uncertain`` is set by :class:`UncertainGate`. ``unknown``: the frame is not one of the
    views (``reason`` says why); ``other`` is the index of the model's ``OTHER`` class, which
    ``index`` never names (it is the best known view, for the top-2 and the overlay).
    """

    probs: np.ndarray  # (K,)
    index: int
    confidence: float
    vote_share: float = 1.0
    uncertain: bool = False
    unknown: bool = False
    reason: str | None = None
    other: int | None = None

    @classmethod
    def from_probs(cls, probs: np.ndarray, other: int | None = None) -> Prediction:
        """The argmax of ``probs`` (the best known view when ``other`` is given)."""
        p = np.asarray(probs, dtype=np.float32).reshape(-1)
        if other is None:
            i = int(np.argmax(p))
        else:
            masked = p.copy()
            masked[other] = -np.inf
            i = int(np.argmax(masked))
        return cls(probs=p, index=i, confidence=float(p[i]), other=other)

    def with_index(self, index: int, **changes: Any) -> Prediction:
        return replace(self, index=int(index), confidence=float(self.probs[index]), **changes)

    def label(self, labels: Sequence[str]) -> str:
        """The view name, ``"unknown"`` or ``"uncertain"``."""
        if self.unknown:
            return UNKNOWN
        return "uncertain" if self.uncertain else labels[self.index]

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The ``k`` most probable classes as ``(index, probability)``, best first."""
        order = np.argsort(-self.probs)[:k]
        return [(int(i), float(self.probs[i])) for i in order]


def as_prediction(x: np.ndarray | Prediction) -> Prediction:
    """A :class:`Prediction` from raw probabilities, or the prediction itself."""
    return x if isinstance(x, Prediction) else Prediction.from_probs(x)


class Stage:
    """One temporal stage. Subclasses implement :meth:`update` and :meth:`reset`."""

    def update(self, probs: np.ndarray | Prediction) -> Prediction:  # pragma: no cover
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the past (a new cine, or the stream was reconnected)."""


class Raw(Stage):
    """No smoothing: the argmax of this frame's probabilities."""

    def update(self, probs: np.ndarray | Prediction) -> Prediction:
        pred = as_prediction(probs)
        out = Prediction.from_probs(pred.probs, pred.other)
        return replace(out, unknown=pred.unknown, reason=pred.reason)


class UnknownGate(Stage):
    """Mark the frame ``unknown`` as ``rule`` says (the ``OTHER`` class wins, or the score is
    under the model file's threshold); its ``index`` becomes the best known view. Goes first,
    on the raw probabilities (the threshold was fitted on raw frames).

    >>> gate = UnknownGate(UnknownRule(num_classes=3, other=2))
    >>> p = gate.update(np.array([0.3, 0.1, 0.6]))
    >>> p.unknown, p.index, p.reason
    (True, 0, 'OTHER class 0.60')
    """

    def __init__(self, rule: UnknownRule) -> None:
        self.rule = rule

    def update(self, probs: np.ndarray | Prediction) -> Prediction:
        pred = as_prediction(probs)
        reason = self.rule.check(pred.probs)
        out = Prediction.from_probs(pred.probs, self.rule.other)
        return replace(out, unknown=reason is not None, reason=reason)


class EMA(Stage):
    """Exponential moving average of the probabilities: ``s = alpha * p + (1 - alpha) * s``.

    The first frame initialises ``s``. ``alpha=1`` is no smoothing. The ``unknown`` mark is
    smoothed the same way (1 for an unknown frame, 0 for a known one): the output is unknown
    while that average is at least one half.

    >>> ema = EMA(alpha=0.5)
    >>> ema.update(np.array([1.0, 0.0])).probs.tolist()
    [1.0, 0.0]
    >>> ema.update(np.array([0.0, 1.0])).probs.tolist()
    [0.5, 0.5]
    """

    def __init__(self, alpha: float = 0.3) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"EMA alpha must be in (0, 1], got {alpha}")
        self.alpha = float(alpha)
        self._state: np.ndarray | None = None
        self._unknown = 0.0
        self._reason: str | None = None

    def update(self, probs: np.ndarray | Prediction) -> Prediction:
        pred = as_prediction(probs)
        p = pred.probs.astype(np.float64)
        mark = 1.0 if pred.unknown else 0.0
        if self._state is None or self._state.shape != p.shape:
            self._state, self._unknown = p.copy(), mark
        else:
            self._state = self.alpha * p + (1.0 - self.alpha) * self._state
            self._unknown = self.alpha * mark + (1.0 - self.alpha) * self._unknown
        if pred.unknown:
            self._reason = pred.reason
        out = Prediction.from_probs(self._state.astype(np.float32), pred.other)
        if self._unknown < 0.5:
            return out
        return replace(out, unknown=True, reason=self._reason or "unknown on recent frames")

    def reset(self) -> None:
        self._state = None
        self._unknown, self._reason = 0.0, None


class RollingVote(Stage):
    """Majority vote over the labels of the last ``window`` frames (a ``deque(maxlen=window)``).

    Ties go to the tied label with the highest summed probability over the window. The returned
    prediction keeps the incoming probabilities and sets ``vote_share``. An ``unknown`` frame
    votes ``unknown``; when that wins (ties: unknown wins), the prediction is unknown, its
    ``index`` the known view with the highest summed probability over the window.

    >>> vote = RollingVote(window=3)
    >>> [vote.update(np.eye(2)[i]).index for i in (0, 1, 1, 0, 0)]
    [0, 0, 1, 1, 0]
    """

    #: The vote of an unknown frame.
    UNKNOWN_VOTE = -1

    def __init__(self, window: int = 15) -> None:
        if window < 1:
            raise ValueError(f"vote window must be ≥ 1, got {window}")
        self.window = int(window)
        self._votes: deque[int] = deque(maxlen=self.window)
        self._probs: deque[np.ndarray] = deque(maxlen=self.window)

    def update(self, probs: np.ndarray | Prediction) -> Prediction:
        pred = as_prediction(probs)
        self._votes.append(self.UNKNOWN_VOTE if pred.unknown else pred.index)
        self._probs.append(pred.probs)
        counts = Counter(self._votes)
        best = max(counts.values())
        tied = [i for i, c in counts.items() if c == best]
        total = np.sum(self._probs, axis=0)
        share = best / len(self._votes)
        if self.UNKNOWN_VOTE in tied:
            known = Prediction.from_probs(total, pred.other).index
            reason = pred.reason if pred.unknown else None
            n = counts[self.UNKNOWN_VOTE]
            reason = reason or f"unknown on {n} of the last {len(self._votes)} frames"
            return pred.with_index(known, vote_share=share, unknown=True, reason=reason)
        winner = max(tied, key=lambda i: total[i]) if len(tied) > 1 else tied[0]
        return pred.with_index(winner, vote_share=share, unknown=False, reason=None)

    def reset(self) -> None:
        self._votes.clear()
        self._probs.clear()


class Hysteresis(Stage):
    """Hold the shown label until a challenger leads it by ``margin`` for ``patience`` frames.

    A challenger is the incoming label when it differs from the held one; it must beat the held
    label's probability by at least ``margin`` on ``patience`` consecutive frames (the same
    challenger each time) before the label switches.

    >>> h = Hysteresis(margin=0.2, patience=2)
    >>> [h.update(np.array(p)).index for p in ([.9, .1], [.45, .55], [.1, .9], [.1, .9])]
    [0, 0, 0, 1]
    """

    def __init__(self, margin: float = 0.1, patience: int = 3) -> None:
        if margin < 0 or patience < 1:
            raise ValueError(
                f"hysteresis needs margin ≥ 0 and patience ≥ 1, got {margin}, {patience}"
            )
        self.margin = float(margin)
        self.patience = int(patience)
        self._held: int | None = None
        self._challenger: int | None = None
        self._count = 0

    def update(self, probs: np.ndarray | Prediction) -> Prediction:
        pred = as_prediction(probs)
        if pred.unknown:  # shown at once; the held known view waits for the stream's return
            return pred
        if self._held is None:
            self._held = pred.index
            return pred
        cand = pred.index
        if cand != self._held and pred.probs[cand] - pred.probs[self._held] >= self.margin:
            self._count = self._count + 1 if cand == self._challenger else 1
            self._challenger = cand
            if self._count >= self.patience:
                self._held, self._challenger, self._count = cand, None, 0
        else:
            self._challenger, self._count = None, 0
        if pred.index == self._held:
            return pred
        # The vote share of a held label other than the incoming one is unknown here: keep it.
        return pred.with_index(self._held)

    def reset(self) -> None:
        self._held, self._challenger, self._count = None, None, 0


class UncertainGate(Stage):
    """Mark the prediction ``uncertain`` when its probability is under ``threshold``.

    With ``min_vote_share`` > 0, a rolling vote share under it also makes it uncertain. An
    ``unknown`` prediction is never uncertain (it is not one of the views at all).

    >>> UncertainGate(threshold=0.5).update(np.array([0.4, 0.35, 0.25])).uncertain
    True
    """

    def __init__(self, threshold: float = 0.5, min_vote_share: float = 0.0) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"uncertain threshold must be in [0, 1], got {threshold}")
        self.threshold = float(threshold)
        self.min_vote_share = float(min_vote_share)

    def update(self, probs: np.ndarray | Prediction) -> Prediction:
        pred = as_prediction(probs)
        low = pred.confidence < self.threshold or pred.vote_share < self.min_vote_share
        return replace(pred, uncertain=bool(low) and not pred.unknown)


#: Frame rate for ``*_s`` smoother settings when the source does not give one (a live stream).
FALLBACK_FPS = 30.0


def frames_for(seconds: float, fps: float | None) -> int:
    """``seconds`` as a whole number of frames (at least 1) at ``fps``
    (:data:`FALLBACK_FPS` when None or not positive).

    >>> frames_for(0.8, 60), frames_for(0.8, 38), frames_for(0.8, None)
    (48, 30, 24)
    """
    if seconds <= 0:
        raise ValueError(f"a smoother time must be > 0 s, got {seconds}")
    rate = fps if fps and math.isfinite(fps) and fps > 0 else FALLBACK_FPS
    return max(1, int(round(seconds * rate)))


STAGES: dict[str, type[Stage]] = {
    "raw": Raw,
    "ema": EMA,
    "vote": RollingVote,
    "hysteresis": Hysteresis,
    "uncertain": UncertainGate,
}


def describe_config(cfg: Mapping[str, Any] | None) -> str:
    """A ``smoother:`` section as text, before any frame rate is known (seconds kept).

    >>> describe_config({"stages": ["vote"], "vote": {"window_s": 0.7}})
    'vote(window_s=0.7)'
    """
    cfg = dict(cfg or {})
    parts = []
    for name in cfg.get("stages", []):
        args = ", ".join(f"{k}={v}" for k, v in dict(cfg.get(name) or {}).items())
        parts.append(f"{name}({args})")
    return " → ".join(parts) or "raw"


class TemporalChain(Stage):
    """Stages run in order; each gets the previous stage's :class:`Prediction`.

    An empty chain is raw argmax.
    """

    def __init__(self, stages: Iterable[Stage] = (), fps: float | None = None) -> None:
        self.stages = list(stages)
        #: the frame rate ``*_s`` settings were converted with (None: none were given)
        self.fps = fps

    def update(self, probs: np.ndarray | Prediction) -> Prediction:
        pred = as_prediction(probs)
        for stage in self.stages:
            pred = stage.update(pred)
        return pred

    def reset(self) -> None:
        for stage in self.stages:
            stage.reset()

    def run(self, probs: np.ndarray) -> list[Prediction]:
        """Predictions for a whole ``(N, K)`` sequence (resets first)."""
        self.reset()
        return [self.update(p) for p in np.asarray(probs)]

    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any] | None,
        fps: float | None = None,
        unknown: UnknownRule | None = None,
    ) -> TemporalChain:
        """Build from a ``smoother:`` section; with an active ``unknown`` rule (the model
        file's, :meth:`UnknownRule.from_info`) an :class:`UnknownGate` goes first.

        ``{"stages": ["ema", "hysteresis", "uncertain"], "ema": {"alpha": 0.3}, ...}``: the
        stage names in order, each with its keyword arguments under its own key.

        A frame count may be given in seconds instead, with ``_s`` on its name (``window_s``,
        ``patience_s``): scanners run at 30-80+ fps, and a window in seconds means the same
        time constant on each. It becomes ``max(1, round(seconds * fps))`` frames with the
        source's ``fps`` (:data:`FALLBACK_FPS` where the source does not say).

        >>> TemporalChain.from_config({"stages": ["ema"], "ema": {"alpha": 0.5}}).stages[0].alpha
        0.5
        >>> cfg = {"stages": ["vote"], "vote": {"window_s": 0.8}}
        >>> TemporalChain.from_config(cfg, fps=60).stages[0].window
        48
        """
        cfg = dict(cfg or {})
        names = cfg.get("stages", [])
        stages = []
        timed = False
        for name in names:
            if name not in STAGES:
                raise ValueError(f"unknown smoother stage {name!r}; known: {', '.join(STAGES)}")
            kwargs = dict(cfg.get(name) or {})
            for key in [k for k in kwargs if k.endswith("_s")]:
                base = key[:-2]
                if base in kwargs:
                    raise ValueError(f"smoother stage {name!r}: give {base} or {key}, not both")
                kwargs[base] = frames_for(float(kwargs.pop(key)), fps)
                timed = True
            stages.append(STAGES[name](**kwargs))
        if unknown is not None and unknown.active:
            stages.insert(0, UnknownGate(unknown))
        return cls(stages, fps=(fps or FALLBACK_FPS) if timed else None)

    def describe(self) -> str:
        """A short text such as ``"ema(alpha=0.3) → hysteresis(margin=0.1, patience=3)"``."""
        if not self.stages:
            return "raw"
        parts = []
        for s in self.stages:
            if isinstance(s, UnknownGate):
                parts.append(f"unknown({s.rule.describe()})")
                continue
            name = next((k for k, v in STAGES.items() if type(s) is v), type(s).__name__)
            args = ", ".join(f"{k}={v}" for k, v in vars(s).items() if not k.startswith("_"))
            parts.append(f"{name}({args})")
        text = " → ".join(parts)
        return text if self.fps is None else f"{text} [at {self.fps:g} fps]"


def chain_for(
    model: HasModelInfo | ModelInfo | UnknownRule,
    smoother: Mapping[str, Any] | None,
    fps: float | None = None,
) -> TemporalChain:
    """The temporal chain for ``model`` (an :class:`~echostream.stream.pipeline.Engine` or its
    ``ModelInfo``): the ``smoother:`` section's stages at ``fps``, after the model file's
    unknown-view gate (:func:`~echostream.stream.unknown.rule_for`) when it has a rule. The one
    way a caller with a model builds its chain, so no path shows ``OTHER`` or skips the
    model's threshold.

    >>> from types import SimpleNamespace
    >>> nine = SimpleNamespace(labels=("PLAX", "A4C", "OTHER"))
    >>> chain_for(nine, {"stages": ["ema"], "ema": {"alpha": 0.5}}).describe()
    'unknown(OTHER class) → ema(alpha=0.5)'
    >>> chain_for(nine, None).update(np.array([0.2, 0.1, 0.7])).label(nine.labels)
    'unknown'
    """
    return TemporalChain.from_config(smoother, fps=fps, unknown=rule_for(model))
