"""Torch datasets over the frame store, whitening statistics, class weights and samplers.

Example::

    rows = select_rows(store.index, assign, "train", frames_per_cine=10)
    mean, std = pixel_stats(store.frames, rows)
    ds = FrameDataset(store.frames, store.index, rows, TrainPreset(mean=(mean,), std=(std,)))
    x, y, i = ds[0]          # (1, 60, 80) float32, class, row in the index
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from echostream.stream.views import VIEWS


class FrameDataset(Dataset):
    """Frames ``rows`` (positions in ``index``) of the store memmap, with their labels."""

    def __init__(self, frames: np.ndarray, index, rows: np.ndarray, transform) -> None:
        self.frames = frames
        self.rows = np.asarray(rows, dtype=np.int64)
        self.store_rows = index["row"].to_numpy()[self.rows]
        self.labels = index["label"].to_numpy()[self.rows].astype(np.int64)
        self.cines = index["cine"].to_numpy()[self.rows]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        img = torch.from_numpy(np.array(self.frames[self.store_rows[i]]))[None]  # (1, H, W) uint8
        return self.transform(img), int(self.labels[i]), int(self.rows[i])


def select_rows(
    index,
    assign: dict[str, str],
    split: str | Sequence[str],
    *,
    frames_per_cine: int | None = None,
    fraction: float | None = None,
    max_images: int | None = None,
    per_class: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Positions in ``index`` of the frames in ``split`` (a name, a list, or ``"all"``).

    ``frames_per_cine`` keeps that many evenly spaced frames of each cine. ``fraction`` or
    ``max_images`` subsample the result at random (seeded), per class when ``per_class`` (so
    class proportions stay as they are — the thesis' experiment 4).
    """
    names = {split} if isinstance(split, str) else set(split)
    split_of = index["patient_id"].map(assign)
    mask = np.ones(len(index), bool) if names == {"all"} else split_of.isin(names).to_numpy()
    if frames_per_cine:
        mask = mask & _evenly_spaced(index, frames_per_cine)
    rows = np.flatnonzero(mask)
    if fraction is None and max_images is None:
        return rows
    total = len(rows)
    want = total if fraction is None else max(1, round(fraction * total))
    want = min(want, max_images) if max_images is not None else want
    return subsample(rows, index["label"].to_numpy()[rows], want, per_class=per_class, seed=seed)


def _evenly_spaced(index, k: int) -> np.ndarray:
    frame = index["frame"].to_numpy()
    count = index.groupby("cine")["frame"].transform("size").to_numpy()
    step = np.maximum(count / k, 1.0)
    picks = np.floor(np.arange(k)[None, :] * step[:, None]).astype(np.int64)  # per row's cine
    return (picks == frame[:, None]).any(axis=1)


def subsample(
    rows: np.ndarray, labels: np.ndarray, n: int, *, per_class: bool = True, seed: int = 0
) -> np.ndarray:
    """``n`` of ``rows`` at random; per class in proportion (at least one each) when asked."""
    rng = np.random.default_rng(seed)
    if not per_class or n >= len(rows):
        return np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False))
    out = []
    classes, counts = np.unique(labels, return_counts=True)
    for c, count in zip(classes, counts, strict=True):
        take = max(1, round(n * count / len(rows)))
        out.append(rng.choice(rows[labels == c], size=min(take, count), replace=False))
    return np.sort(np.concatenate(out))


def pixel_stats(frames: np.ndarray, rows: np.ndarray, chunk: int = 4096) -> tuple[float, float]:
    """Mean and std of the stored frames at ``rows`` on the 0–1 scale (for whitening)."""
    total = total_sq = 0.0
    n = 0
    rows = np.sort(np.asarray(rows))
    for start in range(0, len(rows), chunk):
        x = np.asarray(frames[rows[start : start + chunk]], dtype=np.float64) / 255.0
        total += x.sum()
        total_sq += np.square(x).sum()
        n += x.size
    if n == 0:
        raise ValueError("no frames to compute the whitening statistics from")
    mean = total / n
    std = max(np.sqrt(max(total_sq / n - mean**2, 0.0)), 1e-6)
    return float(mean), float(std)


def class_weights(labels: np.ndarray, num_classes: int | None = None) -> torch.Tensor:
    """Balanced class weights (scikit-learn's ``n / (k · count)``); absent classes get 0.

    ``num_classes``: the model's output count (default: the 8 views, or more when ``labels``
    hold a higher class, such as ``OTHER``'s 8)."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    if num_classes is None:
        num_classes = max(len(VIEWS), int(present.max()) + 1 if len(present) else 0)
    w = np.zeros(num_classes, dtype=np.float32)
    w[present] = compute_class_weight("balanced", classes=present, y=labels)
    return torch.from_numpy(w)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    train: bool,
    workers: int = 0,
    seed: int = 0,
    distributed: bool = False,
    drop_last: bool | None = None,
) -> DataLoader:
    """A DataLoader; with ``distributed`` a :class:`DistributedSampler` shards the data."""
    sampler: Sampler | None = None
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=train, seed=seed, drop_last=False)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=workers,
        drop_last=bool(drop_last)
        if drop_last is not None
        else (train and len(cast(Sized, dataset)) > batch_size),
        generator=generator,
        persistent_workers=workers > 0,
    )


def eval_loader(
    model: Any, frames: np.ndarray, index: Any, rows: Any, batch_size: int
) -> DataLoader:
    """A loader over ``frames`` at index ``rows`` (that order), whitened as ``model.cfg`` says
    (its first channel's mean and std: the frame store is grey), for evaluation."""
    from .augment import EvalPreset

    c = model.cfg  # a registry model's ModelCfg
    preset = EvalPreset(mean=c.mean[:1], std=c.std[:1], in_chans=c.input_size[0])
    return make_loader(FrameDataset(frames, index, rows, preset), batch_size=batch_size,
                       train=False)  # fmt: skip
