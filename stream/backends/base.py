"""The interface every inference backend implements.

A backend module defines ``is_available() -> (bool, reason)``, ``describe() -> dict`` (devices,
providers, versions) and ``BACKEND``, a :class:`Backend` subclass::

    backend = BACKEND().load("model.onnx", threads=2)
    backend.warmup()
    probs = backend.predict(batch)   # (B, C, H, W) float32 → (B, num_classes) probabilities

Softmax is applied exactly once, here in the backend, when the model file says its output is
``"logits"`` (every file ``echostream export`` writes).

One loaded backend may be shared by threads (the demo serves concurrent requests with one
engine per model). A backend whose run is not re-entrant (a TensorRT execution context, torch
CUDA-graph buffers) sets ``thread_safe = False`` and its runs take turns on a lock; ONNX Runtime
sessions run concurrently.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from ..model_file import ModelInfo


def probabilities(out: np.ndarray, info: ModelInfo) -> np.ndarray:
    """A model file's raw output ``(B, K)`` as probabilities, after its temperature."""
    if info.output == "logits":
        return softmax(out / info.temperature if info.temperature != 1.0 else out)
    if info.temperature != 1.0:  # probabilities: their logs are the logits up to a constant
        return softmax(np.log(np.maximum(out, 1e-12)) / info.temperature)
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits: ``(B, K)`` → ``(B, K)`` float32."""
    z = logits.astype(np.float32, copy=False)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class Backend(ABC):
    """Load a model file once, then classify batches of preprocessed frames."""

    name: str = "base"
    #: False when concurrent ``_run`` calls would share state (buffers, an execution context).
    thread_safe: bool = True

    def __init__(self) -> None:
        self.info: ModelInfo | None = None
        self.model_file: Path | None = None
        self._lock = threading.Lock()

    def _turn(self) -> AbstractContextManager[object]:
        """The lock around one run where runs are not re-entrant, else nothing."""
        return nullcontext() if self.thread_safe else self._lock

    @abstractmethod
    def load(self, model_file: str | Path, **opts: Any) -> Backend:
        """Load ``model_file`` (options are backend specific); returns ``self``."""

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Raw model output for a checked ``(B, C, H, W)`` float32 batch: ``(B, K)``."""

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(B, num_classes)`` float32 for a ``(B, C, H, W)`` batch."""
        info = self._require_info()
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(info.input_size):
            raise ValueError(
                f"{self.name}: batch must be (B, {', '.join(map(str, info.input_size))}), "
                f"got {tuple(batch.shape)}"
            )
        if batch.shape[0] == 0:
            return np.empty((0, info.num_classes), dtype=np.float32)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._turn():
            out = np.asarray(self._run(batch), dtype=np.float32)
        return probabilities(out, info)

    def warmup(self, batch_sizes: tuple[int, ...] = (1,), iterations: int = 2) -> None:
        """Run zeros through the model so the first real frame pays no set-up cost."""
        info = self._require_info()
        for b in batch_sizes:
            x = np.zeros((b, *info.input_size), dtype=np.float32)
            for _ in range(iterations):
                self.predict(x)

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release sessions, engines and device memory."""

    def describe(self) -> dict[str, Any]:
        """What this loaded backend runs on (device, providers, precision)."""
        info = self._require_info()
        return {"backend": self.name, "model": info.model_name, "precision": info.precision}

    def _require_info(self) -> ModelInfo:
        if self.info is None:
            raise RuntimeError(f"{self.name}: call load(model_file) first")
        return self.info

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
