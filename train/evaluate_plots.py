"""The evaluation report's plots: confusion matrix, one-vs-rest ROC, reliability diagram and
the t-SNE of the penultimate layer (matplotlib, Agg backend).

Example::

    plot_confusion(cm, names, out / "confusion.png", "baseline: confusion (rows normalised)")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix (recall on the diagonal), counts in small print."""
    plt = pyplot()
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n({cm[i, j]})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.6 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (rows normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_roc(
    labels: np.ndarray, probs: np.ndarray, names: Sequence[str], path: Path, auc: dict
) -> None:
    from sklearn.metrics import roc_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    for c, name in enumerate(names):
        y = labels == c
        if auc.get(name) is None:
            continue
        fpr, tpr, _ = roc_curve(y, probs[:, c])
        ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUC {auc[name]:.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.7)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("one-vs-rest ROC")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability(labels: np.ndarray, probs: np.ndarray, path: Path, bins: int = 15) -> None:
    from sklearn.calibration import calibration_curve

    plt = pyplot()
    right = (probs.argmax(1) == labels).astype(int)
    conf = probs.max(1)
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    if len(np.unique(right)) > 1:
        acc, mean_conf = calibration_curve(right, conf, n_bins=bins, strategy="uniform")
        ax.plot(mean_conf, acc, marker="o", label="model")
    ax.plot([0, 1], [0, 1], "k--", lw=0.7, label="calibrated")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tsne_embedding(features: np.ndarray, labels: np.ndarray, max_points: int = 2000, seed: int = 0):
    """PCA(50) → 2-D t-SNE of (a seeded subsample of) the features; returns (xy, labels)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    idx = np.arange(len(features))
    if len(idx) > max_points:
        idx = np.sort(rng.choice(idx, max_points, replace=False))
    x = features[idx]
    n_comp = min(50, x.shape[1], len(x))
    x = PCA(n_components=n_comp, random_state=seed).fit_transform(x)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return xy, labels[idx]


def plot_tsne(xy: np.ndarray, labels: np.ndarray, names: Sequence[str], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.2))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(names):
        m = labels == c
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=6, color=cmap(c % 10), label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("t-SNE of the penultimate layer (PCA 50 first)")
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
