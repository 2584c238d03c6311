"""The training loop: ``train_one_epoch``, ``evaluate`` and ``fit`` over stages.

``fit`` runs the config's stages one after another (one stage for a plain run; several for
gradual unfreezing): each stage unfreezes its named model stages, builds a fresh optimizer at
its learning rate, trains up to its epochs with optional early stopping, and may restore its
best weights before the next stage. Every epoch appends a row to ``history.csv``; the run
folder gets ``best.pt`` (best validation so far, over all stages), ``last.pt`` (everything
needed to resume) and ``curves.png``.

Under torchrun (``WORLD_SIZE`` set, :mod:`~echostream.train.distributed` joined the process
group) data is sharded by :class:`~torch.utils.data.DistributedSampler`, the model is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, metrics are summed over ranks, and only
rank 0 writes files.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from .config import RunConfig
from .distributed import DistInfo, sum_over_ranks
from .history import plot_curves, write_history


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizer(params, name: str, lr: float, weight_decay: float = 0.0, momentum: float = 0.0):
    """Adam, AdamW, RMSprop or SGD over ``params``."""
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        # Keras' RMSprop: rho 0.9, eps 1e-7 (torch: alpha, eps 1e-8)
        return torch.optim.RMSprop(
            params, lr=lr, alpha=0.9, eps=1e-7, weight_decay=weight_decay, momentum=momentum
        )
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; known: adam, adamw, rmsprop, sgd")


def _hits(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
    """Right answers and frames counted for accuracy: frames of a class the model has an
    output for (outlier exposure's OTHER frames have none and are not counted)."""
    counted = y < logits.shape[1]
    return float((logits.argmax(1)[counted] == y[counted]).sum()), int(counted.sum())


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    info: DistInfo,
    *,
    progress: Any = None,
    max_steps: int | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns the mean loss and accuracy (over all ranks)."""
    model.train()
    loss_sum = correct = count = frames = 0.0
    task = progress.add_task("train", total=len(loader)) if progress is not None else None
    for step, (x, y, _) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        x, y = x.to(info.device, non_blocking=True), y.to(info.device, non_blocking=True)
        logits = model(x)  # (B, num_classes)
        loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum, frames = loss_sum + float(loss.detach()) * len(y), frames + len(y)
        hits, n = _hits(logits.detach(), y)
        correct, count = correct + hits, count + n
        if task is not None:
            progress.update(task, advance=1, description=f"train loss {loss_sum / frames:.3f}")
    if task is not None:
        progress.remove_task(task)
    loss_sum, correct, count, frames = sum_over_ranks([loss_sum, correct, count, frames], info)
    return {"loss": loss_sum / max(frames, 1), "acc": correct / max(count, 1)}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    info: DistInfo,
    *,
    progress: Any = None,
) -> dict[str, float]:
    """Mean loss and accuracy over ``loader`` (summed over ranks)."""
    model.eval()
    loss_sum = correct = count = frames = 0.0
    task = progress.add_task("validate", total=len(loader)) if progress is not None else None
    for x, y, _ in loader:
        x, y = x.to(info.device, non_blocking=True), y.to(info.device, non_blocking=True)
        logits = model(x)
        loss_sum, frames = loss_sum + float(criterion(logits, y)) * len(y), frames + len(y)
        hits, n = _hits(logits, y)
        correct, count = correct + hits, count + n
        if task is not None:
            progress.advance(task)
    if task is not None:
        progress.remove_task(task)
    loss_sum, correct, count, frames = sum_over_ranks([loss_sum, correct, count, frames], info)
    return {"loss": loss_sum / max(frames, 1), "acc": correct / max(count, 1)}


def set_trainable(model: nn.Module, trainable: str | list[str]) -> None:
    """Unfreeze everything (``"all"``) or only the named ``model.stages``."""
    if trainable == "all":
        for p in model.parameters():
            p.requires_grad_(True)
        return
    from echostream.models.registry import set_trainable_stages

    names = [trainable] if isinstance(trainable, str) else list(trainable)
    unknown = [n for n in names if n not in getattr(model, "stages", {})]
    if unknown:
        raise ValueError(
            f"unknown model stage(s) {unknown}; model has {list(getattr(model, 'stages', {}))}"
        )
    set_trainable_stages(model, names)


SaveFn = Callable[..., None]  # save(path, model, *, epoch, optimizer_state, extra)


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float
    epochs_run: int
    stage_ends: list[int]  # global epoch count at the end of each stage


@dataclass
class FitState:
    """Where :func:`fit` is; saved in ``last.pt`` (``extra["fit_state"]``) to resume from.
    ``best`` and ``stage_best`` are signed so that lower is better."""

    stage: int = 0
    stage_epoch: int = 0
    epoch: int = 0
    best: float = math.inf
    best_epoch: int = -1
    stage_best: float = math.inf
    bad: int = 0  # epochs since the stage's best
    history: list[dict[str, Any]] = field(default_factory=list)
    stage_ends: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "best": float(self.best), "stage_best": float(self.stage_best)}

    def next_stage(self, done: int) -> None:
        """Stage ``done`` ended: record where, and start the next one afresh."""
        self.stage_ends.append(self.epoch)
        self.stage, self.stage_epoch, self.stage_best, self.bad = done + 1, 0, math.inf, 0


@dataclass
class _Fit:
    """What stays the same through one :func:`fit` call."""

    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    cfg: RunConfig
    run_dir: Path
    criterion: nn.Module
    save: SaveFn
    info: DistInfo
    console: Any
    bar: Any = None
    writer: Any = None
    opt_state: dict[str, Any] | None = None  # a resumed optimizer, for the first stage run
    stage_best_weights: dict[str, torch.Tensor] | None = None  # for restore_best

    @property
    def sign(self) -> float:
        """-1 when the monitored metric is an accuracy: lower is better after the sign."""
        return -1.0 if self.cfg.train.monitor == "val_acc" else 1.0


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    criterion: nn.Module,
    save: SaveFn,
    info: DistInfo | None = None,
    resume: bool = False,
    progress: bool = True,
    console: Any = None,
) -> FitResult:
    """Train ``model`` through ``cfg.train.stages``; see the module docstring.

    ``save(path, model, epoch=, optimizer_state=, extra=)`` writes a checkpoint (the runner's
    :func:`save_checkpoint` with provenance); ``fit`` only decides when and what.
    """
    info = info or DistInfo()
    run = _Fit(model, train_loader, val_loader, cfg, Path(run_dir), criterion, save, info, console)
    if info.is_main:
        run.run_dir.mkdir(parents=True, exist_ok=True)
    state = _resume(run) if resume and (run.run_dir / "last.pt").is_file() else FitState()
    model.to(info.device)
    run.writer = _tensorboard(run.run_dir, cfg) if info.is_main else None
    stage_best_path = run.run_dir / "stage_best.pt"
    if state.stage_best < math.inf and stage_best_path.is_file():
        run.stage_best_weights = torch.load(stage_best_path, map_location="cpu", weights_only=True)
    with _progress(progress and info.is_main) as run.bar:
        for si in range(state.stage, len(cfg.train.stages)):
            _fit_stage(run, state, si)
    if info.is_main:
        plot_curves(state.history, run.run_dir / "curves.png", state.stage_ends[:-1])
        stage_best_path.unlink(missing_ok=True)
    if run.writer is not None:
        run.writer.close()
    return FitResult(
        history=state.history,
        best_epoch=state.best_epoch,
        best_metric=run.sign * state.best,
        epochs_run=state.epoch,
        stage_ends=state.stage_ends,
    )


def _resume(run: _Fit) -> FitState:
    """Load ``last.pt``: the model's weights, the fit state, the optimizer and the RNG."""
    from echostream.models.checkpoint import read_checkpoint

    last = run.run_dir / "last.pt"
    ckpt = read_checkpoint(last)
    run.model.load_state_dict(ckpt["model"])
    state = FitState(**ckpt["extra"]["fit_state"])
    run.opt_state = ckpt.get("optimizer")
    torch.set_rng_state(ckpt["extra"]["rng"])
    if run.console is not None and run.info.is_main:
        run.console.print(f"resuming from {last} at epoch {state.epoch} (stage {state.stage})")
    return state


def _fit_stage(run: _Fit, state: FitState, si: int) -> None:
    """Stage ``si``: unfreeze, a fresh optimizer at its rate, epochs until done or stopped."""
    stage = run.cfg.train.stages[si]
    s = run.cfg.stage_settings(stage)
    optimizer = _stage_optimizer(run, stage.trainable, s["lr"])
    net = run.model
    if run.info.distributed:
        ids = [run.info.device.index] if run.info.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(run.model, device_ids=ids)
    task = run.bar.add_task(f"stage {stage.name}", total=s["epochs"], completed=state.stage_epoch)
    stop = False
    while state.stage_epoch < s["epochs"] and not stop:
        stop = _fit_epoch(run, state, net, optimizer, stage.name, s)
        run.bar.update(task, completed=state.stage_epoch)
        end_of_stage = stop or state.stage_epoch >= s["epochs"]
        if end_of_stage:
            if s["restore_best"] and run.stage_best_weights is not None:
                run.model.load_state_dict(run.stage_best_weights)
            state.next_stage(si)
            run.stage_best_weights = None
            stop = True
        if run.info.is_main:
            run.save(
                run.run_dir / "last.pt",
                run.model,
                epoch=state.epoch,
                optimizer_state=None if end_of_stage else optimizer.state_dict(),
                extra={"fit_state": state.as_dict(), "rng": torch.get_rng_state()},
            )
    if state.stage == si:  # a stage with 0 epochs left (e.g. resumed at its end)
        state.next_stage(si)
    run.bar.remove_task(task)
    if run.info.distributed:
        dist.barrier()


def _stage_optimizer(run: _Fit, trainable: str | list[str], lr: float) -> torch.optim.Optimizer:
    """Unfreeze ``trainable``; an optimizer over what trains (the resumed state, if any)."""
    set_trainable(run.model, trainable)
    params = [p for p in run.model.parameters() if p.requires_grad]
    o = run.cfg.optim
    optimizer = build_optimizer(params, o.name, lr, o.weight_decay, o.momentum)
    if run.opt_state is not None:
        optimizer.load_state_dict(run.opt_state)
        run.opt_state = None
    return optimizer


def _fit_epoch(
    run: _Fit,
    state: FitState,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    stage: str,
    s: dict[str, Any],
) -> bool:
    """Train and validate one epoch, keep the bests, write what the epoch leaves; returns
    whether early stopping ends the stage (``patience`` None: never)."""
    t0 = time.perf_counter()
    sampler = getattr(run.train_loader, "sampler", None)
    if sampler is not None and hasattr(sampler, "set_epoch"):
        sampler.set_epoch(state.epoch)
    info, bar = run.info, run.bar
    tr = train_one_epoch(net, run.train_loader, run.criterion, optimizer, info, progress=bar)
    va = evaluate(net, run.val_loader, run.criterion, info, progress=bar)
    state.epoch += 1
    state.stage_epoch += 1
    row = {
        "epoch": state.epoch,
        "stage": stage,
        "stage_epoch": state.stage_epoch,
        "lr": s["lr"],
        "train_loss": tr["loss"],
        "train_acc": tr["acc"],
        "val_loss": va["loss"],
        "val_acc": va["acc"],
        "seconds": round(time.perf_counter() - t0, 2),
    }
    state.history.append(row)
    metric = run.sign * (va["acc"] if run.sign < 0 else va["loss"])
    if metric < state.stage_best:
        state.stage_best, state.bad = metric, 0
        if s["restore_best"]:
            _keep_stage_best(run)
    else:
        state.bad += 1
    improved = metric < state.best
    if improved:
        state.best, state.best_epoch = metric, state.epoch
    if info.is_main:
        if improved:
            run.save(
                run.run_dir / "best.pt",
                run.model,
                epoch=state.epoch,
                optimizer_state=None,
                extra={"val": va, "train": tr, "stage": stage},
            )
        _record_epoch(run, state, row, improved)
    return s["patience"] is not None and state.bad >= s["patience"]


def _keep_stage_best(run: _Fit) -> None:
    """Copy the weights as the stage's best (and to ``stage_best.pt`` for a resume)."""
    weights = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    run.stage_best_weights = copy.deepcopy(weights)
    if run.info.is_main:
        torch.save(run.stage_best_weights, run.run_dir / "stage_best.pt")


def _record_epoch(run: _Fit, state: FitState, row: dict[str, Any], improved: bool) -> None:
    """``history.csv``, TensorBoard scalars and the console's epoch line (main process)."""
    write_history(run.run_dir / "history.csv", state.history)
    if run.writer is not None:
        for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
            run.writer.add_scalar(k.replace("_", "/", 1), row[k], state.epoch)
    if run.console is not None:
        run.console.print(
            f"epoch {state.epoch:3d} \\[{row['stage']}] "
            f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
            f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}"
            f"{' *' if improved else ''} ({row['seconds']:.1f}s)"
        )


def _tensorboard(run_dir: Path, cfg: RunConfig):
    if not cfg.train.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: optional
        return None
    return SummaryWriter(str(run_dir / "tb"))


def _progress(enabled: bool):  # epochs: bars vanish when done
    from .progress import progress_bar

    return progress_bar(enabled, transient=True)
