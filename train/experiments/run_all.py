"""Run one thesis experiment's grid, or all four experiments and the report in one go.

``echostream experiment all --data DIR --scale cpu`` is the documented way to regenerate
``docs/reproduction.md``: experiment 1 (the three baseline runs of Table 4.1, each a plain
``train`` run in ``runs/exp1_baseline_*-<scale>``), the grids of experiments 2–4 under the runs
root, then :func:`~.report.write_report`. Every step is resumable: a finished exp1 run (its
``eval_test/metrics.json``) and a finished grid run (``DONE``) are skipped.

Example::

    failures = run_all("data/sim-smoke60", "cpu", echo=print)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

EXP1_CONFIGS = ("exp1_baseline_rmsprop_flips", "exp1_baseline_rmsprop", "exp1_baseline_adam")
GRIDS = ("exp2", "exp3", "exp4")
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
    """Run experiment ``name``'s grid (exp2 | exp3 | exp4 or a YAML file); returns the failed
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


def run_exp1(
    data: str | Path,
    scale: str,
    *,
    runs_root: str | Path = DEFAULT_RUNS,
    configs: str | Path = "configs",
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> list[tuple[str, str]]:
    """Experiment 1: the three baseline runs, each in ``<runs_root>/../<config>-<scale>`` where
    the report looks for them; a run with test metrics already there is skipped."""
    from ..runner import train_main

    failed = []
    for name in EXP1_CONFIGS:
        run_dir = Path(runs_root).parent / f"{name}-{scale}"
        if (run_dir / "eval_test" / "metrics.json").is_file():
            echo(f"{name} at scale {scale}: finished in {run_dir}, skipped")
            continue
        start = time.perf_counter()
        try:
            train_main(
                Path(configs) / f"{name}.yaml",
                data,
                scale=scale,
                out=run_dir,
                resume=(run_dir / "last.pt").is_file(),
                progress=progress,
            )
        except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
            failed.append((str(run_dir), f"{type(err).__name__}: {err}"))
            continue
        echo(f"{name} at scale {scale}: {time.perf_counter() - start:.0f} s in {run_dir}")
    return failed


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
    failed = run_exp1(
        data, scale, runs_root=runs_root, configs=configs, progress=progress, echo=echo
    )
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
