"""``echostream experiment`` and ``echostream report`` (work imported inside the commands)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``experiment`` and ``report`` to the root app."""

    @app.command("experiment")
    def experiment(
        name: str = typer.Argument(
            ...,
            help="exp1 | exp2 | exp3 | exp4 | all (exp1-exp4, then the report) | labels (accuracy "
            "against labelled patients, by start), or a YAML file",
        ),
        data: Path = typer.Option(..., "--data", help="Dataset folder holding manifest.csv"),
        scale: str = typer.Option(
            "smoke", "--scale", help="tiny | smoke | cpu (~4 h on 2 cores) | gpu | full"
        ),
        seeds: int = typer.Option(None, "--seeds", help="Seeds per cell (default: the file's, 3)"),
        ray: str = typer.Option(None, "--ray", help="Ray cluster address: each run a Ray task"),
        out: Path = typer.Option(None, "--out", help="Runs root (default runs/experiments)"),
        configs: Path = typer.Option(Path("configs"), "--configs", help="Folder of exp*.yaml"),
        report: Path = typer.Option(
            Path("docs/reproduction.md"), "--report", help="With all: the report file"
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars"),
    ) -> None:
        """Run a thesis experiment's whole grid (cells × seeds), resumable: finished runs are
        skipped. `all` runs experiments 1-4 and writes the report. Example: echostream
        experiment all --data data/sim-smoke60 --scale cpu"""
        from .experiments.ray_backend import RayUnavailable
        from .experiments.run_all import run_all, run_experiment

        if seeds is not None and seeds < 1:
            typer.echo("error: --seeds must be at least 1", err=True)
            raise typer.Exit(2)
        try:
            if name == "all":
                failed = run_all(
                    data, scale, seeds=seeds, ray=ray, out=out, configs=configs,
                    report=report, progress=not no_progress, echo=typer.echo,
                )  # fmt: skip
            else:
                failed = run_experiment(
                    name, data, scale, seeds=seeds, ray=ray, out=out, configs=configs,
                    progress=not no_progress, echo=typer.echo,
                )  # fmt: skip
        except (FileNotFoundError, ValueError, RayUnavailable) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        for run_dir, msg in failed:
            typer.echo(f"failed: {run_dir}: {msg}", err=True)
        if failed:
            raise typer.Exit(1)

    @app.command("report")
    def report(
        runs: Path = typer.Option(Path("runs/experiments"), "--runs", help="Experiment runs root"),
        scale: str = typer.Option(None, "--scale", help="Which scale's runs (default: largest)"),
        out: Path = typer.Option(Path("docs/reproduction.md"), "--out", help="Report file"),
        export: bool = typer.Option(
            False, "--export", help="Also export each experiment's best run (ONNX + model card)"
        ),
    ) -> None:
        """Write the reproduction report (thesis tables 4.1/4.2/4.4/4.6 beside ours)."""
        from .experiments.report import find_experiments, write_report

        try:
            path = write_report(runs, out, scale=scale)
            if export:
                from .experiments.export_best import export_best

                for key, d in find_experiments(runs, scale).items():
                    onnx_path = export_best(d)
                    typer.echo(f"{key} best: {onnx_path} (+ MODEL_CARD.md)")
        except (FileNotFoundError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"report: {path}")
