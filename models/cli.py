"""Commands of this package for the ``echostream`` CLI (imports nothing heavy at import time).

- ``echostream export CHECKPOINT --out model.onnx [--fp16] [--int8 --calibration DIR]``
- ``echostream engine build MODEL [--precision fp16|int8|fp32] [--max-batch 32]``
- ``echostream model-card MODEL.onnx --metrics METRICS.json --train-data DIR --test-data DIR``
- ``echostream ensemble A.onnx B.onnx [C.onnx …] --out ens.onnx``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from echostream.stream.extras import ExtrasGroup

engine_app = typer.Typer(
    cls=ExtrasGroup,
    help="TensorRT engines: build and cache ahead of time.",
    no_args_is_help=True,
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


def _derived_commands(model: Path, doc: dict, train_data: Path, test_data: Path):
    """(train+export, evaluate) commands rebuilt from the metadata, the checkpoint beside the
    file and metrics.json, each headed by a comment saying so."""
    from echostream.stream.model_file import ModelInfo

    info = ModelInfo.from_onnx(model)
    evaluated = model.parent / str(doc.get("model file", model.name))
    eval_cmd = [
        "# rebuilt from metrics.json (evaluated file and split)",
        f"echostream evaluate {evaluated} --data {test_data} --split {doc.get('split', 'test')}",
    ]
    ckpt_path = (model.parent / info.checkpoint) if info.checkpoint else None
    if ckpt_path is None or not ckpt_path.is_file():
        return ["# not recorded: pass --train-command with the exact commands"], eval_cmd
    from echostream.models.checkpoint import read_checkpoint

    config = read_checkpoint(ckpt_path).get("config") or {}
    train = ["# rebuilt from the checkpoint's config; pass --train-command to record the exact one"]
    if config.get("name"):
        scale = f" --scale {config['scale']}" if config.get("scale") else ""
        train.append(
            f"echostream train configs/{config['name']}.yaml --data {train_data}{scale} "
            f"--out {ckpt_path.parent}"
        )
    export = f"echostream export {ckpt_path} --out {model_base_onnx(model)}"
    int8 = model_base_onnx(model).with_name(model_base_onnx(model).stem + ".int8.onnx")
    if int8.is_file():
        extra = ModelInfo.from_onnx(int8).extra
        export += (
            f" --int8 --int8-for {extra.get('int8_target', 'onnxruntime')}"
            f" --calib-frames {extra.get('calibration_frames', 256)}"
            " --calibration DIR  # calibration folder not recorded in the file"
        )
    return [*train, export], eval_cmd


def model_base_onnx(model: Path) -> Path:
    from .card import model_base

    base = model_base(model)
    return base.with_name(base.name + ".onnx")


def model_card_cmd(
    model: Path = typer.Argument(..., help="An ONNX file from `echostream export`."),
    metrics: Path = typer.Option(..., "--metrics", help="metrics.json of `echostream evaluate`."),
    train_data: Path = typer.Option(..., "--train-data", help="Training dataset (manifest)."),
    test_data: Path = typer.Option(..., "--test-data", help="Test dataset (manifest)."),
    train_command: list[str] = typer.Option(
        None, "--train-command", help="Exact training/export command (repeat for several)."
    ),
    eval_command: list[str] = typer.Option(
        None, "--eval-command", help="Exact evaluation command (repeat for several)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Card path (default <model>.md)."),
    real_eval: list[Path] = typer.Option(
        None,
        "--real-eval",
        help="Report folder of `evaluate MODEL --data REAL_FOLDER` (real labelled files); "
        "repeat for several.",
    ),
) -> None:
    """Write a markdown model card from the model file, manifests and metrics.json."""
    from echostream.stream.model_file import ModelFileError

    from .card import write_model_card

    try:
        doc = json.loads(metrics.read_text())
        derived = _derived_commands(model, doc, train_data, test_data)
        path = write_model_card(
            model,
            metrics,
            train_manifest=train_data,
            test_manifest=test_data,
            train_command=train_command or derived[0],
            eval_command=eval_command or derived[1],
            out=out,
            real_evals=real_eval or (),
        )
    except (ModelFileError, FileNotFoundError, KeyError) as err:
        _fail(f"{err}")
    except ValueError as err:  # json errors, unreadable manifests or checkpoints
        _fail(f"{metrics if isinstance(err, json.JSONDecodeError) else ''} {err}".strip())
    typer.echo(f"wrote {path}")


def ensemble_cmd(
    members: list[Path] = typer.Argument(..., help="Two or more exported model files."),
    out: Path = typer.Option(..., "--out", "-o", help="The ensemble ONNX file to write."),
    model_version: str = typer.Option("", "--model-version", help="Version text to record."),
) -> None:
    """One model file that averages the members' probabilities (same views and input)."""
    from echostream.models.ensemble import ensemble_onnx
    from echostream.stream.model_file import ModelFileError

    missing = [m for m in members if not m.is_file()]
    if missing:
        _fail(f"{missing[0].name}: no such model file")
    try:
        info = ensemble_onnx(members, out, model_version=model_version)
    except (ModelFileError, ValueError) as err:
        _fail(str(err))
    typer.echo(f"wrote {out}: {info.model_name}, input {list(info.input_size)}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root app and its ``bench`` group."""
    app.command("export")(export_cmd)
    app.command("model-card")(model_card_cmd)
    app.command("ensemble")(ensemble_cmd)
    app.add_typer(engine_app, name="engine")
