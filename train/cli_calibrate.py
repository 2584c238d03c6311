"""``echostream calibrate``: fit a model file's temperature on a labelled split and store it in
the file (work imported inside the command).

Example::

    echostream calibrate models/zoo/m.onnx --data data/sim --split val
"""

from __future__ import annotations

from pathlib import Path

import typer


def calibrate(
    model: Path = typer.Argument(..., help="The ONNX model file to calibrate (rewritten)."),
    data: Path = typer.Option(..., "--data", help="Dataset folder holding manifest.csv"),
    split: str = typer.Option(
        "val",
        "--split",
        help="The split to fit on: one the model did not train on (val; all for a folder of "
        "your own labelled files).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Fit and report; leave the file."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars"),
) -> None:
    """Temperature scaling: fit T on a split (the top-1 label never changes), print the split's
    calibration error before and after, and write T into the model file's metadata."""
    from .calibrate import calibrate as fit
    from .calibrate import write_calibration
    from .evaluate_onnx import predict_split

    if split not in ("train", "val", "test", "all"):
        typer.echo(f"error: --split must be train, val, test or all, not {split!r}", err=True)
        raise typer.Exit(2)
    try:
        run = predict_split(model, data, split=split, progress=not no_progress)
        if split != "all" and run.ckpt_path is None:
            raise ValueError(
                f"{model.name}: cannot tell which frames it trained on ({run.why_not}), so the "
                f"{split!r} split may hold training frames: keep its checkpoint beside it, or "
                "fit on a separate labelled folder with --split all"
            )
        result = fit(run.probs, run.labels, current=run.info.temperature, split=split,
                     simulated_data=run.prep.manifest.simulated)  # fmt: skip
        if not dry_run:
            write_calibration(model, result)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    kind = "simulated" if result.simulated_data else "real"
    typer.echo(
        f"{model.name}: temperature {result.temperature:.3f} fitted on {result.frames} frames "
        f"of the {split!r} split ({kind} data); expected calibration error "
        f"{result.ece_before:.4f} → {result.ece_after:.4f}, NLL {result.nll_before:.4f} → "
        f"{result.nll_after:.4f}" + (" (dry run: file unchanged)" if dry_run else "")
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``calibrate`` to the root app."""
    del bench
    app.command("calibrate")(calibrate)
