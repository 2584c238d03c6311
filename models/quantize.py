"""Static int8 QDQ quantization with ONNX Runtime, and the calibration frames it needs.

Static (not dynamic) quantization: dynamic quantization was measured slower for these CNNs.
Weights are symmetric per-channel int8 in a 7-bit range, [-64, 64] (``reduce_range``), so the
int8 model computes the same on every x86 CPU (:data:`SAFE_WEIGHT_MAX`). Activations depend on
the target:

- ``target="onnxruntime"`` (default): asymmetric int8 activations (zero point ≠ 0). Measured
  for the baseline with ONNX Runtime 1.30 on a 16-core host: 2.0–2.2× the fp32 speed on one
  thread, 1.5–1.8× on all cores; symmetric activations gave only 1.4–1.6× on one thread and
  were slower than fp32 on all cores.
- ``target="tensorrt"``: symmetric activations (zero point 0), which TensorRT's explicit
  quantization requires; this file builds a strongly typed int8 engine on TensorRT 10 and 11.

>>> calib = load_calibration("frames/", info)                       # doctest: +SKIP
>>> info8 = quantize_int8("model.onnx", "model.int8.onnx", calib)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from echostream.stream.model_file import ModelInfo, load_onnx
from echostream.stream.preprocess import Preprocessor

from .export import save_onnx

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def load_calibration(
    path: str | Path, info: ModelInfo, *, max_frames: int = 256, per_source: int = 16
) -> np.ndarray:
    """Preprocessed calibration inputs ``(N, C, H, W)`` float32.

    ``path`` is an ``.npy`` array already preprocessed for this model, or a folder of DICOM
    cines, videos and images; each source gives at most ``per_source`` evenly spaced frames,
    run through the model's own :class:`Preprocessor`.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such calibration file or folder")
    if p.suffix == ".npy":
        arr = np.load(p).astype(np.float32)
        if arr.ndim != 4 or tuple(arr.shape[1:]) != tuple(info.input_size):
            raise ValueError(
                f"{p}: calibration array must be (N, {', '.join(map(str, info.input_size))}), "
                f"got {arr.shape}"
            )
        return arr[:max_frames]
    if not p.is_dir():
        raise ValueError(f"{p}: calibration must be a folder of frames/cines or an .npy array")
    pre = Preprocessor.from_model_info(info)
    inputs: list[np.ndarray] = []
    files = sorted(
        f
        for f in p.rglob("*")
        if f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(p).parts)
        and f.suffix.lower() not in {".csv", ".json", ".md", ".txt", ".yaml"}
    )
    for f in files:
        if len(inputs) >= max_frames:
            break
        try:
            inputs.extend(_frames_of(f, pre, per_source))
        except Exception as err:  # one unreadable file must not stop calibration
            log.warning("calibration: skipping %s (%s)", f.name, err)
    if not inputs:
        raise ValueError(f"{p}: no readable calibration frames found")
    return np.stack(inputs[:max_frames])


def _frames_of(path: Path, pre: Preprocessor, per_source: int) -> list[np.ndarray]:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        from PIL import Image

        with Image.open(path) as im:
            return [pre(np.asarray(im.convert("RGB")))]
    from echostream.stream.sources import open_source

    with open_source(path, luminance=pre.luminance, target_size=pre.target_size) as src:
        n = src.info.n_frames or per_source
        step = max(1, n // per_source)
        return [pre(fr) for fr in src if fr.index % step == 0][:per_source]


class _Reader:
    """``onnxruntime.quantization.CalibrationDataReader`` over an array, a few frames a call."""

    def __init__(self, input_name: str, data: np.ndarray, batch: int = 8) -> None:
        self.input_name, self.data, self.batch = input_name, data, batch
        self._it: Iterator[dict[str, np.ndarray]] = self._gen()

    def _gen(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(0, len(self.data), self.batch):
            yield {self.input_name: self.data[i : i + self.batch]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = self._gen()


INT8_TARGETS = ("onnxruntime", "tensorrt")

#: Largest |weight integer| of a Conv/Gemm/MatMul that cannot saturate ONNX Runtime's u8s8
#: kernels on x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake, AMD before Zen 4).
#: There, ``vpmaddubsw`` multiplies unsigned 8-bit activations ``a`` (0…255; signed int8
#: activations are shifted to uint8 first) by signed 8-bit weights ``w`` and adds each adjacent
#: pair into a *saturating* int16: |a1·w1 + a2·w2| ≤ 2·255·max|w|, which fits in 32767 only for
#: max|w| ≤ 64 (2·255·64 = 32640; with full-range weights 2·255·127 = 64770 is clamped). VNNI's
#: ``vpdpbusd`` accumulates in int32 and never saturates, so the damage shows only on the older
#: CPUs (seen on an AMD EPYC; reproduced under QEMU's Haswell model by
#: ``scripts/check_int8_avx2.py`` and the tests). 7-bit weights (``reduce_range=True``) are ONNX
#: Runtime's documented remedy ("When to use reduce-range and per-channel quantization?"); they
#: cost the baseline no speed and no accuracy on simulated test data (README).
SAFE_WEIGHT_MAX = 64


def weight_int_range(model: onnx.ModelProto) -> tuple[int, int]:
    """(min, max) of the quantized weight integers feeding Conv/Gemm/MatMul in a QDQ graph
    (the raw stored values, which are what the int8 kernels multiply)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    lo, hi = 0, 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
            continue
        dq = producer.get(node.input[1])
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits:
            continue
        q = numpy_helper.to_array(inits[dq.input[0]])
        lo, hi = min(lo, int(q.min())), max(hi, int(q.max()))
    return lo, hi


def quantize_int8(
    src: str | Path,
    dst: str | Path,
    calibration: np.ndarray,
    *,
    target: str = "onnxruntime",
    **options: Any,
) -> ModelInfo:
    """Static QDQ int8 copy of the fp32 file ``src``, same metadata with ``precision="int8"``;
    ``target`` picks the activation scheme (see the module docstring)."""
    if target not in INT8_TARGETS:
        raise ValueError(f"int8 target must be one of {INT8_TARGETS}, got {target!r}")
    symmetric = target == "tensorrt"
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    info = ModelInfo.from_onnx(src)
    if info.precision != "fp32":
        raise ValueError(
            f"{src}: int8 quantization needs an fp32 file, this one is {info.precision}"
        )
    if len(calibration) == 0:
        raise ValueError("no calibration frames")
    reader = _Reader(info.input_name, np.ascontiguousarray(calibration, dtype=np.float32))
    with tempfile.TemporaryDirectory(prefix="echostream-q-") as tmp:
        prepped = Path(tmp) / "prep.onnx"
        quantized = Path(tmp) / "int8.onnx"
        quant_pre_process(str(src), str(prepped), skip_symbolic_shape=True)
        quantize_static(
            str(prepped),
            str(quantized),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,  # 7-bit weights: see SAFE_WEIGHT_MAX
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=options.pop("calibrate_method", CalibrationMethod.MinMax),
            extra_options={
                "ActivationSymmetric": symmetric,
                "WeightSymmetric": True,
                **options,
            },
        )
        model = load_onnx(quantized)
    lo, hi = weight_int_range(model)
    if max(-lo, hi) > SAFE_WEIGHT_MAX:  # an onnxruntime change must not ship saturating files
        raise RuntimeError(f"int8 weights span [{lo}, {hi}], beyond ±{SAFE_WEIGHT_MAX}")
    extra = {
        **info.extra,
        "quantization": "onnxruntime static QDQ, int8 per-channel 7-bit weights, MinMax",
        "weight_int_range": [lo, hi],
        "int8_target": target,
        "activation_symmetric": symmetric,
        "calibration_frames": int(len(calibration)),
        "parent_weights_sha256": info.weights_sha256,
    }
    return save_onnx(model, info.with_(precision="int8", extra=extra), dst)
