"""The reproduction report's figures: copied from the runs (learning curves, confusion, t-SNE)
or drawn from the experiment summaries (held-out-vendor curves, accuracy against size).

Example::

    lines = figures_markdown("exp4", runs / "exp4", summary, figdir, base=Path("docs"))
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..evaluate_plots import pyplot
from .common import init_note, model_desc


def copy_figure(src: Path, dst: Path) -> str | None:
    """Copy ``src`` to ``dst`` (folders made); the copy's name, or None when there is no ``src``."""
    if not src.is_file():
        return None
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst.name


def _histories(run_dirs: list[Path]) -> list[list[dict[str, Any]]]:
    from echostream.train.history import read_history

    return [read_history(d / "history.csv") for d in run_dirs if (d / "history.csv").is_file()]


def fig_vendor_curves(d: Path, summary: dict[str, Any], path: Path) -> bool:
    """Figure 4.11: validation (held-out vendor) accuracy per epoch, mean over seeds, per split."""
    import numpy as np

    plt = pyplot()
    nets = sorted({c["meta"].get("network") for c in summary.values()})
    fig, axes = plt.subplots(1, len(nets), figsize=(5.2 * len(nets), 3.8), squeeze=False)
    drawn = False
    for ax, net in zip(axes[0], nets, strict=True):
        for name, c in summary.items():
            if c["meta"].get("network") != net:
                continue
            hs = _histories(sorted((d / name).glob("seed*")))
            if not hs:
                continue
            n = min(len(h) for h in hs)
            acc = np.mean([[r["val_acc"] for r in h[:n]] for h in hs], axis=0)
            ax.plot(
                range(1, n + 1),
                acc,
                marker=".",
                label=f"{'+'.join(c['meta']['train'])} → {'+'.join(c['meta']['heldout'])}",
            )
            drawn = True
        ax.set_title(str(net), fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("held-out vendor accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if drawn:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def fig_size(summary: dict[str, Any], path: Path) -> bool:
    """Figure 4.12: test accuracy against training fraction (log x), mean ± 95 % CI."""
    return fig_curve(
        summary, path, x_key="fraction", x_label="training set (% of the training split)"
    )


def fig_curve(
    summary: dict[str, Any], path: Path, *, x_key: str, x_label: str, percent: bool = True
) -> bool:
    """Test accuracy against ``meta[x_key]`` (log x; ×100 when ``percent``), one line per
    network and start, mean ± 95 % CI over seeds."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    by: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for c in summary.values():
        by.setdefault(f"{model_desc(c)}, {init_note(c)}", []).append((c["meta"][x_key], c))
    for label, pts in by.items():
        pts.sort(key=lambda p: p[0])
        xs = [(100 if percent else 1) * x for x, _ in pts]
        ys = [100 * (c["frame_accuracy"]["mean"] or 0) for _, c in pts]
        es = [100 * (c["frame_accuracy"]["ci95"] or 0) for _, c in pts]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return bool(by)


def figures_markdown(
    key: str, d: Path, summary: dict[str, Any], figdir: Path, base: Path
) -> list[str]:
    """Copy or draw the experiment's figures; markdown lines that show them."""
    L: list[str] = []

    def rel(p: Path) -> str:
        return str(p.relative_to(base))

    if key == "exp2":
        L += [
            "Learning curves of seed 0 (dashed lines: stage boundaries; thesis Figures 4.6, "
            "4.7), then the test confusion matrix and t-SNE of the penultimate layer per "
            "network (Figures 4.8, 4.9):",
            "",
        ]
        for name in summary:
            run = d / name / "seed0"
            parts = []
            for src, tag in (
                (run / "curves.png", "curves"),
                (run / "eval_test" / "confusion.png", "confusion"),
                (run / "eval_test" / "tsne.png", "tsne"),
            ):
                dst = figdir / f"exp2_{name}_{tag}.png"
                if copy_figure(src, dst):
                    parts.append(f"![{name} {tag}]({rel(dst)})")
            if parts:
                L += [f"- {name}: " + " ".join(parts)]
        L += [""]
    elif key == "exp3":
        p = figdir / "exp3_vendor_curves.png"
        if fig_vendor_curves(d, summary, p):
            L += [
                "Held-out-vendor accuracy per epoch, mean over seeds (thesis Figure 4.11):",
                "",
                f"![vendor curves]({rel(p)})",
                "",
            ]
    elif key == "exp4":
        p = figdir / "exp4_size.png"
        if fig_size(summary, p):
            L += [
                "Test accuracy against training-set size, mean ± 95 % CI (thesis Figure 4.12):",
                "",
                f"![size]({rel(p)})",
                "",
            ]
    return L
