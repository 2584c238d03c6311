"""Entry points behind ``echostream train`` and ``echostream evaluate`` (``main(args)`` style).

``train_main`` = config → :func:`~echostream.train.trainer.train_model` (model → manifest →
frame store → patient splits, table printed → whitening statistics →
:func:`~echostream.train.loop.fit` → ``final.pt``) → test report.
``evaluate_main`` = a run folder or checkpoint → the same data pipeline → report.

The run folder::

    config.yaml       the resolved config (also inside every checkpoint)
    splits.csv        cine → split
    history.csv       learning curves (and curves.png)
    best.pt / final.pt / last.pt   best validation / the trained model / resume state
    eval_test/        report.md, metrics.json, confusion.csv/.png, roc.png, tsne.png, ...
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import RunConfig, config_from_dict, load_config
from .evaluate_onnx import same_dataset
from .prepare import Prepared, prepare_data

if TYPE_CHECKING:
    from rich.console import Console

    from .evaluate import Predictions


def _console() -> Console:
    from rich.console import Console

    return Console()


def _default_run_dir(cfg: RunConfig) -> Path:
    return Path("runs") / (f"{cfg.name}-{cfg.scale}" if cfg.scale else cfg.name)


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
    """Train as the config says (:func:`~echostream.train.trainer.train_model`), then report
    on ``eval.split``; returns the run folder."""
    from .distributed import distributed_run
    from .trainer import RunSetup, train_model

    cfg = config if isinstance(config, RunConfig) else load_config(config, scale=scale)
    run_dir = Path(out) if out else _default_run_dir(cfg)
    with distributed_run(cfg.train.device) as info:
        console = _console() if info.is_main else None
        setup = RunSetup(run_dir, resume=resume, progress=progress, console=console)
        run = train_model(cfg, data_dir, setup, info)
        split = cfg.eval.split
        if info.is_main and evaluate_test and len(run.choice.rows.get(split, ())):
            out_dir = run_dir / f"eval_{split}"
            rows = run.choice.rows[split]
            # outlier exposure's OTHER frames have no output to be scored against
            rows = rows[run.prep.index["label"].to_numpy()[rows] < len(run.model.cfg.labels)]
            _report(run.model, run.prep, rows, cfg, out_dir, split, "final.pt", progress, console)
    return run_dir


def predict_rows(
    model, prep: Prepared, rows, cfg: RunConfig, *, progress: bool
) -> tuple[Predictions, dict[str, Any]]:
    """``model``'s predictions on the frames at ``rows`` (whitened as ``model.cfg`` says) and
    their metrics."""
    from .data import eval_loader
    from .evaluate import compute_metrics, predict

    c = model.cfg
    loader = eval_loader(model, prep.store.frames, prep.index, rows, cfg.eval.batch_size)
    device = next(model.parameters()).device
    pred = predict(model, loader, device, progress=progress)
    metrics = compute_metrics(
        pred.labels, pred.probs, pred.cines, c.labels, ece_bins=cfg.eval.ece_bins
    )
    return pred, metrics


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
    from .evaluate import ReportSettings, write_report

    pred, metrics = predict_rows(model, prep, rows, cfg, progress=progress)
    c = model.cfg
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
    settings = ReportSettings(
        title=f"{cfg.name} on {split}",
        simulated=prep.manifest.simulated,
        context=context,
        tsne_max=cfg.eval.tsne_max,
        ece_bins=cfg.eval.ece_bins,
        keys=dict(zip(prep.index["cine"], prep.index["key"], strict=True)),
    )
    write_report(out, metrics, pred, settings)
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
