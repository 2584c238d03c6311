"""Which precision copy of a model runs (``--precision``, ``backend.precision``).

``auto`` (the default): ONNX Runtime on the CPU runs the model's static int8 copy
(``X.int8.onnx`` beside ``X.onnx``, quantized from the same weights) when there is one; anything
else runs the file given. The measurements behind that rule (speed, accuracy on simulated test
data, x86 CPUs with and without VNNI) are in the README's "The shipped default model".
``fp32`` / ``fp16`` / ``int8`` pick that copy, or fail naming the missing file.

>>> choose_model_file(Path("zoo/m.onnx"), "auto")       # doctest: +SKIP
(PosixPath('zoo/m.int8.onnx'), 'int8 copy on CPU ONNX Runtime (--precision auto; ...)')
"""

from __future__ import annotations

from pathlib import Path

from .model_file import PRECISIONS, ModelFileError, ModelInfo, precision_sibling

PRECISION_CHOICES = ("auto", *PRECISIONS)
PRECISION_HELP = (
    "auto (the model's int8 copy on CPU ONNX Runtime, else the file given) | fp32 | fp16 | int8"
)


def _runs_on_cpu_ort(backend: str, model: Path) -> bool:
    from .backends import resolve

    try:
        if resolve(backend, model) != "onnxruntime":
            return False
        from .backends.ort_backend import default_providers

        return default_providers()[0] == "CPUExecutionProvider"
    except (RuntimeError, ImportError):
        return False


def choose_model_file(model: Path, backend: str, precision: str = "auto") -> tuple[Path, str]:
    """(the file to load, why) for ``model`` on ``backend`` (a name or ``auto``).

    An explicit precision takes ``model`` when the name says it is that precision, else its
    sibling; raises :class:`ModelFileError` when that file does not exist. ``auto`` takes the
    int8 sibling only for CPU ONNX Runtime and only when it was quantized from this file's
    weights (a stale copy from an older model is ignored, and the reason says so).
    """
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}")
    if precision != "auto":
        path = precision_sibling(model, precision)
        if not path.is_file():
            raise ModelFileError(path, f"no {precision} copy of {model.name} (export one)")
        found = ModelInfo.from_onnx(path).precision
        if found != precision:
            raise ModelFileError(path, f"is {found}, not {precision}")
        return path, f"{precision} (--precision {precision})"
    int8 = precision_sibling(model, "int8")
    if int8 == model or not int8.is_file() or not _runs_on_cpu_ort(backend, model):
        return model, "the file given (--precision auto: no int8 copy for this backend)"
    info, q = ModelInfo.from_onnx(model), ModelInfo.from_onnx(int8)
    if info.precision != "fp32" or q.extra.get("parent_weights_sha256") != info.weights_sha256:
        return model, f"the file given (--precision auto: {int8.name} is not from these weights)"
    return int8, "int8 copy on CPU ONNX Runtime (--precision auto; fp32: --precision fp32)"
