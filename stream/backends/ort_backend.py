"""ONNX Runtime backend: the default; CPU threads configurable, CUDA provider when present.

>>> from echostream.stream.backends.ort_backend import OrtBackend
>>> b = OrtBackend().load("model.onnx", threads=2)   # doctest: +SKIP
>>> b.predict(batch).shape                           # doctest: +SKIP
(32, 8)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..model_file import ModelFileError, ModelInfo
from .base import Backend

#: onnxruntime session option: idle intra-op threads busy-wait ("1", the default) or sleep ("0").
SPIN_KEY = "session.intra_op.allow_spinning"


def is_available() -> tuple[bool, str]:
    try:
        import onnxruntime as ort
    except ImportError as err:
        return False, f"onnxruntime is not installed ({err}); pip install onnxruntime"
    return True, f"onnxruntime {ort.__version__}"


def describe() -> dict[str, Any]:
    ok, reason = is_available()
    if not ok:
        return {"available": False, "reason": reason}
    import onnxruntime as ort

    return {
        "available": True,
        "reason": reason,
        "version": ort.__version__,
        "providers": ort.get_available_providers(),
        "device": ort.get_device(),
    }


def default_providers() -> list[str]:
    """CUDA first where this onnxruntime build has it, always CPU last."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OrtBackend(Backend):
    """An ``onnxruntime.InferenceSession`` with full graph optimisation.

    ``InferenceSession.run`` may be called from several threads at once (onnxruntime's
    documented guarantee), so no lock is taken."""

    name = "onnxruntime"
    thread_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.session: Any = None
        self.providers: list[str] = []
        self.threads = 0
        self.spin: bool | None = None

    def load(
        self,
        model_file: str | Path,
        *,
        threads: int = 0,
        spin: bool | None = None,
        providers: list[str] | None = None,
        **_: Any,
    ) -> OrtBackend:
        """``threads``: intra-op threads (0 = onnxruntime's default, all cores). ``spin``: let
        idle intra-op threads busy-wait for the next run (``session.intra_op.allow_spinning``);
        ``False`` frees their core for decode/reader threads, ``None`` keeps onnxruntime's
        default (spinning on)."""
        import onnxruntime as ort

        path = Path(model_file)
        if not path.is_file():
            raise ModelFileError(path, "no such model file")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if spin is not None:
            opts.add_session_config_entry(SPIN_KEY, "1" if spin else "0")
        self.spin = spin
        self.threads = int(threads)
        try:
            self.session = ort.InferenceSession(
                str(path), opts, providers=providers or default_providers()
            )
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelFileError(path, f"onnxruntime cannot load it ({err})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        self.info = ModelInfo.from_metadata_props(
            meta, path=path, input_name=inputs[0].name, output_name=outputs[0].name
        )
        self.providers = self.session.get_providers()
        self.model_file = path
        return self

    def _run(self, batch: np.ndarray) -> np.ndarray:
        info = self._require_info()
        return self.session.run([info.output_name], {info.input_name: batch})[0]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "providers": self.providers,
            "threads": self.threads,
            "spin": self.spin,
        }

    def close(self) -> None:
        self.session = None


BACKEND = OrtBackend
