"""Known views vs ``OTHER``: how well a model tells them apart, and the unknown-view threshold.

The score is the runtime's (:class:`echostream.stream.unknown.UnknownRule`): ``max_softmax``,
the best known view's probability after the model's temperature. The threshold is chosen for a
target false-rejection rate of known-view frames (2 % by default): the highest threshold that
rejects at most that share of them, the ``OTHER`` class's own rejections counted first. It is
written into the model file's metadata (``echostream.unknown``), never into code.

>>> rng = np.random.default_rng(0)
>>> known = rng.dirichlet([20, 1, 1], 500)     # peaked: looks like a known view
>>> other = rng.dirichlet([3, 3, 3], 200)      # flat: not one of the views
>>> fit = fit_unknown_threshold(known, other, ("A", "B", "C"), target=0.02)
>>> fit.false_rejection <= 0.02, fit.true_rejection > 0.9, fit.auroc > 0.99
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echostream.stream.unknown import UnknownRule

#: The default share of known-view frames a fitted threshold may reject.
TARGET_FALSE_REJECTION = 0.02


def unknown_auroc(known_probs: np.ndarray, other_probs: np.ndarray, rule: UnknownRule) -> float:
    """AUROC of "is OTHER" by the rule's score (low ``max_softmax``: OTHER); NaN when a side
    is empty."""
    from sklearn.metrics import roc_auc_score

    if not len(known_probs) or not len(other_probs):
        return float("nan")
    scores = np.concatenate([rule.scores(known_probs), rule.scores(other_probs)])
    truth = np.r_[np.zeros(len(known_probs)), np.ones(len(other_probs))]
    return float(roc_auc_score(truth, -scores))


def unknown_metrics(
    known_probs: np.ndarray,
    known_labels: np.ndarray,
    other_probs: np.ndarray,
    rule: UnknownRule,
) -> dict[str, Any]:
    """Known-vs-unknown numbers of one split under ``rule`` (frames).

    ``known_view_accuracy``: frames of the known views given their right view (a rejected frame
    counts as wrong); ``…_without_rejection``: the best known view alone, no rule applied.
    """
    known_rejected = rule.rejected(known_probs) if len(known_probs) else np.zeros(0, bool)
    other_rejected = rule.rejected(other_probs) if len(other_probs) else np.zeros(0, bool)
    best = rule.best_known(known_probs) if len(known_probs) else np.zeros(0, int)
    right = np.asarray(best) == np.asarray(known_labels)
    return {
        "rule": rule.describe(),
        "known_frames": int(len(known_probs)),
        "other_frames": int(len(other_probs)),
        "auroc": unknown_auroc(known_probs, other_probs, rule),
        "false_rejection": _share(known_rejected),
        "true_rejection": _share(other_rejected),
        "known_view_accuracy": _share(right & ~known_rejected),
        "known_view_accuracy_without_rejection": _share(right),
    }


def _share(mask: np.ndarray) -> float | None:
    return float(np.mean(mask)) if len(mask) else None


@dataclass(frozen=True)
class UnknownFit:
    """A fitted threshold (None: the OTHER class alone already rejects more known frames than
    the target allows) and what it does on the frames it was fitted on."""

    threshold: float | None
    target: float
    auroc: float
    false_rejection: float
    true_rejection: float
    known_frames: int
    other_frames: int

    def metadata(self, *, split: str, simulated_data: bool) -> dict[str, Any]:
        """The ``echostream.unknown`` entry of the model file."""
        return {
            "score": "max_softmax",
            "threshold": None if self.threshold is None else round(self.threshold, 6),
            "method": f"highest threshold rejecting ≤ {self.target:.1%} of known-view frames",
            "target_false_rejection": self.target,
            "fitted_on": {
                "split": split,
                "known_frames": self.known_frames,
                "other_frames": self.other_frames,
                "simulated_data": simulated_data,
            },
            "auroc": round(self.auroc, 6),
            "false_rejection": round(self.false_rejection, 6),
            "true_rejection": round(self.true_rejection, 6),
        }


def check_fit_inputs(known: int, other: int, target: float) -> None:
    """Raise ValueError unless there are frames on both sides and ``target`` is a rate."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"the target false-rejection rate must be in [0, 1), not {target}")
    if not known or not other:
        raise ValueError(
            f"need frames of known views and of OTHER to fit a threshold, got {known} and {other}"
        )


def fit_unknown_threshold(
    known_probs: np.ndarray,
    other_probs: np.ndarray,
    labels: Sequence[str],
    *,
    target: float = TARGET_FALSE_REJECTION,
) -> UnknownFit:
    """The highest ``max_softmax`` threshold that rejects at most ``target`` of the known-view
    frames (the ``OTHER`` class's own rejections of them counted first)."""
    check_fit_inputs(len(known_probs), len(other_probs), target)
    by_class = UnknownRule.from_labels(labels)  # the OTHER class alone, if the model has one
    class_rejected = by_class.rejected(known_probs)
    allowed = int(np.floor(target * len(known_probs) + 1e-9)) - int(class_rejected.sum())
    threshold: float | None = None
    if allowed >= 0:
        scores = np.sort(by_class.scores(known_probs[~class_rejected]))
        # reject the frames strictly under scores[allowed]: at most ``allowed`` of them
        threshold = float(scores[allowed]) if allowed < len(scores) else float(scores[-1])
    rule = UnknownRule.from_labels(
        labels, None if threshold is None else {"score": "max_softmax", "threshold": threshold}
    )
    return UnknownFit(
        threshold=threshold,
        target=target,
        auroc=unknown_auroc(known_probs, other_probs, by_class),
        false_rejection=float(rule.rejected(known_probs).mean()),
        true_rejection=float(rule.rejected(other_probs).mean()),
        known_frames=len(known_probs),
        other_frames=len(other_probs),
    )


def write_unknown(model_file: str | Path, entry: dict[str, Any]) -> None:
    """Store ``entry`` as the model file's ``echostream.unknown`` metadata (the weights are not
    touched; the file is replaced atomically)."""
    import onnx

    from echostream.stream.atomic import atomic_path
    from echostream.stream.model_file import ModelInfo, load_onnx, write_metadata

    path = Path(model_file)
    model = load_onnx(path)
    info = ModelInfo.from_model_proto(model, path=path)
    write_metadata(model, info.with_(unknown=entry))
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
