"""A training run's history: ``history.csv`` (one row per epoch) and its loss/accuracy curves.

Example::

    rows = read_history("runs/exp1/history.csv")
    plot_curves(rows, "curves.png", stage_ends=[5])
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from echostream.stream.atomic import atomic_file

HISTORY_COLUMNS = (
    "epoch",
    "stage",
    "stage_epoch",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "seconds",
)


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """``history.csv``: one row per epoch (:data:`HISTORY_COLUMNS`), written atomically."""
    with atomic_file(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
        w.writeheader()
        w.writerows(history)


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """``history.csv`` back, numbers as floats."""
    with Path(path).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in HISTORY_COLUMNS:
            if k != "stage":
                r[k] = float(r[k])
    return rows


def plot_curves(
    history: list[dict[str, Any]], path: str | Path, stage_ends: Sequence[int] = ()
) -> None:
    """Train/val loss and accuracy per epoch; dashed lines at stage boundaries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    ep = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, what in zip(axes, ("loss", "acc"), strict=True):
        ax.plot(ep, [r[f"train_{what}"] for r in history], label="train", marker=".")
        ax.plot(ep, [r[f"val_{what}"] for r in history], label="validation", marker=".")
        for end in stage_ends:
            ax.axvline(end + 0.5, color="gray", ls="--", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if what == "acc" else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
