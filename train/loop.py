"""The training loop: ``train_one_epoch``, ``evaluate`` and ``fit`` over stages.

``fit`` runs the config's stages one after another (one stage for a plain run; several for
gradual unfreezing): each stage unfreezes its named model stages, builds a fresh optimizer at
its learning rate, trains up to its epochs with optional early stopping, and may restore its
best weights before the next stage. Every epoch appends a row to ``history.csv``; the run
folder gets ``best.pt`` (best validation so far, over all stages), ``last.pt`` (everything
needed to resume) and ``curves.png``.

Under torchrun (``WORLD_SIZE`` set) :func:`setup_distributed` starts the process group, data
is sharded by :class:`~torch.utils.data.DistributedSampler`, the model is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, metrics are summed over ranks, and only
rank 0 writes files.
"""

from __future__ import annotations

import copy
import math
import os
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
from .history import plot_curves, write_history


@dataclass(frozen=True)
class DistInfo:
    """Where this process runs: rank, world size and device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=resolve_device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world=world, local_rank=local, device=dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DDP wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


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


def _reduce(values: list[float], info: DistInfo) -> list[float]:
    if not info.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return t.tolist()


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
    loss_sum = correct = count = 0.0
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
        loss_sum += float(loss.detach()) * len(y)
        correct += float((logits.detach().argmax(1) == y).sum())
        count += len(y)
        if task is not None:
            progress.update(task, advance=1, description=f"train loss {loss_sum / count:.3f}")
    if task is not None:
        progress.remove_task(task)
    loss_sum, correct, count = _reduce([loss_sum, correct, count], info)
    return {"loss": loss_sum / max(count, 1), "acc": correct / max(count, 1)}


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
    loss_sum = correct = count = 0.0
    task = progress.add_task("validate", total=len(loader)) if progress is not None else None
    for x, y, _ in loader:
        x, y = x.to(info.device, non_blocking=True), y.to(info.device, non_blocking=True)
        logits = model(x)
        loss_sum += float(criterion(logits, y)) * len(y)
        correct += float((logits.argmax(1) == y).sum())
        count += len(y)
        if task is not None:
            progress.advance(task)
    if task is not None:
        progress.remove_task(task)
    loss_sum, correct, count = _reduce([loss_sum, correct, count], info)
    return {"loss": loss_sum / max(count, 1), "acc": correct / max(count, 1)}


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
    run_dir = Path(run_dir)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    stages = cfg.train.stages
    sign = -1.0 if cfg.train.monitor == "val_acc" else 1.0  # lower is better after the sign
    state: dict[str, Any] = {
        "stage": 0,
        "stage_epoch": 0,
        "epoch": 0,
        "best": math.inf,
        "best_epoch": -1,
        "stage_best": math.inf,
        "bad": 0,
        "history": [],
        "stage_ends": [],
    }
    opt_state = None
    last = run_dir / "last.pt"
    stage_best_path = run_dir / "stage_best.pt"
    if resume and last.is_file():
        from echostream.models.checkpoint import read_checkpoint

        ckpt = read_checkpoint(last)
        model.load_state_dict(ckpt["model"])
        state.update(ckpt["extra"]["fit_state"])
        opt_state = ckpt.get("optimizer")
        torch.set_rng_state(ckpt["extra"]["rng"])
        if console is not None and info.is_main:
            console.print(
                f"resuming from {last} at epoch {state['epoch']} (stage {state['stage']})"
            )
    model.to(info.device)
    writer = _tensorboard(run_dir, cfg) if info.is_main else None
    sampler = getattr(train_loader, "sampler", None)
    stage_best_state: dict[str, torch.Tensor] | None = None
    if state["stage_best"] < math.inf and stage_best_path.is_file():
        stage_best_state = torch.load(stage_best_path, map_location="cpu", weights_only=True)

    bar = _progress(progress and info.is_main)
    with bar:
        for si in range(state["stage"], len(stages)):
            stage = stages[si]
            s = cfg.stage_settings(stage)
            set_trainable(model, stage.trainable)
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = build_optimizer(
                params, cfg.optim.name, s["lr"], cfg.optim.weight_decay, cfg.optim.momentum
            )
            if opt_state is not None:
                optimizer.load_state_dict(opt_state)
                opt_state = None
            net = model
            if info.distributed:
                ids = [info.device.index] if info.device.type == "cuda" else None
                net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
            epochs_task = bar.add_task(
                f"stage {stage.name}", total=s["epochs"], completed=state["stage_epoch"]
            )
            stop = False
            while state["stage_epoch"] < s["epochs"] and not stop:
                t0 = time.perf_counter()
                if sampler is not None and hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(state["epoch"])
                tr = train_one_epoch(net, train_loader, criterion, optimizer, info, progress=bar)
                va = evaluate(net, val_loader, criterion, info, progress=bar)
                state["epoch"] += 1
                state["stage_epoch"] += 1
                row = {
                    "epoch": state["epoch"],
                    "stage": stage.name,
                    "stage_epoch": state["stage_epoch"],
                    "lr": s["lr"],
                    "train_loss": tr["loss"],
                    "train_acc": tr["acc"],
                    "val_loss": va["loss"],
                    "val_acc": va["acc"],
                    "seconds": round(time.perf_counter() - t0, 2),
                }
                state["history"].append(row)
                metric = sign * (va["acc"] if sign < 0 else va["loss"])
                if metric < state["stage_best"]:
                    state["stage_best"], state["bad"] = metric, 0
                    if s["restore_best"]:
                        stage_best_state = copy.deepcopy(
                            {k: v.detach().cpu() for k, v in model.state_dict().items()}
                        )
                        if info.is_main:
                            torch.save(stage_best_state, stage_best_path)
                else:
                    state["bad"] += 1
                improved = metric < state["best"]
                if improved:
                    state["best"], state["best_epoch"] = metric, state["epoch"]
                stop = s["patience"] is not None and state["bad"] >= s["patience"]
                if info.is_main:
                    if improved:
                        save(
                            run_dir / "best.pt",
                            model,
                            epoch=state["epoch"],
                            optimizer_state=None,
                            extra={"val": va, "train": tr, "stage": stage.name},
                        )
                    write_history(run_dir / "history.csv", state["history"])
                    if writer is not None:
                        for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
                            writer.add_scalar(k.replace("_", "/", 1), row[k], state["epoch"])
                    if console is not None:
                        console.print(
                            f"epoch {state['epoch']:3d} \\[{stage.name}] "
                            f"train loss {tr['loss']:.4f} acc {tr['acc']:.3f} | "
                            f"val loss {va['loss']:.4f} acc {va['acc']:.3f}"
                            f"{' *' if improved else ''} ({row['seconds']:.1f}s)"
                        )
                bar.update(epochs_task, completed=state["stage_epoch"])
                end_of_stage = stop or state["stage_epoch"] >= s["epochs"]
                if end_of_stage:
                    if s["restore_best"] and stage_best_state is not None:
                        model.load_state_dict(stage_best_state)
                    state["stage_ends"].append(state["epoch"])
                    state.update(stage=si + 1, stage_epoch=0, stage_best=math.inf, bad=0)
                    stage_best_state = None
                    stop = True
                if info.is_main:
                    save(
                        last,
                        model,
                        epoch=state["epoch"],
                        optimizer_state=None if end_of_stage else optimizer.state_dict(),
                        extra={"fit_state": _plain(state), "rng": torch.get_rng_state()},
                    )
            if state["stage"] == si:  # a stage with 0 epochs left (e.g. resumed at its end)
                state["stage_ends"].append(state["epoch"])
                state.update(stage=si + 1, stage_epoch=0, stage_best=math.inf, bad=0)
            bar.remove_task(epochs_task)
            if info.distributed:
                dist.barrier()
    if info.is_main:
        plot_curves(state["history"], run_dir / "curves.png", state["stage_ends"][:-1])
        stage_best_path.unlink(missing_ok=True)
    if writer is not None:
        writer.close()
    return FitResult(
        history=state["history"],
        best_epoch=state["best_epoch"],
        best_metric=sign * state["best"],
        epochs_run=state["epoch"],
        stage_ends=state["stage_ends"],
    )


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    for k in ("best", "stage_best"):  # torch.load(weights_only) refuses inf? keep as float
        out[k] = float(out[k])
    return out


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
