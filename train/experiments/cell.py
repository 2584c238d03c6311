"""One run of an experiment grid: train one cell with one seed, evaluate it, write ``result.json``.

A run is described by a plain, JSON-ready :class:`RunSpec` (so a Ray task can carry it) and
built from the training package's parts: :func:`~echostream.train.runner.prepare_data` (frame
store and patient splits), the augmentation presets, :func:`~echostream.train.loop.fit` (stages,
early stopping, restore-best, learning curves with stage boundaries) and the evaluation report.
What differs from ``echostream train`` is how the training and evaluation frames are chosen
(``spec.sampling``):

- ``{"kind": "split"}``: the patient split's train/val/test (experiment 2);
- ``{"kind": "fraction", "fraction": 0.01, "reference_fraction": 0.25, "max_repeats": 500}``:
  a per-class fraction of the training split (experiment 4); val and test stay fixed. So that
  every run sees a similar number of images, each epoch repeats the small training set
  ``round(n_reference / n)`` times (capped at ``max_repeats``), where ``n_reference`` is the
  size of the ``reference_fraction`` set: the same as scaling the epochs, with validation
  (early stopping, best weights, the learning curve) at the same cadence in images seen;
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
from typing import Any

import numpy as np
import yaml

from echostream.stream.atomic import atomic_write

RESULT = "result.json"
_UNAVAILABLE: dict[tuple[str, str | None], str] = {}  # (model, pretrained) → fallback label
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


def create_with_fallback(name: str, pretrained: str | None, fallback: str | None, **kw: Any):
    """``(model, init)``: the model and a plain label of its initialisation."""
    from echostream.models.pretrained import PretrainedError
    from echostream.models.registry import create_model

    known = _UNAVAILABLE.get((name, pretrained))
    if known is not None and fallback == "random":  # failed before in this process: no retry
        return create_model(name, pretrained=None, **kw), known
    try:
        model = create_model(name, pretrained=pretrained, **kw)
    except PretrainedError as err:
        if fallback != "random":
            raise
        model = create_model(name, pretrained=None, **kw)
        label = f"random init (ImageNet weights unavailable here: {str(err)[:120]})"
        _UNAVAILABLE[(name, pretrained)] = label
        return model, label
    if pretrained is None:
        return model, "random init"
    return model, f"ImageNet ({model.cfg.pretrained})" if pretrained == "imagenet" else pretrained


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


def _choose_rows(spec: RunSpec, cfg, prep) -> tuple[dict[str, np.ndarray], str, dict[str, Any]]:
    """Row positions for train / val / eval, the eval split's name, and sampling facts."""
    from echostream.train.data import select_rows

    from .sampling import (
        check_vendor_patients,
        fraction_rows,
        smallest_vendor_count,
        vendor_counts,
        vendor_rows,
    )

    d, s = cfg.data, spec.sampling
    kind = s.get("kind", "split")
    fpc = d.frames_per_cine
    facts: dict[str, Any] = {"sampling": kind}
    if kind == "vendor":
        index = prep.index
        check_vendor_patients(index)
        all_rows = select_rows(index, prep.assign, "all", frames_per_cine=fpc)
        counts = vendor_counts(index, all_rows)
        missing = [v for v in [*s["train"], *s["heldout"]] if v not in counts]
        if missing:
            raise ValueError(f"{spec.data_dir}: no frames of vendor(s) {', '.join(missing)}")
        n = smallest_vendor_count(index, all_rows)
        train = vendor_rows(index, all_rows, s["train"], n, seed=spec.seed)
        held = all_rows[np.isin(index["vendor"].to_numpy()[all_rows], s["heldout"])]
        facts.update(
            train_vendors=list(s["train"]),
            heldout_vendors=list(s["heldout"]),
            vendor_frames=counts,
            fixed_size=n,
        )
        return {"train": train, "val": held, "eval": held}, "heldout", facts
    rows = {
        k: select_rows(prep.index, prep.assign, k, frames_per_cine=fpc) for k in ("val", "test")
    }
    pool = select_rows(prep.index, prep.assign, "train", frames_per_cine=fpc)
    if kind == "fraction":
        train = fraction_rows(prep.index, pool, float(s["fraction"]), seed=spec.seed)
        n_ref = fraction_rows(
            prep.index, pool, float(s.get("reference_fraction", 1.0)), seed=spec.seed
        ).size
        facts.update(
            fraction=float(s["fraction"]),
            pool=int(len(pool)),
            reference_frames=int(n_ref),
            repeats=repeats_for(len(train), n_ref, int(s.get("max_repeats", 1000))),
        )
    elif kind == "split":
        train = select_rows(
            prep.index,
            prep.assign,
            "train",
            frames_per_cine=fpc,
            fraction=d.train_fraction,
            max_images=d.train_max_images,
            per_class=d.per_class,
            seed=spec.seed,
        )
    else:
        raise ValueError(f"unknown sampling kind {kind!r} (split | fraction | vendor)")
    return {"train": train, "val": rows["val"], "eval": rows["test"]}, cfg.eval.split, facts


def run_cell(spec: RunSpec | dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """Train and evaluate one run; writes and returns its result (see the module docstring)."""
    import torch
    from torch import nn

    from echostream.models.checkpoint import make_provenance
    from echostream.train.augment import EvalPreset, TrainPreset
    from echostream.train.config import config_from_dict
    from echostream.train.data import FrameDataset, class_weights, make_loader, pixel_stats
    from echostream.train.evaluate import compute_metrics, predict, write_report
    from echostream.train.loop import DistInfo, fit, resolve_device, seed_everything
    from echostream.train.runner import checkpoint_saver, dataset_seed, prepare_data

    spec = RunSpec.from_dict(spec) if isinstance(spec, dict) else spec
    t_start = time.perf_counter()
    cfg = config_from_dict(dict(spec.config), where=f"{spec.experiment}/{spec.cell}")
    cfg.seed = spec.seed
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.seed)
    model_kwargs = {"num_classes": 8, **cfg.model.kwargs}
    model, init = create_with_fallback(
        cfg.model.name, cfg.model.pretrained, spec.init_fallback, **model_kwargs
    )
    in_chans, h, w = model.cfg.input_size
    prep = prepare_data(spec.data_dir, cfg.data, (h, w), model.cfg.interpolation, progress=False)
    rows, eval_split, facts = _choose_rows(spec, cfg, prep)
    if not len(rows["train"]) or not len(rows["val"]) or not len(rows["eval"]):
        sizes = {k: int(len(v)) for k, v in rows.items()}
        raise ValueError(
            f"{spec.data_dir}: an empty split for {spec.cell} {sizes}: too few patients?"
        )
    if spec.gradual:
        from echostream.train.config import StageCfg

        cfg.train.stages = [
            StageCfg(**st) for st in gradual_stages(list(model.stages), **spec.gradual)
        ]
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump({"run": cfg.to_dict(), "spec": spec.to_dict()}, sort_keys=False)
    )

    frames, index = prep.store.frames, prep.index
    mean, std = pixel_stats(frames, index["row"].to_numpy()[rows["train"]])
    model.cfg = model.cfg.with_(mean=(mean,) * in_chans, std=(std,) * in_chans)
    train_tf = TrainPreset.from_cfg(cfg.augment, mean=(mean,), std=(std,), in_chans=in_chans)
    eval_tf = EvalPreset(mean=(mean,), std=(std,), in_chans=in_chans)
    train_ds = FrameDataset(frames, index, rows["train"], train_tf)
    labels = train_ds.labels
    if facts.get("repeats", 1) > 1:
        from torch.utils.data import ConcatDataset

        train_ds = ConcatDataset([train_ds] * facts["repeats"])
    val_ds = FrameDataset(frames, index, rows["val"], eval_tf)
    t = cfg.train
    train_loader = make_loader(
        train_ds, batch_size=t.batch_size, train=True, workers=t.workers, seed=cfg.seed
    )
    val_loader = make_loader(val_ds, batch_size=cfg.eval.batch_size, train=False, workers=t.workers)
    weights = class_weights(labels) if t.class_weights else None
    device = resolve_device(cfg.train.device)
    criterion = nn.CrossEntropyLoss(
        weight=weights.to(device) if weights is not None else None,
        label_smoothing=cfg.train.label_smoothing,
    )
    resolved = cfg.to_dict()
    provenance = make_provenance(
        config=resolved,
        data=json.dumps(prep.manifest.describe()),
        simulated_data=prep.manifest.simulated,
        dataset_seed=dataset_seed(spec.data_dir),
        whitening={"mean": mean, "std": std, "frames": int(len(rows["train"]))},
        experiment=spec.experiment,
        cell=spec.cell,
        init=init,
    )

    save = checkpoint_saver(cfg, model_kwargs, provenance, resolved)

    t0 = time.perf_counter()
    result = fit(
        model,
        train_loader,
        val_loader,
        cfg,
        run_dir,
        criterion=criterion,
        save=save,
        info=DistInfo(device=device),
        resume=(run_dir / "last.pt").is_file(),
        progress=progress,
    )
    train_seconds = time.perf_counter() - t0
    save(
        run_dir / "final.pt",
        model,
        epoch=result.epochs_run,
        extra={"best_epoch": result.best_epoch, "best_metric": result.best_metric},
    )

    ds = FrameDataset(frames, index, rows["eval"], eval_tf)
    pred = predict(model, make_loader(ds, batch_size=cfg.eval.batch_size, train=False), device)
    metrics = compute_metrics(
        pred.labels, pred.probs, pred.cines, model.cfg.labels, ece_bins=cfg.eval.ece_bins
    )
    if not cfg.eval.tsne_max:
        pred.features = None
    context = {
        "experiment": spec.experiment,
        "cell": spec.cell,
        "seed": spec.seed,
        "scale": spec.scale,
        "init": init,
        "train frames": int(len(rows["train"])),
    }
    write_report(
        run_dir / f"eval_{eval_split}",
        metrics,
        pred,
        title=f"{spec.experiment} {spec.cell} seed {spec.seed} on {eval_split}",
        simulated=prep.manifest.simulated,
        context=context,
        tsne_max=cfg.eval.tsne_max or 2,
        ece_bins=cfg.eval.ece_bins,
    )
    for name in ("last.pt", "best.pt"):  # the grid keeps final.pt only (VGG16 is 0.5 GB a file)
        (run_dir / name).unlink(missing_ok=True)
    out = {
        "experiment": spec.experiment,
        "fingerprint": spec.fingerprint(),
        "cell": spec.cell,
        "seed": spec.seed,
        "scale": spec.scale,
        "meta": spec.meta,
        "data_dir": spec.data_dir,
        "model": cfg.model.name,
        "init": init,
        "input_size": list(model.cfg.input_size),
        "device": str(device),
        "simulated_data": bool(prep.manifest.simulated),
        "eval_split": eval_split,
        "train_frames": int(len(rows["train"])),
        "val_frames": int(len(rows["val"])),
        "eval_frames": int(len(rows["eval"])),
        "epochs_run": result.epochs_run,
        "images_seen": int(result.epochs_run * len(train_ds)),
        "stage_ends": result.stage_ends,
        "best_epoch": result.best_epoch,
        "final_val_acc": result.history[-1]["val_acc"] if result.history else None,
        "best_val_acc": max((r["val_acc"] for r in result.history), default=None),
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "metrics": {
            k: metrics[k]
            for k in (
                "frame_accuracy",
                "sequence_accuracy",
                "macro_precision",
                "macro_recall",
                "macro_f1",
                "macro_auc",
                "frames",
                "cines",
            )
        },
        **facts,
    }
    atomic_write(run_dir / RESULT, json.dumps(out, indent=2, default=str))
    (run_dir / DONE).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
    return out
