"""Entry points behind ``echostream train`` and ``echostream evaluate`` (``main(args)`` style).

``train_main`` = config → manifest → frame store → patient splits (table printed) → whitening
statistics → model → :func:`~echostream.train.loop.fit` → ``final.pt`` → test report.
``evaluate_main`` = a run folder or checkpoint → the same data pipeline → report.

The run folder::

    config.yaml       the resolved config (also inside every checkpoint)
    splits.csv        cine → split
    history.csv       learning curves (and curves.png)
    best.pt / final.pt / last.pt   best validation / the trained model / resume state
    eval_test/        report.md, metrics.json, confusion.csv/.png, roc.png, tsne.png, ...
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from .config import DataCfg, RunConfig, config_from_dict, load_config
from .evaluate_onnx import same_dataset
from .manifest import Manifest, read_manifest

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Prepared:
    manifest: Manifest
    store: Any  # FrameStore
    index: Any  # DataFrame
    assign: dict[str, str]


def _console() -> Console:
    from rich.console import Console

    return Console()


def filter_manifest(manifest: Manifest, data: DataCfg) -> Manifest:
    """Keep the configured vendors, then ``max_patients`` patients (seeded)."""
    entries = manifest.entries
    if data.vendors:
        entries = [e for e in entries if e.vendor in set(data.vendors)]
    if data.max_patients:
        patients = sorted({e.patient_id for e in entries})
        if len(patients) > data.max_patients:
            rng = np.random.default_rng(data.split_seed)
            keep = set(rng.choice(patients, data.max_patients, replace=False).tolist())
            entries = [e for e in entries if e.patient_id in keep]
    return replace(manifest, entries=entries)


def prepare_data(
    data_dir: str | Path,
    data: DataCfg,
    input_hw: tuple[int, int],
    interpolation: str,
    *,
    build: bool = True,
    progress: bool = True,
    console: Any = None,
) -> Prepared:
    """Manifest → filtered → frame store (built or opened) → patient split assignment."""
    from .frame_store import build_frame_store, default_store_dir, open_frame_store
    from .splits import split_patients

    manifest = filter_manifest(read_manifest(data_dir), data)
    interp = data.interpolation or interpolation
    root = Path(data.store) if data.store else default_store_dir(data_dir, input_hw, interp)
    if build:
        store = build_frame_store(
            manifest, root, input_hw, interpolation=interp, workers=data.workers, progress=progress
        )
    else:
        store = open_frame_store(root, manifest, manifest.problems)
    if console is not None and store.problems:
        console.print(
            f"[yellow]skipped {len(store.problems)} cine(s)[/] (see {root / 'problems.csv'}):"
        )
        for p in store.problems[:10]:
            console.print(f"  {p}")
    if not len(store.cines):
        raise ValueError(f"{data_dir}: no readable cines")
    assign = split_patients(store.cines["patient_id"], data.fractions, seed=data.split_seed)
    return Prepared(manifest, store, store.index, assign)


def dataset_seed(data_dir: str | Path) -> int | None:
    """The simulator's seed, if the dataset records one (``simulation.json``/``dataset.json``)."""
    for name in ("simulation.json", "dataset.json"):
        p = Path(data_dir) / name
        if p.is_file():
            try:
                seed = json.loads(p.read_text()).get("seed")
                return int(seed) if seed is not None else None
            except (ValueError, AttributeError):
                return None
    return None


def _default_run_dir(cfg: RunConfig) -> Path:
    return Path("runs") / (f"{cfg.name}-{cfg.scale}" if cfg.scale else cfg.name)


def checkpoint_saver(
    cfg: RunConfig, model_kwargs: dict[str, Any], provenance: dict[str, Any], resolved: dict
) -> Any:
    """The ``save(path, net, *, epoch, optimizer_state, extra)`` function :func:`fit` calls:
    :func:`~echostream.models.checkpoint.save_checkpoint` with this run's name, config and
    provenance."""
    from echostream.models.checkpoint import save_checkpoint

    def save(path, net, *, epoch, optimizer_state=None, extra=None):
        save_checkpoint(
            path,
            net,
            model_name=cfg.model.name,
            model_kwargs=model_kwargs,
            cfg=net.cfg,
            provenance=provenance,
            config=resolved,
            epoch=epoch,
            optimizer_state=optimizer_state,
            extra=extra,
        )

    return save


def train_main(
    config: str | Path | RunConfig,
    data_dir: str | Path,
    *,
    scale: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    evaluate_test: bool = True,
) -> Path:
    """Train as the config says; returns the run folder."""
    import torch
    from torch import nn

    from echostream.models.checkpoint import make_provenance
    from echostream.models.registry import create_model

    from .augment import EvalPreset, TrainPreset
    from .data import FrameDataset, class_weights, make_loader, pixel_stats, select_rows
    from .loop import cleanup_distributed, fit, seed_everything, setup_distributed
    from .splits import print_split_table, split_table

    cfg = config if isinstance(config, RunConfig) else load_config(config, scale=scale)
    info = setup_distributed(cfg.train.device)
    console = _console() if info.is_main else None
    try:
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        run_dir = Path(out) if out else _default_run_dir(cfg)
        if info.is_main:
            if (run_dir / "last.pt").exists() and not resume:
                raise FileExistsError(
                    f"{run_dir}: a run is already there; pass --resume or another --out"
                )
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        seed_everything(cfg.seed)
        model_kwargs = {"num_classes": 8, **cfg.model.kwargs}
        model = create_model(cfg.model.name, pretrained=cfg.model.pretrained, **model_kwargs)
        in_chans, h, w = model.cfg.input_size

        if info.distributed:  # rank 0 builds the store, the others open it
            import torch.distributed as dist

            if info.is_main:
                prepare_data(
                    data_dir,
                    cfg.data,
                    (h, w),
                    model.cfg.interpolation,
                    progress=progress,
                    console=console,
                )
            dist.barrier()
        prep = prepare_data(
            data_dir,
            cfg.data,
            (h, w),
            model.cfg.interpolation,
            build=not info.distributed,
            progress=progress,
            console=console if not info.distributed else None,
        )
        d = cfg.data
        rows = {
            s: select_rows(prep.index, prep.assign, s, frames_per_cine=d.frames_per_cine)
            for s in ("val", "test")
        }
        rows["train"] = select_rows(
            prep.index,
            prep.assign,
            "train",
            frames_per_cine=d.frames_per_cine,
            fraction=d.train_fraction,
            max_images=d.train_max_images,
            per_class=d.per_class,
            seed=d.split_seed,
        )
        if not len(rows["train"]) or not len(rows["val"]):
            raise ValueError("the training or validation split is empty: too few patients?")
        if console is not None:
            used = np.concatenate([rows["train"], rows["val"], rows["test"]])
            print_split_table(split_table(prep.index.iloc[np.sort(used)], prep.assign), console)
            _write_splits(run_dir / "splits.csv", prep)
        mean, std = pixel_stats(prep.store.frames, prep.index["row"].to_numpy()[rows["train"]])
        model.cfg = model.cfg.with_(mean=(mean,) * in_chans, std=(std,) * in_chans)
        train_tf = TrainPreset.from_cfg(cfg.augment, mean=(mean,), std=(std,), in_chans=in_chans)
        eval_tf = EvalPreset(mean=(mean,), std=(std,), in_chans=in_chans)
        frames, index = prep.store.frames, prep.index
        train_ds = FrameDataset(frames, index, rows["train"], train_tf)
        val_ds = FrameDataset(frames, index, rows["val"], eval_tf)
        t = cfg.train
        seed_everything(cfg.seed + info.rank)
        train_loader = make_loader(
            train_ds,
            batch_size=t.batch_size,
            train=True,
            workers=t.workers,
            seed=cfg.seed,
            distributed=info.distributed,
        )
        val_loader = make_loader(
            val_ds,
            batch_size=cfg.eval.batch_size,
            train=False,
            workers=t.workers,
            distributed=info.distributed,
        )
        weights = class_weights(train_ds.labels) if t.class_weights else None
        criterion = nn.CrossEntropyLoss(
            weight=weights.to(info.device) if weights is not None else None,
            label_smoothing=t.label_smoothing,
        )

        resolved = cfg.to_dict()
        provenance = make_provenance(
            config=resolved,
            data=json.dumps(prep.manifest.describe()),
            simulated_data=prep.manifest.simulated,
            dataset_seed=dataset_seed(data_dir),
            whitening={"mean": mean, "std": std, "frames": int(len(rows["train"]))},
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
            info=info,
            resume=resume,
            progress=progress,
            console=console,
        )
        if info.is_main:
            assert console is not None  # made on the main process
            save(
                run_dir / "final.pt",
                model,
                epoch=result.epochs_run,
                extra={
                    "best_epoch": result.best_epoch,
                    "best_metric": result.best_metric,
                    "train_seconds": round(time.perf_counter() - t0, 1),
                },
            )
            console.print(
                f"trained {result.epochs_run} epochs in {time.perf_counter() - t0:.0f} s; "
                f"best {cfg.train.monitor} {result.best_metric:.4f} at epoch {result.best_epoch}"
            )
            if evaluate_test and len(rows.get(cfg.eval.split, [])):
                _report(
                    model,
                    prep,
                    rows[cfg.eval.split],
                    cfg,
                    run_dir / f"eval_{cfg.eval.split}",
                    cfg.eval.split,
                    "final.pt",
                    progress,
                    console,
                )
        return run_dir
    finally:
        cleanup_distributed()


def _write_splits(path: Path, prep: Prepared) -> None:
    c = prep.store.cines
    df = c[["key", "vendor", "view"]].assign(split=c["patient_id"].map(prep.assign).to_numpy())
    df.to_csv(path, index=False)


def _report(
    model,
    prep: Prepared,
    rows,
    cfg: RunConfig,
    out: Path,
    split: str,
    source: str,
    progress: bool,
    console,
) -> dict[str, Any]:
    from .augment import EvalPreset
    from .data import FrameDataset, make_loader
    from .evaluate import compute_metrics, predict, write_report

    c = model.cfg
    ds = FrameDataset(
        prep.store.frames,
        prep.index,
        rows,
        EvalPreset(mean=c.mean[:1], std=c.std[:1], in_chans=c.input_size[0]),
    )
    loader = make_loader(ds, batch_size=cfg.eval.batch_size, train=False)
    device = next(model.parameters()).device
    pred = predict(model, loader, device, progress=progress)
    metrics = compute_metrics(
        pred.labels, pred.probs, pred.cines, c.labels, ece_bins=cfg.eval.ece_bins
    )
    context = {
        "model": f"{c.name} ({source})",
        "split": split,
        "config": cfg.name,
        "scale": cfg.scale or "as written",
        "data": str(prep.manifest.root),
        "patients in split": len({p for p, s in prep.assign.items() if s == split})
        if split != "all"
        else len(prep.assign),
    }
    write_report(
        out,
        metrics,
        pred,
        title=f"{cfg.name} on {split}",
        simulated=prep.manifest.simulated,
        context=context,
        tsne_max=cfg.eval.tsne_max,
        ece_bins=cfg.eval.ece_bins,
        keys=dict(zip(prep.index["cine"], prep.index["key"], strict=True)),
    )
    if console is not None:
        print_metrics(metrics, console, simulated=prep.manifest.simulated, title=f"{split} ({out})")
    return metrics


def print_metrics(metrics: dict[str, Any], console, *, simulated: bool, title: str = "") -> None:
    from rich.table import Table

    t = Table(title=f"evaluation {title}" + (" — SIMULATED DATA" if simulated else ""))
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k in ("frames", "cines"):
        t.add_row(k, str(metrics[k]))
    for k in ("frame_accuracy", "sequence_accuracy", "macro_precision", "macro_recall", "macro_f1"):
        t.add_row(k.replace("_", " "), f"{100 * metrics[k]:.1f} %")
    t.add_row("macro AUC", "n/a" if metrics["macro_auc"] is None else f"{metrics['macro_auc']:.4f}")
    t.add_row("ECE", f"{metrics['expected_calibration_error']:.4f}")
    console.print(t)


def resolve_checkpoint(target: str | Path) -> Path:
    """A run folder → its ``final.pt`` (else ``best.pt``); a file → itself."""
    p = Path(target)
    if p.is_dir():
        for name in ("final.pt", "best.pt"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: no final.pt or best.pt in this run folder")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such run folder or model file")
    return p


def evaluate_main(
    target: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a run folder or checkpoint on ``split`` (``train``/``val``/``test``/``all``)."""
    from echostream.models.checkpoint import load_checkpoint

    from .data import select_rows

    ckpt_path = resolve_checkpoint(target)
    if ckpt_path.suffix == ".onnx":
        from .evaluate_onnx import evaluate_onnx

        return evaluate_onnx(ckpt_path, data_dir, split=split, out=out, progress=progress)
    model, ckpt = load_checkpoint(ckpt_path)
    cfg = (
        config_from_dict(dict(ckpt.get("config") or {}), where=str(ckpt_path))
        if ckpt.get("config")
        else RunConfig()
    )
    if cfg.data.store and not same_dataset(dict(ckpt.get("provenance") or {}), data_dir):
        # The training config's store holds the training data; another dataset with the same
        # relative cine paths would overwrite its rows. Use the dataset's own store.
        cfg.data = replace(cfg.data, store=None)
    console = _console()
    _, h, w = model.cfg.input_size
    prep = prepare_data(
        data_dir, cfg.data, (h, w), model.cfg.interpolation, progress=progress, console=console
    )
    rows = select_rows(prep.index, prep.assign, split, frames_per_cine=cfg.data.frames_per_cine)
    if not len(rows):
        raise ValueError(f"{data_dir}: the {split!r} split is empty")
    out_dir = Path(out) if out else ckpt_path.parent / f"eval_{split}"
    return _report(model, prep, rows, cfg, out_dir, split, ckpt_path.name, progress, console)
