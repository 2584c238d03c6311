"""Evaluation report: metrics (scikit-learn where it has them), plots, ``report.md`` and
``metrics.json``.

Metrics: frame accuracy; sequence accuracy by majority vote over each cine (as the thesis);
macro precision, recall and F1; the confusion matrix (counts, and rows normalised as the
thesis' Figure 2.10); one-vs-rest ROC curves with AUC per class; expected calibration error;
PCA(50) → t-SNE of the penultimate layer (the input of the model's ``head`` stage).

Example::

    pred = predict(model, loader, device)
    metrics = compute_metrics(pred.labels, pred.probs, pred.cines)
    write_report(out_dir, metrics, pred, ReportSettings(title="baseline", simulated=True))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echostream.stream.views import VIEWS

SIMULATED_WARNING = (
    "**Simulated data.** These numbers are measured on simulator output, not on real echo "
    "from patients; they say nothing about accuracy on real scans."
)


@dataclass
class Predictions:
    """Per frame: true label, class probabilities, cine id, and penultimate features."""

    labels: np.ndarray  # (N,) int
    probs: np.ndarray  # (N, K) float
    cines: np.ndarray  # (N,) cine id (int or str)
    features: np.ndarray | None = None  # (N, F)


def predict(
    model, loader, device="cpu", *, features: bool = True, progress: bool = False
) -> Predictions:
    """Run ``model`` over ``loader`` (yielding ``(x, y, row)``); ``row`` indexes the cine ids
    through ``loader.dataset.cines`` when present. Features are the input of the first module
    of ``model.stages["head"]`` (the 512-unit layer for the baseline)."""
    import torch

    from .loop import _progress

    model.eval().to(device)
    feats: list[np.ndarray] = []
    hook = None
    if features and "head" in getattr(model, "stages", {}):
        head = model.stages["head"][0]
        hook = head.register_forward_hook(
            lambda _m, inp, _o: feats.append(inp[0].detach().flatten(1).float().cpu().numpy())
        )
    ds = loader.dataset
    pos_of_row = {int(r): i for i, r in enumerate(getattr(ds, "rows", []))}
    labels, probs, cines = [], [], []
    try:
        with torch.no_grad(), _progress(progress) as bar:
            task = bar.add_task("predict", total=len(loader))
            for x, y, rows in loader:
                logits = model(x.to(device))
                probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
                labels.append(np.asarray(y))
                if hasattr(ds, "cines"):
                    cines.append(ds.cines[[pos_of_row[int(r)] for r in rows]])
                else:
                    cines.append(np.asarray(rows))
                bar.advance(task)
    finally:
        if hook is not None:
            hook.remove()
    return Predictions(
        labels=np.concatenate(labels) if labels else np.zeros(0, int),
        probs=np.concatenate(probs) if probs else np.zeros((0, 0)),
        cines=np.concatenate(cines) if cines else np.zeros(0, int),
        features=np.concatenate(feats) if feats else None,
    )


def majority_vote(pred: np.ndarray, probs: np.ndarray, cines: np.ndarray) -> dict[Any, int]:
    """Cine id → the class predicted for most of its frames (ties: the higher mean probability).

    >>> majority_vote(np.array([0, 1, 1, 2]), np.eye(3)[[0, 1, 1, 2]], np.array([7, 7, 7, 8]))
    {7: 1, 8: 2}
    """
    k = probs.shape[1]
    out: dict[Any, int] = {}
    for cine in dict.fromkeys(cines.tolist()):
        m = cines == cine
        votes = np.bincount(pred[m], minlength=k)
        tied = np.flatnonzero(votes == votes.max())
        out[cine] = (
            int(tied[np.argmax(probs[m][:, tied].mean(0))]) if len(tied) > 1 else int(tied[0])
        )
    return out


def sequence_accuracy(
    labels: np.ndarray, probs: np.ndarray, cines: np.ndarray
) -> tuple[float, int]:
    """Share of cines whose majority-vote class is their label, and the number of cines."""
    pred = probs.argmax(1)
    votes = majority_vote(pred, probs, cines)
    truth = {c: int(labels[cines == c][0]) for c in votes}
    right = sum(votes[c] == truth[c] for c in votes)
    return right / max(len(votes), 1), len(votes)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE over equal-width confidence bins: Σ (n_b/N) · |accuracy_b − confidence_b|."""
    conf = probs.max(1)
    right = probs.argmax(1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(ece)


def compute_metrics(
    labels: np.ndarray,
    probs: np.ndarray,
    cines: np.ndarray,
    class_names: Sequence[str] = VIEWS,
    *,
    ece_bins: int = 15,
) -> dict[str, Any]:
    """All report metrics as plain JSON-ready values."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    k = len(class_names)
    pred = probs.argmax(1)
    present = np.unique(labels)
    prec, rec, f1, support = precision_recall_fscore_support(
        labels, pred, labels=np.arange(k), zero_division=0
    )
    macro = precision_recall_fscore_support(
        labels, pred, labels=present, average="macro", zero_division=0
    )
    seq_acc, n_cines = sequence_accuracy(labels, probs, cines)
    auc: dict[str, float | None] = {}
    for c, name in enumerate(class_names):
        y = labels == c
        auc[name] = float(roc_auc_score(y, probs[:, c])) if 0 < y.sum() < len(y) else None
    cm = confusion_matrix(labels, pred, labels=np.arange(k))
    return {
        "frames": int(len(labels)),
        "cines": n_cines,
        "frame_accuracy": float(accuracy_score(labels, pred)),
        "sequence_accuracy": float(seq_acc),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "expected_calibration_error": expected_calibration_error(labels, probs, ece_bins),
        "auc": auc,
        "macro_auc": float(np.mean([v for v in auc.values() if v is not None]))
        if any(v is not None for v in auc.values())
        else None,
        "per_class": {
            name: {
                "precision": float(prec[c]),
                "recall": float(rec[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c, name in enumerate(class_names)
        },
        "confusion_matrix": cm.tolist(),
        "labels": list(class_names),
    }


# -- report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSettings:
    """What an evaluation report says beside its metrics, and how it draws them.

    ``context`` lines describe the run (model, split, data), ``notes`` are extra lines (e.g. why
    the t-SNE was skipped), ``keys`` name the items of ``items.csv`` by cine id; ``tsne_max``
    caps the t-SNE's points (0: no t-SNE) and ``ece_bins`` is the reliability diagram's bin
    count.
    """

    title: str
    simulated: bool
    context: dict[str, Any] | None = None
    notes: Sequence[str] = ()
    keys: dict[Any, str] | None = None
    tsne_max: int = 2000
    ece_bins: int = 15


def write_report(
    out_dir: str | Path,
    metrics: dict[str, Any],
    pred: Predictions,
    settings: ReportSettings,
) -> Path:
    """Write ``report.md``, ``metrics.json``, ``confusion.csv``/``.png``, ``roc.png``,
    ``reliability.png``, ``tsne.png`` (when features exist) and ``items.csv`` (one row per
    cine, :func:`item_results`) into ``out_dir``. Up to 100 items are also listed in
    ``report.md``."""
    import pandas as pd

    from .evaluate_items import item_results

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = metrics["labels"]
    _write_confusion_tables(out, names, np.asarray(metrics["confusion_matrix"]))
    plots = _write_plots(out, metrics, pred, settings)
    items = item_results(pred.labels, pred.probs, pred.cines, names, settings.keys)
    pd.DataFrame(items).to_csv(out / "items.csv", index=False)
    doc = {
        "title": settings.title,
        "simulated_data": bool(settings.simulated),
        **(settings.context or {}),
        "metrics": metrics,
    }
    if settings.notes:
        doc["notes"] = list(settings.notes)
    (out / "metrics.json").write_text(json.dumps(doc, indent=2, default=str))
    (out / "report.md").write_text(_markdown(settings, metrics, plots, items))
    return out / "report.md"


def _write_confusion_tables(out: Path, names: Sequence[str], cm: np.ndarray) -> None:
    """``confusion.csv`` (counts) and ``confusion_normalised.csv`` (rows normalised)."""
    import pandas as pd

    pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=names).to_csv(
        out / "confusion.csv"
    )
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    pd.DataFrame(norm.round(4), index=pd.Index(names, name="true"), columns=names).to_csv(
        out / "confusion_normalised.csv"
    )


def _write_plots(
    out: Path, metrics: dict[str, Any], pred: Predictions, settings: ReportSettings
) -> list[str]:
    """Confusion, ROC, reliability and (with features) t-SNE plots; their file names."""
    from .evaluate_plots import (
        plot_confusion,
        plot_reliability,
        plot_roc,
        plot_tsne,
        tsne_embedding,
    )

    names = metrics["labels"]
    cm = np.asarray(metrics["confusion_matrix"])
    title = f"{settings.title}: confusion (rows normalised)"
    plot_confusion(cm, names, out / "confusion.png", title)
    plot_roc(pred.labels, pred.probs, names, out / "roc.png", metrics["auc"])
    plot_reliability(pred.labels, pred.probs, out / "reliability.png", settings.ece_bins)
    plots = ["confusion.png", "roc.png", "reliability.png"]
    if pred.features is not None and len(pred.features) >= 5 and settings.tsne_max > 0:
        xy, lab = tsne_embedding(pred.features, pred.labels, settings.tsne_max)
        plot_tsne(xy, lab, names, out / "tsne.png")
        plots.append("tsne.png")
    return plots


def pct(v: float | None) -> str:
    """A fraction as a percentage with one decimal, ``"n/a"`` for None."""
    return "n/a" if v is None else f"{100 * v:.1f} %"


def headline_rows(m: dict[str, Any]) -> list[str]:
    """The markdown table of frames, cines, accuracies and macro precision/recall."""
    return [
        "| metric | value |",
        "|---|---|",
        f"| frames | {m['frames']} |",
        f"| cines | {m['cines']} |",
        f"| frame accuracy | {pct(m['frame_accuracy'])} |",
        f"| sequence accuracy (majority vote per cine) | {pct(m['sequence_accuracy'])} |",
        f"| macro precision | {pct(m['macro_precision'])} |",
        f"| macro recall | {pct(m['macro_recall'])} |",
    ]


def unknown_lines(u: dict[str, Any], *, simulated: bool) -> list[str]:
    """The known-vs-unknown numbers (:func:`~.unknown_fit.unknown_metrics`) as lines."""
    kind = "simulated data" if simulated else "this data"
    auroc = u["auroc"]
    return [
        f"known vs OTHER on {kind}: {u['known_frames']} known-view frames, "
        f"{u['other_frames']} OTHER frames",
        "AUROC (max_softmax, the best known view's probability): "
        + ("n/a" if auroc != auroc else f"{auroc:.4f}"),
        f"unknown rule of the model file: {u['rule']}",
        f"OTHER frames rejected: {pct(u['true_rejection'])}; known-view frames rejected: "
        f"{pct(u['false_rejection'])}",
        f"8-view accuracy on known-view frames: {pct(u['known_view_accuracy'])} with the rule, "
        f"{pct(u['known_view_accuracy_without_rejection'])} without",
    ]


def _markdown(
    settings: ReportSettings,
    m: dict[str, Any],
    plots: list[str],
    items: list[dict[str, Any]] | None = None,
) -> str:
    lines = [f"# Evaluation: {settings.title}", ""]
    if settings.simulated:
        lines += [SIMULATED_WARNING, ""]
    for k, v in (settings.context or {}).items():
        lines.append(f"- {k}: {v}")
    for note in settings.notes:
        lines.append(f"- note: {note}")
    lines += [
        "",
        *headline_rows(m),
        f"| macro F1 | {pct(m['macro_f1'])} |",
        f"| macro AUC (one-vs-rest) | {m['macro_auc']:.4f} |"
        if m["macro_auc"] is not None
        else "| macro AUC (one-vs-rest) | n/a |",
        f"| expected calibration error | {m['expected_calibration_error']:.4f} |",
        "",
        "| class | precision | recall | F1 | AUC | frames |",
        "|---|---|---|---|---|---|",
    ]
    for name, pc in m["per_class"].items():
        auc = m["auc"].get(name)
        lines.append(
            f"| {name} | {pct(pc['precision'])} | {pct(pc['recall'])} | {pct(pc['f1'])} | "
            f"{'n/a' if auc is None else f'{auc:.4f}'} | {pc['support']} |"
        )
    lines += [
        "",
        "Confusion matrix (counts; rows = true class) is in `confusion.csv`, row-normalised"
        " in `confusion_normalised.csv`.",
        "",
    ]
    if "unknown" in m:
        found = unknown_lines(m["unknown"], simulated=settings.simulated)
        lines += ["## Known views vs OTHER (unknown)", "", *(f"- {x}" for x in found), ""]
    if items and len(items) <= 100:
        from .evaluate_items import item_rows_markdown

        lines += [*item_rows_markdown(items), ""]
    lines += [f"![{p[:-4]}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
