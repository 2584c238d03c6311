"""Temperature scaling: a model's confidence made to mean what it says.

One number ``T`` divides the logits before the softmax (``softmax(z / T)``): ``T > 1`` softens
an over-confident model, ``T < 1`` sharpens an under-confident one; the top-1 label never
changes. ``T`` is fitted by minimising the negative log-likelihood on a labelled split that
the model did not train on (its validation split), and written into the model file's metadata
(``echostream.calibration``), where every backend applies it (:mod:`echostream.stream.backends`).

>>> rng = np.random.default_rng(0)
>>> logits = rng.normal(0, 2, (4000, 4))  # labels drawn from softmax(logits): calibrated
>>> labels = np.array([rng.choice(4, p=p) for p in softmax_rows(logits)])
>>> probs = softmax_rows(logits * 3.0)  # three times too confident
>>> 2.7 < fit_temperature(probs, labels) < 3.3
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The range a fitted temperature may take (beyond it the fit is reported as failed).
T_RANGE = (0.05, 20.0)


def softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def rescaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` as they would be with the logits divided by ``temperature`` (log-probabilities
    differ from the logits by a per-row constant, which the softmax removes)."""
    return softmax_rows(np.log(np.clip(probs, 1e-12, 1.0)) / temperature)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels."""
    p = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(-np.log(p).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises :func:`nll` of ``rescaled(probs, T)`` (bounded search
    over log T in :data:`T_RANGE`)."""
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels, dtype=np.int64)
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    res = minimize_scalar(
        lambda log_t: nll(rescaled(probs, float(np.exp(log_t))), labels),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it did on the split it was fitted on."""

    temperature: float
    split: str
    frames: int
    simulated_data: bool
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float

    def metadata(self) -> dict[str, Any]:
        """The ``echostream.calibration`` entry of the model file."""
        return {
            "temperature": round(self.temperature, 6),
            "method": "temperature scaling (NLL)",
            "fitted_on": {
                "split": self.split,
                "frames": self.frames,
                "simulated_data": self.simulated_data,
            },
            "ece_before": round(self.ece_before, 6),
            "ece_after": round(self.ece_after, 6),
        }


def calibrate(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    current: float = 1.0,
    split: str,
    simulated_data: bool,
    ece_bins: int = 15,
) -> Calibration:
    """Fit on ``probs`` (made with the model's ``current`` temperature) and return the new
    total temperature with the split's ECE and NLL before and after."""
    from .evaluate import expected_calibration_error

    factor = fit_temperature(probs, labels)
    after = rescaled(probs, factor)
    return Calibration(
        temperature=current * factor,
        split=split,
        frames=len(labels),
        simulated_data=simulated_data,
        ece_before=expected_calibration_error(labels, probs, ece_bins),
        ece_after=expected_calibration_error(labels, after, ece_bins),
        nll_before=nll(probs, labels),
        nll_after=nll(after, labels),
    )


def write_calibration(model_file: str | Path, calibration: Calibration) -> None:
    """Store ``calibration`` in the model file's metadata (the weights are not touched; the
    file is replaced atomically)."""
    import onnx

    from echostream.stream.atomic import atomic_path
    from echostream.stream.model_file import ModelInfo, load_onnx, write_metadata

    path = Path(model_file)
    model = load_onnx(path)
    info = ModelInfo.from_model_proto(model, path=path)
    low, high = T_RANGE
    if not low < calibration.temperature < high:
        raise ValueError(
            f"{path.name}: fitted temperature {calibration.temperature:.3g} is outside "
            f"{low}–{high}: the split does not calibrate this model"
        )
    write_metadata(model, info.with_(calibration=calibration.metadata()))
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
