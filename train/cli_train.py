"""``echostream train`` and ``echostream evaluate`` (work imported inside the commands)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from .config import RunConfig


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``train`` and ``evaluate`` to the root app."""

    @app.command("train")
    def train(
        config: Path = typer.Argument(
            ..., help="YAML config, e.g. configs/exp1_baseline_adam.yaml"
        ),
        data: Path = typer.Option(
            ..., "--data", help="Dataset folder holding manifest.csv (echostream import writes one)"
        ),
        scale: str = typer.Option(None, "--scale", help="A scale from the config: smoke | full"),
        out: Path = typer.Option(None, "--out", help="Run folder (default runs/<name>-<scale>)"),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out"),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars"),
        init: str = typer.Option(
            None,
            "--init",
            help="Start from: default (the shipped model) | a checkpoint .pt | an exported "
            ".onnx (its checkpoint) | imagenet | random; replaces the config's model section",
        ),
    ) -> None:
        """Train a model as the config says; under torchrun it trains with DDP."""
        from .runner import train_main

        try:
            run_config: Path | RunConfig = config
            if init:
                from .config import load_config
                from .init_weights import apply_init

                run_config, label = apply_init(load_config(config, scale=scale), init)
                typer.echo(f"init: {label}")
            run_dir = train_main(
                run_config, data, scale=scale, out=out, resume=resume, progress=not no_progress
            )
        except (FileNotFoundError, FileExistsError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"run folder: {run_dir}")

    @app.command("evaluate")
    def evaluate(
        target: Path = typer.Argument(
            ..., help="A run folder (its final.pt), a checkpoint .pt or an ONNX model file"
        ),
        data: Path = typer.Option(..., "--data", help="Dataset folder holding manifest.csv"),
        split: str = typer.Option(
            None,
            "--split",
            help="train | val | test | all (default: test; all for a labels.csv folder)",
        ),
        out: Path = typer.Option(None, "--out", help="Report folder (default: next to the model)"),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars"),
        backend: str = typer.Option(
            "onnxruntime", "--backend", help="For ONNX files: onnxruntime | tensorrt | auto"
        ),
        threads: int = typer.Option(
            0, "--threads", help="For ONNX files: inference threads (0 = all cores)"
        ),
    ) -> None:
        """Write report.md, metrics.json, items.csv and plots for a trained model on a data
        split, or on a folder of your own labelled files (labels.csv: file, view)."""
        if split is None:
            from .manifest import LABELS_NAME, manifest_path

            split = "all" if manifest_path(data).name == LABELS_NAME else "test"
        if split not in ("train", "val", "test", "all"):
            typer.echo(f"error: --split must be train, val, test or all, not {split!r}", err=True)
            raise typer.Exit(2)
        try:
            if target.suffix.lower() == ".onnx":
                from .evaluate_onnx import evaluate_onnx

                evaluate_onnx(
                    target,
                    data,
                    split=split,
                    out=out,
                    backend=backend,
                    threads=threads,
                    progress=not no_progress,
                )
            else:
                from .runner import evaluate_main

                evaluate_main(target, data, split=split, out=out, progress=not no_progress)
        except (FileNotFoundError, ValueError, RuntimeError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
