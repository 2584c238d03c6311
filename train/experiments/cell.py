"""One run of an experiment grid: train one cell with one seed, evaluate it, write ``result.json``.

A run is described by a plain, JSON-ready :class:`RunSpec` (so a Ray task can carry it) and
trained by the same :func:`~echostream.train.trainer.train_model` as ``echostream train`` (frame
store and patient splits, augmentation, :func:`~echostream.train.loop.fit` with its stages,
early stopping, restore-best and learning curves; DDP under torchrun), then evaluated. What
differs from ``echostream train`` is said in its :class:`~echostream.train.trainer.RunSetup`:
the stage schedule (``spec.gradual``: gradual unfreezing, :func:`gradual_stages`), no console
output, a resume whenever ``last.pt`` is there, and how the training and evaluation frames are
chosen (``spec.sampling``):

- ``{"kind": "split"}``: the patient split's train/val/test (experiment 2);
- ``{"kind": "fraction", "fraction": 0.01, "reference_fraction": 0.25, "max_repeats": 500}``:
  a per-class fraction of the training split (experiment 4); val and test stay fixed. So that
  every run sees a similar number of images, each epoch repeats the small training set
  ``round(n_reference / n)`` times (capped at ``max_repeats``), where ``n_reference`` is the
  size of the ``reference_fraction`` set: the same as scaling the epochs, with validation
  (early stopping, best weights, the learning curve) at the same cadence in images seen;
- ``{"kind": "patients", "patients": 4, "reference_patients": 32, "max_repeats": 500}``: every
  frame of 4 patients of the training split (nested as the count grows), repeated the same way
  (the labels-vs-accuracy curve, :mod:`.labels_curve`);
- ``{"kind": "vendor", "train": ["epiq7g"], "heldout": ["ie33", "sc2000"]}``: every patient of
  the training vendors, sampled per class to the smallest vendor's frame count (evenly per
  vendor); validated and evaluated on every patient of the held-out vendors (experiment 3).

ImageNet initialisation that cannot be had here (no network, no local file) falls back to
random initialisation only when ``spec.init_fallback == "random"``, and the run says so in its
``init`` field ("random init"), never "ImageNet".

The run folder::

    config.yaml  history.csv  curves.png  final.pt  eval_<split>/ (report.md, metrics.json, ...)
    result.json  the numbers the grid aggregates
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from echostream.stream.atomic import atomic_write
from echostream.train.trainer import RowChoice, RunSetup, TrainedRun

if TYPE_CHECKING:
    from echostream.train.config import RunConfig
    from echostream.train.prepare import Prepared

RESULT = "result.json"
RESULT_METRICS = (
    "frame_accuracy",
    "sequence_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "macro_auc",
    "frames",
    "cines",
)
DONE = "DONE"


@dataclass
class RunSpec:
    """Everything one run needs; ``config`` is a resolved RunConfig dict (no ``scales``)."""

    experiment: str
    cell: str
    seed: int
    scale: str
    data_dir: str
    run_dir: str
    config: dict[str, Any]
    sampling: dict[str, Any] = field(default_factory=lambda: {"kind": "split"})
    init_fallback: str | None = None  # "random": fall back when ImageNet weights are unavailable
    gradual: dict[str, Any] | None = None  # gradual unfreezing over model.stages (see below)
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"model": "MobileNet", "method": …}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """A short hash of what decides the run's outcome (not where it is written)."""
        import hashlib

        d = self.to_dict()
        keep = {
            k: d[k]
            for k in (
                "experiment",
                "cell",
                "seed",
                "config",
                "sampling",
                "init_fallback",
                "gradual",
            )
        }
        text = json.dumps(keep, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(**d)


def repeats_for(n_train: int, n_reference: int, max_repeats: int) -> int:
    """How often one epoch repeats a training set of ``n_train`` frames to see about
    ``n_reference`` images, in ``[1, max_repeats]``.

    >>> repeats_for(100, 1000, 50), repeats_for(5, 1000, 50), repeats_for(2000, 1000, 50)
    (10, 50, 1)
    """
    return int(min(max_repeats, max(1, round(n_reference / max(n_train, 1)))))


def gradual_stages(
    names: list[str],
    *,
    epochs: int,
    lr: float,
    lr_head: float | None = None,
    patience: int | None = None,
    restore_best: bool = False,
    groups: int | None = None,
    depth: int | None = None,
) -> list[dict[str, Any]]:
    """Training stages for gradual unfreezing over ``names`` (``model.stages``, head first).

    Stage k trains the first k model stages together (cumulative). ``depth`` stops after that
    many model stages; ``groups`` unfreezes them in that many contiguous groups instead of one
    by one (smaller scales). ``lr_head`` is the rate of the first stage (head only).
    ``patience`` None means no early stopping (exactly ``epochs`` per stage).

    >>> [s["name"] for s in gradual_stages(["head", "b3", "b2", "b1"], epochs=1, lr=1e-5, groups=2)]
    ['head-b3', 'b2-b1']
    """
    names = list(names[: depth or len(names)])
    k = len(names) if not groups else max(1, min(int(groups), len(names)))
    bounds = [round(i * len(names) / k) for i in range(k + 1)]
    stages = []
    for i in range(k):
        new = names[bounds[i] : bounds[i + 1]]
        stages.append(
            {
                "name": new[0] if len(new) == 1 else f"{new[0]}-{new[-1]}",
                "trainable": names[: bounds[i + 1]],
                "epochs": int(epochs),
                "lr": float(lr_head if (i == 0 and lr_head is not None) else lr),
                # None = no early stopping; the loop reads None as "the run's default", so a
                # patience longer than the stage says it explicitly
                "patience": int(patience) if patience is not None else int(epochs) + 1,
                "restore_best": bool(restore_best),
            }
        )
    return stages


def _choose_rows(spec: RunSpec, cfg: RunConfig, prep: Prepared) -> RowChoice:
    """Rows for train / val / eval, the eval split's name and the sampling facts, as
    ``spec.sampling`` says (see the module docstring); refuses an empty one."""
    from echostream.train.trainer import split_rows

    kind = spec.sampling.get("kind", "split")
    if kind == "vendor":
        choice = _vendor_rows(spec, cfg, prep)
    elif kind in ("fraction", "patients"):
        choice = _subset_rows(spec, cfg, prep)
    elif kind == "split":
        rows = split_rows(prep, cfg, seed=spec.seed).rows
        choice = RowChoice(
            {"train": rows["train"], "val": rows["val"], "eval": rows["test"]},
            cfg.eval.split,
            {"sampling": kind},
        )
    else:
        raise ValueError(f"unknown sampling kind {kind!r} (split | fraction | patients | vendor)")
    if not all(len(r) for r in choice.rows.values()):
        sizes = {k: int(len(v)) for k, v in choice.rows.items()}
        raise ValueError(
            f"{spec.data_dir}: an empty split for {spec.cell} {sizes}: too few patients?"
        )
    return choice


def _vendor_rows(spec: RunSpec, cfg: RunConfig, prep: Prepared) -> RowChoice:
    """Every frame of the training vendors, sampled per class to the smallest vendor's count;
    validated and evaluated on every frame of the held-out vendors."""
    from echostream.train.data import select_rows

    from .sampling import check_vendor_patients, smallest_vendor_count, vendor_counts, vendor_rows

    s, index = spec.sampling, prep.index
    check_vendor_patients(index)
    all_rows = select_rows(index, prep.assign, "all", frames_per_cine=cfg.data.frames_per_cine)
    counts = vendor_counts(index, all_rows)
    missing = [v for v in [*s["train"], *s["heldout"]] if v not in counts]
    if missing:
        raise ValueError(f"{spec.data_dir}: no frames of vendor(s) {', '.join(missing)}")
    n = smallest_vendor_count(index, all_rows)
    train = vendor_rows(index, all_rows, s["train"], n, seed=spec.seed)
    held = all_rows[np.isin(index["vendor"].to_numpy()[all_rows], s["heldout"])]
    facts = {
        "sampling": "vendor",
        "train_vendors": list(s["train"]),
        "heldout_vendors": list(s["heldout"]),
        "vendor_frames": counts,
        "fixed_size": n,
    }
    return RowChoice({"train": train, "val": held, "eval": held}, "heldout", facts)


def _subset_rows(spec: RunSpec, cfg: RunConfig, prep: Prepared) -> RowChoice:
    """Part of the training split — a per-class ``fraction`` of its frames, or every frame of
    ``patients`` patients — repeated in an epoch to about the size of the reference set
    (``reference_fraction`` / ``reference_patients``); the patient split's val and test."""
    from echostream.train.data import select_rows

    from .sampling import fraction_rows, patient_rows

    s, fpc = spec.sampling, cfg.data.frames_per_cine
    val, test = (
        select_rows(prep.index, prep.assign, k, frames_per_cine=fpc) for k in ("val", "test")
    )
    pool = select_rows(prep.index, prep.assign, "train", frames_per_cine=fpc)
    if s["kind"] == "fraction":
        size: float = float(s["fraction"])
        train = fraction_rows(prep.index, pool, size, seed=spec.seed)
        ref = fraction_rows(
            prep.index, pool, float(s.get("reference_fraction", 1.0)), seed=spec.seed
        )
    else:
        n_pool = int(prep.index["patient_id"].iloc[pool].nunique())
        size = int(s["patients"])
        train = patient_rows(prep.index, pool, int(size), seed=spec.seed)
        n_ref_patients = min(int(s.get("reference_patients", n_pool)), n_pool)
        ref = patient_rows(prep.index, pool, n_ref_patients, seed=spec.seed)
    n_ref = ref.size
    facts = {
        "sampling": s["kind"],
        s["kind"]: size,
        "pool": int(len(pool)),
        "reference_frames": int(n_ref),
        "repeats": repeats_for(len(train), n_ref, int(s.get("max_repeats", 1000))),
    }
    return RowChoice({"train": train, "val": val, "eval": test}, cfg.eval.split, facts)


def _cell_setup(spec: RunSpec, progress: bool) -> RunSetup:
    """How a grid run differs from ``echostream train``: its frames, its stage schedule
    (gradual unfreezing), ``config.yaml`` with the spec, provenance naming the cell, no
    console output, and a resume whenever ``last.pt`` is there."""
    from echostream.train.config import StageCfg

    run_dir = Path(spec.run_dir)
    gradual = spec.gradual

    def stages(model: Any) -> list[StageCfg]:
        return [StageCfg(**st) for st in gradual_stages(list(model.stages), **(gradual or {}))]

    return RunSetup(
        run_dir,
        resume=(run_dir / "last.pt").is_file(),
        progress=progress,
        splits_csv=False,
        choose_rows=lambda prep, cfg: _choose_rows(spec, cfg, prep),
        init_fallback=spec.init_fallback,
        stage_schedule=stages if gradual else None,
        config_record=lambda cfg: {"run": cfg.to_dict(), "spec": spec.to_dict()},
        provenance=lambda init: {"experiment": spec.experiment, "cell": spec.cell, "init": init},
        reseed_for_loaders=False,
    )


def run_cell(spec: RunSpec | dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """Train and evaluate one run; writes and returns its result (see the module docstring).
    Under torchrun every rank trains; the main one evaluates and writes (the others return
    ``{}``)."""
    from echostream.train.config import config_from_dict
    from echostream.train.distributed import distributed_run
    from echostream.train.trainer import train_model

    spec = RunSpec.from_dict(spec) if isinstance(spec, dict) else spec
    t_start = time.perf_counter()
    cfg = config_from_dict(dict(spec.config), where=f"{spec.experiment}/{spec.cell}")
    cfg.seed = spec.seed
    run_dir = Path(spec.run_dir)
    with distributed_run(cfg.train.device) as info:
        run = train_model(cfg, spec.data_dir, _cell_setup(spec, progress), info)
        if not info.is_main:
            return {}
        metrics = _evaluate(spec, cfg, run)
    for name in ("last.pt", "best.pt"):  # the grid keeps final.pt only (VGG16 is 0.5 GB a file)
        (run_dir / name).unlink(missing_ok=True)
    out = _result(spec, cfg, run, metrics, started=t_start)
    atomic_write(run_dir / RESULT, json.dumps(out, indent=2, default=str))
    (run_dir / DONE).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
    return out


def _evaluate(spec: RunSpec, cfg: RunConfig, run: TrainedRun) -> dict[str, Any]:
    """Evaluate the trained model on the run's eval rows; the report in ``eval_<split>/``."""
    from echostream.train.evaluate import ReportSettings, write_report
    from echostream.train.runner import predict_rows

    rows, split = run.choice.rows, run.choice.eval_split
    pred, metrics = predict_rows(run.model, run.prep, rows["eval"], cfg, progress=False)
    if not cfg.eval.tsne_max:
        pred.features = None
    context = {
        "experiment": spec.experiment,
        "cell": spec.cell,
        "seed": spec.seed,
        "scale": spec.scale,
        "init": run.init,
        "train frames": int(len(rows["train"])),
    }
    settings = ReportSettings(
        title=f"{spec.experiment} {spec.cell} seed {spec.seed} on {split}",
        simulated=run.prep.manifest.simulated,
        context=context,
        tsne_max=cfg.eval.tsne_max or 2,
        ece_bins=cfg.eval.ece_bins,
    )
    write_report(Path(spec.run_dir) / f"eval_{split}", metrics, pred, settings)
    return metrics


def _result(
    spec: RunSpec, cfg: RunConfig, run: TrainedRun, metrics: dict[str, Any], *, started: float
) -> dict[str, Any]:
    """The numbers the grid aggregates (``result.json``); ``started``: the run's start
    (``time.perf_counter()``)."""
    rows, history = run.choice.rows, run.result.history
    return {
        "experiment": spec.experiment,
        "fingerprint": spec.fingerprint(),
        "cell": spec.cell,
        "seed": spec.seed,
        "scale": spec.scale,
        "meta": spec.meta,
        "data_dir": spec.data_dir,
        "model": cfg.model.name,
        "init": run.init,
        "input_size": list(run.model.cfg.input_size),
        "device": str(run.device),
        "simulated_data": bool(run.prep.manifest.simulated),
        "eval_split": run.choice.eval_split,
        "train_frames": int(len(rows["train"])),
        "val_frames": int(len(rows["val"])),
        "eval_frames": int(len(rows["eval"])),
        "epochs_run": run.result.epochs_run,
        "images_seen": int(run.result.epochs_run * run.images_per_epoch),
        "stage_ends": run.result.stage_ends,
        "best_epoch": run.result.best_epoch,
        "final_val_acc": history[-1]["val_acc"] if history else None,
        "best_val_acc": max((r["val_acc"] for r in history), default=None),
        "train_seconds": round(run.train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "metrics": {k: metrics[k] for k in RESULT_METRICS},
        **run.choice.facts,
    }
