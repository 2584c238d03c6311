"""Export a checkpoint to a self-describing ONNX file (and its fp16 copy).

The file has a dynamic batch axis, opset ≥ 17, its weights inside (no external data), the
``echostream.*`` metadata of :mod:`echostream.stream.model_file`, and passes ``onnx.checker``.
The graph outputs logits; backends apply softmax once.

>>> from echostream.models.export import export_checkpoint, verify_onnx
>>> info = export_checkpoint("ckpt.pt", "model.onnx")        # doctest: +SKIP
>>> verify_onnx(model, "model.onnx")["max_abs_diff"] < 1e-4  # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from echostream.stream.atomic import atomic_path
from echostream.stream.model_file import (
    ModelInfo,
    file_sha256,
    load_onnx,
    weights_sha256,
    write_metadata,
)

from .checkpoint import load_checkpoint
from .registry import ModelCfg

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
MIN_OPSET = 17


def model_info_from_cfg(
    cfg: ModelCfg,
    *,
    model_name: str,
    provenance: dict[str, Any],
    precision: str = "fp32",
    model_version: str = "",
    checkpoint: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ModelInfo:
    """The metadata for a model with ``cfg`` (weights hash filled in when the file is written)."""
    return ModelInfo(
        model_name=model_name,
        labels=tuple(cfg.labels),
        input_size=tuple(cfg.input_size),
        mean=tuple(float(m) for m in cfg.mean),
        std=tuple(float(s) for s in cfg.std),
        interpolation=cfg.interpolation,
        resize=str(cfg.extra.get("resize", "stretch")),
        crop=cfg.crop,
        output="logits",
        precision=precision,
        model_version=model_version,
        provenance=dict(provenance),
        checkpoint=checkpoint,
        extra=dict(extra or {}),
    )


def save_onnx(model: onnx.ModelProto, info: ModelInfo, out: str | Path) -> ModelInfo:
    """Stamp the weights hash and metadata into ``model``, check it, write it atomically."""
    info = info.with_(weights_sha256=weights_sha256(model))
    if not info.model_version:
        info = info.with_(model_version=info.weights_sha256[:12])
    write_metadata(model, info)
    onnx.checker.check_model(model, full_check=False)
    out = Path(out)
    with atomic_path(out) as tmp:
        onnx.save_model(model, str(tmp), save_as_external_data=False)
    return ModelInfo.from_model_proto(model, path=out)


def torch_to_onnx(
    model: nn.Module, input_size: tuple[int, ...], opset: int = 17
) -> onnx.ModelProto:
    """Export ``model`` (put in eval mode) with a dynamic batch axis, weights inline."""
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be ≥ {MIN_OPSET}, got {opset}")
    model = model.eval().cpu()
    example = torch.randn(2, *input_size)  # batch 2: torch.export specialises sizes 0 and 1
    batch = torch.export.Dim("batch", min=1, max=4096)
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        with torch.inference_mode(False), torch.no_grad():
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    # Name the batch dimension the same on input and output, whatever the exporter chose.
    for value in (proto.graph.input[0], proto.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto


def _cfg_of(model: nn.Module) -> ModelCfg:
    cfg = getattr(model, "cfg", None)
    if not isinstance(cfg, ModelCfg):
        raise TypeError(f"{type(model).__name__} has no ModelCfg (models from create_model do)")
    return cfg


def export_model(
    model: nn.Module,
    out: str | Path,
    *,
    model_name: str,
    provenance: dict[str, Any],
    cfg: ModelCfg | None = None,
    opset: int = 17,
    model_version: str = "",
    checkpoint: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ModelInfo:
    """Export any registered model (its ``cfg`` describes the input) to ``out``."""
    cfg = cfg or _cfg_of(model)
    proto = torch_to_onnx(model, tuple(cfg.input_size), opset=opset)
    opset_used = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    info = model_info_from_cfg(
        cfg,
        model_name=model_name,
        provenance=provenance,
        model_version=model_version,
        checkpoint=checkpoint,
        extra={
            "opset": opset_used,
            "exporter": f"torch {torch.__version__} dynamo",
            **(extra or {}),
        },
    )
    return save_onnx(proto, info, out)


def export_checkpoint(
    checkpoint: str | Path, out: str | Path, *, opset: int = 17, model_version: str = ""
) -> tuple[nn.Module, ModelInfo]:
    """Export an echostream checkpoint; the ONNX file records the checkpoint's relative path."""
    model, ckpt = load_checkpoint(checkpoint)
    ckpt_path = Path(checkpoint).resolve()
    rel = os.path.relpath(ckpt_path, Path(out).resolve().parent)
    info = export_model(
        model,
        out,
        model_name=ckpt["model_name"],
        provenance=ckpt["provenance"],
        cfg=_cfg_of(model),
        opset=opset,
        model_version=model_version or str(ckpt.get("extra", {}).get("model_version", "")),
        checkpoint=rel,
        extra={
            "checkpoint_sha256": file_sha256(ckpt_path),
            "model_kwargs": ckpt["model_kwargs"],
            "epoch": ckpt["epoch"],
        },
    )
    return model, info


def convert_fp16(src: str | Path, dst: str | Path) -> tuple[ModelInfo, str]:
    """An fp16 copy of ``src`` with fp32 inputs/outputs; returns (info, converter name).

    Uses onnxconverter-common's float16 converter (``keep_io_types=True``), else the copy of
    it that ships in onnxruntime (``onnxruntime.transformers.float16``).
    """
    model = load_onnx(src)
    info = ModelInfo.from_model_proto(model, path=src)
    if info.precision != "fp32":
        raise ValueError(f"{src}: fp16 conversion needs an fp32 file, this one is {info.precision}")
    try:
        from onnxconverter_common import float16

        converter = "onnxconverter-common float16"
    except ImportError:
        from onnxruntime.transformers import float16

        converter = "onnxruntime.transformers float16"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        half = float16.convert_float_to_float16(model, keep_io_types=True)
    clamped = sum("truncated" in str(w.message) for w in caught)
    extra = {
        **info.extra,
        "converter": converter,
        "fp16_clamped_values": clamped,  # weights beyond fp16 range/precision, clamped
        "parent_weights_sha256": info.weights_sha256,
    }
    new = save_onnx(half, info.with_(precision="fp16", extra=extra), dst)
    return new, converter


def verify_onnx(
    model: nn.Module, onnx_path: str | Path, *, batch: int = 4, seed: int = 0
) -> dict[str, Any]:
    """Run torch and ONNX Runtime on the same random input; compare softmax probabilities."""
    import onnxruntime as ort

    from echostream.stream.backends.base import softmax

    info = ModelInfo.from_onnx(onnx_path, verify=True)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *info.input_size)).astype(np.float32)
    with torch.no_grad():
        ref = softmax(model.eval().cpu()(torch.from_numpy(x)).numpy())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    got = softmax(sess.run(None, {info.input_name: x})[0])
    return {
        "batch": batch,
        "max_abs_diff": float(np.abs(ref - got).max()),
        "top1_agreement": float((ref.argmax(1) == got.argmax(1)).mean()),
    }
