"""One training run, the same for ``echostream train`` and every run of an experiment grid.

:func:`train_model` = model (ImageNet fallback when asked) → stage schedule → run folder
(``config.yaml``) → data (under DDP rank 0 builds the frame store, then every rank opens it) →
the run's frames → whitening statistics → loaders → :func:`~echostream.train.loop.fit` →
``final.pt``. What differs between callers is said in :class:`RunSetup`: which frames train,
validate and are evaluated (``choose_rows``), the stage schedule, what ``config.yaml`` holds,
extra provenance, and where output goes. Evaluation stays with the caller: ``echostream train``
and the grid write different reports.

Early stopping is the loop's, the same on every path: ``train.patience: null`` means none. A
stage's own ``patience: null`` takes ``train.patience`` (``RunConfig.stage_settings``), so a
stage schedule that wants none gives a patience longer than the stage
(:func:`~echostream.train.experiments.cell.gradual_stages`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from .config import RunConfig, StageCfg, class_names
from .prepare import Prepared, dataset_seed, prepare_data, write_splits

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from .distributed import DistInfo
    from .loop import FitResult

_UNAVAILABLE: dict[tuple[str, str | None], str] = {}  # (model, pretrained) → fallback label


@dataclass
class RowChoice:
    """The frames a run uses (row positions into ``Prepared.index``)."""

    rows: dict[str, np.ndarray]  # "train" and "val" (what fit uses), and what is evaluated
    eval_split: str = "test"  # the name of the evaluated split in reports
    facts: dict[str, Any] = field(default_factory=dict)  # how they were chosen (result.json)

    @property
    def repeats(self) -> int:
        """How often one epoch repeats the training frames (``facts["repeats"]``, default 1)."""
        return int(self.facts.get("repeats", 1))


def split_rows(prep: Prepared, cfg: RunConfig, *, seed: int | None = None) -> RowChoice:
    """The patient split's train / val / test frames; the training split subsampled as
    ``data`` says (``train_fraction``, ``train_max_images``, ``per_class``) with ``seed``
    (default ``data.split_seed``)."""
    from .data import select_rows

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
        seed=d.split_seed if seed is None else seed,
    )
    return RowChoice(rows, eval_split=cfg.eval.split)


def train_split_rows(prep: Prepared, cfg: RunConfig) -> RowChoice:
    """:func:`split_rows`, refusing an empty training or validation split (``echostream train``)."""
    choice = split_rows(prep, cfg)
    if not len(choice.rows["train"]) or not len(choice.rows["val"]):
        raise ValueError("the training or validation split is empty: too few patients?")
    return choice


@dataclass
class RunSetup:
    """How one training run differs from the plain ``echostream train`` run."""

    run_dir: Path
    resume: bool = False  # continue from run_dir/last.pt (refused there when False)
    progress: bool = True  # progress bars on the main process
    console: Any = None  # rich Console for store problems, split table, epochs (None: quiet)
    splits_csv: bool = True  # write run_dir/splits.csv
    choose_rows: Callable[[Prepared, RunConfig], RowChoice] = train_split_rows
    init_fallback: str | None = None  # "random": random init when ImageNet weights are missing
    stage_schedule: Callable[[Any], list[StageCfg]] | None = None  # model → train.stages
    config_record: Callable[[RunConfig], dict[str, Any]] | None = None  # config.yaml's content
    provenance: Callable[[str], dict[str, Any]] | None = None  # init label → extra provenance
    # seed_everything(seed + rank) before the loaders; False continues the random stream left
    # after the model's initialisation (the grid's runs, so that their results reproduce).
    # Always on under DDP, so every rank augments differently.
    reseed_for_loaders: bool = True


@dataclass
class TrainedRun:
    """What :func:`train_model` leaves for the caller to evaluate and report."""

    model: Any  # nn.Module with the run's whitening in model.cfg
    init: str  # how it was initialised, in words
    prep: Prepared
    choice: RowChoice
    result: FitResult
    train_seconds: float
    images_per_epoch: int
    device: torch.device


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
    if pretrained == "imagenet":
        return model, f"ImageNet ({model.cfg.pretrained})"
    return model, f"weights of {Path(pretrained).name}"  # a file: no local path in provenance


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


def train_model(
    cfg: RunConfig, data_dir: str | Path, setup: RunSetup, info: DistInfo
) -> TrainedRun:
    """Train as ``cfg`` and ``setup`` say (see the module docstring); ``final.pt`` is written
    by the main process. ``cfg.train.stages`` becomes the stage schedule's, when there is one."""
    import torch

    from .loop import fit, seed_everything

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    _claim_run_dir(setup.run_dir, setup.resume, info)
    seed_everything(cfg.seed)
    classes = class_names(cfg.data)  # the 8 views, then OTHER with data.other
    model_kwargs = {"num_classes": len(classes), **cfg.model.kwargs}
    model, init = create_with_fallback(
        cfg.model.name, cfg.model.pretrained, setup.init_fallback, **model_kwargs
    )
    model.cfg = model.cfg.with_(labels=classes)
    if setup.stage_schedule is not None:
        cfg.train.stages = setup.stage_schedule(model)
    if info.is_main:
        record = setup.config_record(cfg) if setup.config_record else cfg.to_dict()
        (setup.run_dir / "config.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    prep = _prepare_on_every_rank(data_dir, cfg, model, setup, info)
    choice = setup.choose_rows(prep, cfg)
    if setup.console is not None:
        _print_split_table(prep, choice, setup.console)
    if setup.splits_csv and info.is_main:
        write_splits(setup.run_dir / "splits.csv", prep)
    mean, std = _whiten_model(model, prep, choice.rows["train"])
    if setup.reseed_for_loaders or info.distributed:
        seed_everything(cfg.seed + info.rank)
    train_loader, val_loader, criterion = _loaders_and_loss(
        cfg, prep, choice, (mean, std), info, in_chans=model.cfg.input_size[0]
    )
    resolved = cfg.to_dict()
    provenance = _provenance(cfg, data_dir, prep, (mean, std), len(choice.rows["train"]))
    provenance["init"] = init
    provenance.update(setup.provenance(init) if setup.provenance else {})
    save = checkpoint_saver(cfg, model_kwargs, provenance, resolved)
    t0 = time.perf_counter()
    result = fit(
        model,
        train_loader,
        val_loader,
        cfg,
        setup.run_dir,
        criterion=criterion,
        save=save,
        info=info,
        resume=setup.resume,
        progress=setup.progress,
        console=setup.console,
    )
    train_seconds = time.perf_counter() - t0
    if info.is_main:
        extra = {
            "best_epoch": result.best_epoch,
            "best_metric": result.best_metric,
            "train_seconds": round(train_seconds, 1),
        }
        save(setup.run_dir / "final.pt", model, epoch=result.epochs_run, extra=extra)
    if setup.console is not None:
        setup.console.print(
            f"trained {result.epochs_run} epochs in {train_seconds:.0f} s; "
            f"best {cfg.train.monitor} {result.best_metric:.4f} at epoch {result.best_epoch}"
        )
    images = len(train_loader.dataset)  # type: ignore[arg-type]
    return TrainedRun(model, init, prep, choice, result, train_seconds, images, info.device)


def _claim_run_dir(run_dir: Path, resume: bool, info: DistInfo) -> None:
    """Make the run folder (main process); refuse one that holds a run unless resuming."""
    if not info.is_main:
        return
    if (run_dir / "last.pt").exists() and not resume:
        raise FileExistsError(f"{run_dir}: a run is already there; pass --resume or another --out")
    run_dir.mkdir(parents=True, exist_ok=True)


def _prepare_on_every_rank(
    data_dir: str | Path, cfg: RunConfig, model: Any, setup: RunSetup, info: DistInfo
) -> Prepared:
    """:func:`prepare_data`; under DDP rank 0 builds the frame store, the others open it."""
    _, h, w = model.cfg.input_size
    interpolation = model.cfg.interpolation
    if info.distributed:
        import torch.distributed as dist

        if info.is_main:
            prepare_data(
                data_dir,
                cfg.data,
                (h, w),
                interpolation,
                progress=setup.progress,
                console=setup.console,
                training=True,
            )
        dist.barrier()
    return prepare_data(
        data_dir,
        cfg.data,
        (h, w),
        interpolation,
        build=not info.distributed,
        progress=setup.progress,
        console=setup.console if not info.distributed else None,
        training=True,
    )


def _print_split_table(prep: Prepared, choice: RowChoice, console: Any) -> None:
    from echostream.stream.unknown import OTHER
    from echostream.stream.views import VIEWS

    from .manifest import CLASSES_WITH_OTHER
    from .splits import print_split_table, split_table

    used = np.unique(np.concatenate(list(choice.rows.values())))
    classes = CLASSES_WITH_OTHER if OTHER in set(prep.index["view"]) else VIEWS
    print_split_table(split_table(prep.index.iloc[used], prep.assign, classes), console)


def _whiten_model(model: Any, prep: Prepared, train_rows: np.ndarray) -> tuple[float, float]:
    """The training frames' pixel mean and std, written into ``model.cfg``."""
    from .data import pixel_stats

    mean, std = pixel_stats(prep.store.frames, prep.index["row"].to_numpy()[train_rows])
    in_chans = model.cfg.input_size[0]
    model.cfg = model.cfg.with_(mean=(mean,) * in_chans, std=(std,) * in_chans)
    return mean, std


def _loaders_and_loss(
    cfg: RunConfig,
    prep: Prepared,
    choice: RowChoice,
    whitening: tuple[float, float],
    info: DistInfo,
    *,
    in_chans: int,
) -> tuple[DataLoader, DataLoader, nn.Module]:
    """Training loader (augmented, repeated ``choice.repeats`` times an epoch), validation
    loader and the (class-weighted) cross-entropy loss."""
    from torch import nn
    from torch.utils.data import ConcatDataset, Dataset

    from .augment import EvalPreset, TrainPreset
    from .data import FrameDataset, class_weights, make_loader

    mean, std = (whitening[0],), (whitening[1],)
    frames, index, rows, t = prep.store.frames, prep.index, choice.rows, cfg.train
    train_tf = TrainPreset.from_cfg(cfg.augment, mean=mean, std=std, in_chans=in_chans)
    eval_tf = EvalPreset(mean=mean, std=std, in_chans=in_chans)
    frame_ds = FrameDataset(frames, index, rows["train"], train_tf)
    train_ds: Dataset = frame_ds
    if choice.repeats > 1:
        train_ds = ConcatDataset([frame_ds] * choice.repeats)
    val_ds = FrameDataset(frames, index, rows["val"], eval_tf)
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
    n_classes = len(class_names(cfg.data))
    known = frame_ds.labels[frame_ds.labels < n_classes]  # outlier exposure: OTHER is n_classes
    weights = class_weights(known, n_classes).to(info.device) if t.class_weights else None
    if cfg.data.other == "exposure":
        from .outlier_exposure import OutlierExposureLoss

        criterion: nn.Module = OutlierExposureLoss(
            n_classes, t.exposure_weight, class_weight=weights, label_smoothing=t.label_smoothing
        )
    else:
        criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=t.label_smoothing)
    return train_loader, val_loader, criterion


def _provenance(
    cfg: RunConfig,
    data_dir: str | Path,
    prep: Prepared,
    whitening: tuple[float, float],
    n_train: int,
) -> dict[str, Any]:
    from echostream.models.checkpoint import make_provenance

    mean, std = whitening
    return make_provenance(
        config=cfg.to_dict(),
        data=json.dumps(prep.manifest.describe()),
        simulated_data=prep.manifest.simulated,
        dataset_seed=dataset_seed(data_dir),
        whitening={"mean": mean, "std": std, "frames": int(n_train)},
    )
