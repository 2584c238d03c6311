"""The experiment grid: cells × seeds → run folders, resumable, run locally or on Ray.

An experiment file (``configs/exp*.yaml``) has a ``base`` run config shared by every cell, the
experiment's own axes (``cells``, ``models``, ``vendors``, ``fractions`` …) and ``scales``
(``tiny`` | ``smoke`` | ``cpu`` | ``gpu`` | ``full``) deep-merged over the file. The experiment's
module (:mod:`.exp1_baseline`, :mod:`.exp2_finetune`, :mod:`.exp3_vendor`, :mod:`.exp4_size`)
expands it into :class:`CellDef` s; :func:`plan` turns cells × seeds into
:class:`~.cell.RunSpec` s with one folder each::

    runs/experiments/<name>-<scale>/<cell>/seed<k>/   (result.json + DONE when finished)

:func:`run_grid` skips finished runs (``DONE`` present), resumes interrupted ones (their
``last.pt``), records a failed run's one-line error in ``FAILED`` and goes on, and shows a
progress bar over the runs. :func:`summarise` gives every cell's mean and 95 % CI over seeds.

Example::

    exp = load_experiment("configs/exp4_size.yaml", scale="tiny")
    specs = plan(exp, "data/sim", seeds=3)
    run_grid(specs)                      # or run_grid(specs, ray_address="auto")
    summary = summarise(collect(exp_dir(exp)))
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from echostream.stream.settings import deep_merge, read_yaml_mapping

from .cell import DONE, RESULT, RunSpec, run_cell
from .stats import mean_ci

EXPERIMENTS = {
    "exp1": "exp1_baseline",
    "exp2": "exp2_finetune",
    "exp3": "exp3_vendor",
    "exp4": "exp4_size",
    "labels": "labels_curve",  # not the thesis': labelled patients vs accuracy, by start
}
METRICS = ("frame_accuracy", "sequence_accuracy", "macro_precision", "macro_recall", "macro_auc")
FAILED = "FAILED"


@dataclass
class CellDef:
    """One cell of an experiment's table: a run config plus how its data is chosen."""

    name: str
    config: dict[str, Any]  # a RunConfig dict
    meta: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=lambda: {"kind": "split"})
    init_fallback: str | None = None
    gradual: dict[str, Any] | None = None


@dataclass
class Experiment:
    name: str  # e.g. exp2_finetune
    key: str  # exp2 | exp3 | exp4
    scale: str
    seeds: int
    cells: list[CellDef]
    raw: dict[str, Any]  # the resolved experiment file (scale applied)
    out_root: str = "runs/experiments"
    ray: dict[str, Any] = field(default_factory=dict)


def experiment_module(key: str):
    """The module that expands experiment ``key`` (exp1 | exp2 | exp3 | exp4 | labels)."""
    import importlib

    if key not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {key!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f".{EXPERIMENTS[key]}", __package__)


def config_path(name: str, configs: str | Path = "configs") -> Path:
    """``exp2`` / ``exp2_finetune`` / a path → the experiment's YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml"):
        return p
    key = name.split("_")[0]
    if key in EXPERIMENTS:
        return Path(configs) / f"{EXPERIMENTS[key]}.yaml"
    raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)} or a .yaml")


def load_experiment(
    path: str | Path, *, scale: str = "smoke", seeds: int | None = None
) -> Experiment:
    """Read an experiment file, apply ``scales[scale]`` and expand its cells."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such experiment file")
    d = read_yaml_mapping(path, "an experiment file")
    if "experiment" not in d:
        raise ValueError(f"{path}: an experiment file is a mapping with an 'experiment:' key")
    scales = d.pop("scales", {}) or {}
    if scale not in scales:
        raise ValueError(f"{path}: no scale {scale!r} (has: {', '.join(scales) or 'none'})")
    d = deep_merge(d, scales[scale])
    d["source"] = str(path)  # for cells that read files beside it (exp1's training configs)
    key = str(d["experiment"])
    base = dict(d.get("base") or {})
    base.setdefault("name", d.get("name", path.stem))
    base["scale"] = scale
    d["base"] = base
    cells = experiment_module(key).expand(d)
    from echostream.train.config import config_from_dict

    for c in cells:  # fail early on a bad key, before any run starts
        config_from_dict(copy.deepcopy(c.config), where=f"{path}: {c.name}")
    return Experiment(
        name=d.get("name", path.stem),
        key=key,
        scale=scale,
        seeds=int(seeds or d.get("seeds", 3)),
        cells=cells,
        raw=d,
        out_root=d.get("out_root", "runs/experiments"),
        ray=dict(d.get("ray") or {}),
    )


def exp_dir(exp: Experiment, out_root: str | Path | None = None) -> Path:
    return Path(out_root or exp.out_root) / f"{exp.name}-{exp.scale}"


def plan(
    exp: Experiment,
    data_dir: str | Path,
    *,
    out_root: str | Path | None = None,
    seeds: int | None = None,
) -> list[RunSpec]:
    """One :class:`RunSpec` per cell and seed (seeds 0 … n-1), cell-major order."""
    root = exp_dir(exp, out_root)
    n = int(seeds or exp.seeds)
    return [
        RunSpec(
            experiment=exp.key,
            cell=c.name,
            seed=s,
            scale=exp.scale,
            data_dir=str(data_dir),
            run_dir=str(root / c.name / f"seed{s}"),
            config=copy.deepcopy(c.config),
            sampling=copy.deepcopy(c.sampling),
            init_fallback=c.init_fallback,
            meta=copy.deepcopy(c.meta),
            gradual=copy.deepcopy(c.gradual),
        )
        for c in exp.cells
        for s in range(n)
    ]


def is_done(spec: RunSpec) -> bool:
    """A finished run of *this* spec is in its folder (``ValueError`` if one of another
    config is: a changed experiment file must not silently reuse old results)."""
    d = Path(spec.run_dir)
    if not ((d / DONE).is_file() and (d / RESULT).is_file()):
        _check_unfinished(spec)
        return False
    old = json.loads((d / RESULT).read_text()).get("fingerprint")
    if old is not None and old != spec.fingerprint():
        raise ValueError(
            f"{d}: holds a finished run of a different configuration; delete it or pass "
            "another --out"
        )
    return True


def _check_unfinished(spec: RunSpec) -> None:
    """``ValueError`` if ``spec``'s folder holds an interrupted run (``last.pt``) of another
    configuration: resuming it would mix the two."""
    d = Path(spec.run_dir)
    if not ((d / "last.pt").is_file() and (d / "config.yaml").is_file()):
        return
    old = (yaml.safe_load((d / "config.yaml").read_text()) or {}).get("spec")
    if old and RunSpec(**old).fingerprint() != spec.fingerprint():
        raise ValueError(
            f"{d}: holds an interrupted run of a different configuration; delete it or pass "
            "another --out"
        )


def write_plan(exp: Experiment, specs: Sequence[RunSpec], root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    doc = {
        "experiment": exp.key,
        "name": exp.name,
        "scale": exp.scale,
        "data": specs[0].data_dir if specs else None,
        "seeds": sorted({s.seed for s in specs}),
        "cells": [c.name for c in exp.cells],
        "cell_meta": {c.name: c.meta for c in exp.cells},
        "resolved": exp.raw,
    }
    (root / "experiment.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def run_grid(
    specs: Sequence[RunSpec],
    *,
    ray_address: str | None = None,
    ray_resources: dict[str, Any] | None = None,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    runner: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run every unfinished spec; returns ``{"done", "skipped", "failed": [(run_dir, error)],
    "seconds"}``. With ``ray_address`` each run is a Ray task (see :mod:`.ray_backend`)."""
    t0 = time.perf_counter()
    todo = [s for s in specs if not is_done(s)]
    skipped = len(specs) - len(todo)
    failed: list[tuple[str, str]] = []
    done = 0
    if ray_address:
        from .ray_backend import run_on_ray

        for spec, res in run_on_ray(todo, ray_address, resources=ray_resources, progress=progress):
            if isinstance(res, BaseException):
                failed.append(_fail(spec, res))
            else:
                done += 1
                if on_result:
                    on_result(res)
    else:
        run = runner or (lambda d: run_cell(d))
        with _progress(progress) as bar:
            task = bar.add_task("grid", total=len(specs), completed=skipped)
            for spec in todo:
                bar.update(task, description=f"{spec.cell} seed {spec.seed}")
                try:
                    res = run(spec.to_dict())
                except (ValueError, RuntimeError, FileNotFoundError, OSError) as err:
                    failed.append(_fail(spec, err))
                else:
                    done += 1
                    if on_result:
                        on_result(res)
                bar.advance(task)
    return {
        "done": done,
        "skipped": skipped,
        "failed": failed,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _fail(spec: RunSpec, err: BaseException) -> tuple[str, str]:
    msg = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    d = Path(spec.run_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / FAILED).write_text(msg + "\n")
    return spec.run_dir, msg


def collect(root: str | Path) -> list[dict[str, Any]]:
    """Every finished run's ``result.json`` under ``root`` (one experiment folder)."""
    out = []
    for p in sorted(Path(root).glob(f"*/seed*/{RESULT}")):
        if (p.parent / DONE).is_file():
            out.append(json.loads(p.read_text()))
    return out


def summarise(
    results: Sequence[dict[str, Any]], metrics: Sequence[str] = METRICS
) -> dict[str, Any]:
    """Per cell: meta, init labels, seeds, and mean/95 % CI of each metric over seeds."""
    cells: dict[str, dict[str, Any]] = {}
    for r in results:
        c = cells.setdefault(r["cell"], {"meta": r.get("meta", {}), "runs": []})
        c["runs"].append(r)
    out = {}
    for name, c in cells.items():
        runs = sorted(c["runs"], key=lambda r: r["seed"])
        out[name] = {
            "meta": c["meta"],
            "seeds": [r["seed"] for r in runs],
            "init": sorted({r.get("init", "?") for r in runs}),
            "model": runs[0].get("model"),
            "input_size": runs[0].get("input_size"),
            "train_frames": sorted({r.get("train_frames") for r in runs}),
            "epochs_run": sorted({r.get("epochs_run") for r in runs}),
            "images_seen": mean_ci([r.get("images_seen") for r in runs]).mean,
            "train_seconds": mean_ci([r.get("train_seconds") for r in runs]).mean,
            "scale": runs[0].get("scale"),
            "simulated_data": all(r.get("simulated_data", True) for r in runs),
            **{m: mean_ci([r["metrics"].get(m) for r in runs]).to_dict() for m in metrics},
            "best_val_acc": mean_ci([r.get("best_val_acc") for r in runs]).to_dict(),
            # runs whose best validation epoch was their last: still improving (under-trained)
            "best_at_last_epoch": sum(
                1
                for r in runs
                if r.get("best_epoch") and r.get("best_epoch") == r.get("epochs_run")
            ),
        }
    return out


def write_summary(root: str | Path) -> dict[str, Any]:
    """Aggregate ``root``'s runs into ``summary.json`` and return it."""
    root = Path(root)
    summary = summarise(collect(root))
    root.mkdir(parents=True, exist_ok=True)
    (root / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _progress(enabled: bool):
    from ..progress import progress_bar

    return progress_bar(enabled)
