"""Commands of this package for the ``echostream`` CLI (imports nothing heavy at import time).

- ``echostream export CHECKPOINT --out model.onnx [--fp16] [--int8 --calibration DIR]``
- ``echostream engine build MODEL [--precision fp16|int8|fp32] [--max-batch 32]``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

engine_app = typer.Typer(
    help="TensorRT engines: build and cache ahead of time.", no_args_is_help=True
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def export_cmd(
    checkpoint: Path = typer.Argument(..., help="An echostream checkpoint (.pt)."),
    out: Path = typer.Option(..., "--out", "-o", help="The ONNX file to write."),
    fp16: bool = typer.Option(False, "--fp16", help="Also write an fp16 copy (fp32 I/O)."),
    int8: bool = typer.Option(False, "--int8", help="Also write a static int8 QDQ copy."),
    calibration: Path | None = typer.Option(
        None, "--calibration", help="For --int8: folder of DICOM/video/images, or an .npy array."
    ),
    calib_frames: int = typer.Option(256, "--calib-frames", help="Most calibration frames."),
    int8_for: str = typer.Option(
        "onnxruntime",
        "--int8-for",
        help="onnxruntime (asymmetric activations, fastest there) or tensorrt (symmetric).",
    ),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (≥ 17)."),
    model_version: str = typer.Option("", "--model-version", help="Version text to record."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export a checkpoint to a self-describing ONNX file and check it against torch."""
    if int8_for not in ("onnxruntime", "tensorrt"):
        _fail("--int8-for must be onnxruntime or tensorrt")
    if int8 and calibration is None:
        _fail("--int8 needs --calibration DIR (or an .npy array of preprocessed inputs)")
    from echostream.models.export import convert_fp16, export_checkpoint, verify_onnx

    try:
        model, info = export_checkpoint(checkpoint, out, opset=opset, model_version=model_version)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    check = verify_onnx(model, out)
    result: dict = {"fp32": {"path": str(out), **info.summary(), "torch_vs_onnxruntime": check}}
    if fp16:
        half, converter = convert_fp16(out, out.with_suffix(".fp16.onnx"))
        result["fp16"] = {"path": half.path, "converter": converter, **_agreement(out, half.path)}
    if int8:
        from echostream.models.quantize import load_calibration, quantize_int8

        assert calibration is not None
        try:
            calib = load_calibration(calibration, info, max_frames=calib_frames)
        except ValueError as err:
            _fail(str(err))
        q = quantize_int8(out, out.with_suffix(".int8.onnx"), calib, target=int8_for)
        result["int8"] = {
            "path": q.path,
            "target": int8_for,
            "calibration_frames": int(len(calib)),
            **_agreement(out, q.path, calib),
        }
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    sim = " (SIMULATED training data)" if info.simulated_data else ""
    typer.echo(f"wrote {out}: {info.model_name} {info.model_version}, input {info.input_size}{sim}")
    typer.echo(
        f"  torch vs onnxruntime: max |Δp| = {check['max_abs_diff']:.2e}, "
        f"top-1 agreement {check['top1_agreement']:.0%} on {check['batch']} random inputs"
    )
    for prec in ("fp16", "int8"):
        if prec in result:
            r = result[prec]
            typer.echo(
                f"wrote {r['path']}: {prec} vs fp32 max |Δp| = {r['max_abs_diff']:.2e}, "
                f"top-1 agreement {r['top1_agreement']:.0%}"
                + (f" ({r['converter']})" if "converter" in r else "")
            )


def _agreement(ref_path: Path | str, path: Path | str | None, x: Any = None) -> dict:
    """ONNX Runtime probabilities of ``path`` vs the fp32 file on ``x`` (or random inputs)."""
    import numpy as np

    from echostream.stream.backends.ort_backend import OrtBackend

    ref = OrtBackend().load(ref_path, threads=1)
    other = OrtBackend().load(str(path), threads=1)
    info = ref._require_info()
    if x is None:
        x = np.random.default_rng(0).standard_normal((16, *info.input_size)).astype("float32")
    x = x[:64]
    p_ref, p = ref.predict(x), other.predict(x)
    return {
        "max_abs_diff": float(np.abs(p_ref - p).max()),
        "top1_agreement": float((p_ref.argmax(1) == p.argmax(1)).mean()),
        "compared_on": int(len(x)),
    }


@engine_app.command("build")
def engine_build(
    model: Path = typer.Argument(..., help="An ONNX file from `echostream export`."),
    precision: str = typer.Option(
        "", "--precision", help="fp16 | int8 | fp32 (default: the file's own precision)."
    ),
    max_batch: int = typer.Option(32, "--max-batch", help="Largest batch of the profile."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Engine cache folder."),
) -> None:
    """Build (or reuse) the cached TensorRT engine for MODEL and warm it up."""
    from echostream.stream.backends import tensorrt as trt_backend
    from echostream.stream.model_file import ModelFileError, ModelInfo

    ok, reason = trt_backend.is_available()
    if not ok:
        _fail(reason)
    try:
        info = ModelInfo.from_onnx(model)
    except ModelFileError as err:
        _fail(str(err))
    target = model
    if precision and precision != info.precision:
        if precision == "fp16" and info.precision == "fp32":
            from echostream.models.export import convert_fp16

            target = model.with_suffix(".fp16.onnx")
            if not target.exists():
                _, converter = convert_fp16(model, target)
                typer.echo(f"wrote fp16 copy {target} ({converter})")
        else:
            _fail(
                f"{model} is {info.precision}; for {precision} pass that file "
                "(int8: `echostream export --int8 --int8-for tensorrt --calibration DIR`)"
            )
    backend = trt_backend.TensorRTBackend().load(target, max_batch=max_batch, cache_dir=cache_dir)
    backend.warmup(batch_sizes=(1, max_batch))
    state = "built" if backend.built else "reused (verified)"
    typer.echo(f"engine {state}: {backend.engine_path}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root app and its ``bench`` group."""
    app.command("export")(export_cmd)
    app.add_typer(engine_app, name="engine")
