"""Inference backends (ONNX Runtime, TensorRT, torch), looked up by name and imported lazily.

Each entry of :data:`BACKENDS` is a module path (pydicom's pixel-decoder plugin pattern); the
module is imported only when that backend is asked about, so ``import echostream.stream`` never
imports onnxruntime, tensorrt or torch.

>>> from echostream.stream.backends import load_backend
>>> backend = load_backend("model.onnx", "auto")   # doctest: +SKIP
>>> probs = backend.predict(batch)                 # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Backend

#: name → module path; each module has ``is_available()``, ``describe()`` and ``BACKEND``.
BACKENDS: dict[str, str] = {
    "onnxruntime": "echostream.stream.backends.ort_backend",
    "tensorrt": "echostream.stream.backends.tensorrt",
    "torch": "echostream.stream.backends.torch_backend",
}
CHOICES = ("auto", *BACKENDS)


def backend_module(name: str) -> ModuleType:
    """The plugin module of backend ``name``."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(CHOICES)}")
    return importlib.import_module(BACKENDS[name])


def is_available(name: str) -> tuple[bool, str]:
    """(available, reason) for one backend, without loading a model."""
    try:
        module = backend_module(name)
    except ImportError as err:  # the plugin module itself failed to import
        return False, f"cannot import {BACKENDS[name]}: {err}"
    ok, reason = module.is_available()
    return bool(ok), str(reason)


def available_backends() -> dict[str, tuple[bool, str]]:
    """(available, reason) for every backend."""
    return {name: is_available(name) for name in BACKENDS}


def resolve(name: str = "auto", model_file: str | Path | None = None) -> str:
    """The backend ``name`` stands for: ``"auto"`` is tensorrt where it is installed and a GPU
    is present, else onnxruntime. Raises RuntimeError naming the reason if it is unavailable."""
    if name == "auto":
        if model_file is not None and str(model_file).endswith((".pt", ".pth")):
            return "torch"  # a checkpoint runs only on the torch backend
        ok, _ = is_available("tensorrt")
        return "tensorrt" if ok else "onnxruntime"
    ok, reason = is_available(name)
    if not ok:
        raise RuntimeError(f"backend {name!r} is not available: {reason}")
    return name


def get_backend(name: str = "auto") -> Backend:
    """A new, unloaded backend instance (``auto`` resolved as in :func:`resolve`)."""
    resolved = resolve(name)
    return backend_module(resolved).BACKEND()


def load_backend(model_file: str | Path, name: str = "auto", **opts: Any) -> Backend:
    """Resolve ``name``, load ``model_file`` with ``opts``; returns the loaded backend."""
    resolved = resolve(name, model_file)
    return backend_module(resolved).BACKEND().load(model_file, **opts)


__all__ = [
    "BACKENDS",
    "CHOICES",
    "available_backends",
    "backend_module",
    "get_backend",
    "is_available",
    "load_backend",
    "resolve",
]
