"""``echostream experiment`` and ``echostream report`` (work imported inside the commands)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``experiment`` and ``report`` to the root app."""

    @app.command("experiment")
    def experiment(
        name: str = typer.Argument(..., help="exp2 | exp3 | exp4, or an experiment YAML file"),
        data: Path = typer.Option(..., "--data", help="Dataset folder holding manifest.csv"),
        scale: str = typer.Option(
            "smoke", "--scale", help="tiny | smoke | cpu (~3 h on 2 cores) | gpu | full"
        ),
        seeds: int = typer.Option(None, "--seeds", help="Seeds per cell (default: the file's, 3)"),
        ray: str = typer.Option(None, "--ray", help="Ray cluster address: each run a Ray task"),
        out: Path = typer.Option(None, "--out", help="Runs root (default runs/experiments)"),
        configs: Path = typer.Option(Path("configs"), "--configs", help="Folder of exp*.yaml"),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars"),
    ) -> None:
        """Run a thesis experiment's whole grid (cells × seeds), resumable: finished runs are
        skipped. Example: echostream experiment exp4 --data data/sim --scale smoke"""
        import json

        from .experiments.grid import (
            config_path,
            exp_dir,
            load_experiment,
            plan,
            run_grid,
            write_plan,
            write_summary,
        )
        from .experiments.ray_backend import RayUnavailable

        if seeds is not None and seeds < 1:
            typer.echo("error: --seeds must be at least 1", err=True)
            raise typer.Exit(2)
        try:
            if not (data / "manifest.csv").is_file():
                raise FileNotFoundError(f"{data}: no manifest.csv (make one: echostream simulate)")
            exp = load_experiment(config_path(name, configs), scale=scale, seeds=seeds)
            specs = plan(exp, data, out_root=out)
            root = exp_dir(exp, out)
            write_plan(exp, specs, root)
            typer.echo(
                f"{exp.name} at scale {scale}: {len(exp.cells)} cells x {exp.seeds} seeds "
                f"= {len(specs)} runs in {root}"
            )
            res = run_grid(specs, ray_address=ray, ray_resources=exp.ray, progress=not no_progress)
        except (FileNotFoundError, ValueError, RayUnavailable) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        write_summary(root)
        typer.echo(json.dumps({k: v for k, v in res.items() if k != "failed"}))
        for run_dir, msg in res["failed"]:
            typer.echo(f"failed: {run_dir}: {msg}", err=True)
        if res["failed"]:
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
