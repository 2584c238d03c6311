"""Run one thesis experiment's grid, or all four experiments and the report in one go.

``echostream experiment all --data DIR --scale cpu`` is the documented way to regenerate
``docs/reproduction.md``: the grids of experiments 1–4 under the runs root (experiment 1: the
three baseline training configs of Table 4.1 × seeds), then :func:`~.report.write_report`.
Every step is resumable: a finished run (``DONE``) is skipped.

Example::

    failures = run_all("data/sim-smoke60", "cpu", echo=print)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

GRIDS = ("exp1", "exp2", "exp3", "exp4")
DEFAULT_RUNS = Path("runs/experiments")


def run_experiment(
    name: str,
    data: str | Path,
    scale: str,
    *,
    seeds: int | None = None,
    ray: str | None = None,
    out: str | Path | None = None,
    configs: str | Path = "configs",
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> list[tuple[str, str]]:
    """Run experiment ``name``'s grid (exp1 … exp4, labels or a YAML file); returns the failed
    runs as (run folder, one-line error). Raises ValueError / FileNotFoundError on a bad
    experiment file or data folder before anything runs."""
    from .grid import (
        config_path,
        exp_dir,
        experiment_module,
        load_experiment,
        plan,
        run_grid,
        write_plan,
        write_summary,
    )

    _check_data(data)
    exp = load_experiment(config_path(name, configs), scale=scale, seeds=seeds)
    specs = plan(exp, data, out_root=out)
    root = exp_dir(exp, out)
    write_plan(exp, specs, root)
    echo(
        f"{exp.name} at scale {scale}: {len(exp.cells)} cells x {exp.seeds} seeds "
        f"= {len(specs)} runs in {root}"
    )
    res = run_grid(specs, ray_address=ray, ray_resources=exp.ray, progress=progress)
    summary = write_summary(root)
    outputs = getattr(experiment_module(exp.key), "write_outputs", None)
    if outputs is not None and summary:
        for path in outputs(root, summary):
            echo(f"wrote {path}")
    echo(json.dumps({k: v for k, v in res.items() if k != "failed"}))
    return [(str(d), msg) for d, msg in res["failed"]]


def run_all(
    data: str | Path,
    scale: str,
    *,
    seeds: int | None = None,
    ray: str | None = None,
    out: str | Path | None = None,
    configs: str | Path = "configs",
    report: str | Path = "docs/reproduction.md",
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> list[tuple[str, str]]:
    """Experiments 1–4 at ``scale``, then the report; returns every failed run."""
    from .report import write_report

    _check_data(data)
    runs_root = Path(out) if out else DEFAULT_RUNS
    failed: list[tuple[str, str]] = []
    for key in GRIDS:
        failed += run_experiment(
            key,
            data,
            scale,
            seeds=seeds,
            ray=ray,
            out=runs_root,
            configs=configs,
            progress=progress,
            echo=echo,
        )
    echo(f"report: {write_report(runs_root, report, scale=scale)}")
    return failed


def _check_data(data: str | Path) -> None:
    if not (Path(data) / "manifest.csv").is_file():
        raise FileNotFoundError(f"{data}: no manifest.csv (make one: echostream simulate)")
