"""``echostream calibrate``: fit a model file's temperature on a labelled split and store it in
the file (work imported inside the command).

Example::

    echostream calibrate models/zoo/m.onnx --data data/sim --split val
"""

from __future__ import annotations

from pathlib import Path

import typer


def calibrate(
    model: Path = typer.Argument(..., help="The ONNX model file to calibrate (rewritten)."),
    data: Path = typer.Option(..., "--data", help="Dataset folder holding manifest.csv"),
    split: str = typer.Option(
        "val",
        "--split",
        help="The split to fit on: one the model did not train on (val; all for a folder of "
        "your own labelled files).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Fit and report; leave the file."),
    unknown: bool = typer.Option(
        False,
        "--unknown",
        help="Fit the unknown-view threshold instead (max_softmax; needs cines labelled OTHER "
        "in the split), for --target false rejections of known-view frames.",
    ),
    target: float = typer.Option(
        0.02, "--target", help="With --unknown: the share of known-view frames it may reject."
    ),
    score: str = typer.Option(
        "max_softmax",
        "--score",
        help="With --unknown: max_softmax (a threshold on the probabilities) or mahalanobis "
        "(the penultimate features' distance to the views, built into the graph as an OTHER "
        "output; needs --fit).",
    ),
    fit: Path | None = typer.Option(
        None,
        "--fit",
        help="With --score mahalanobis: the folder whose known-view frames give the views' "
        "means and covariance (the training data; all its frames).",
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars"),
) -> None:
    """Temperature scaling: fit T on a split (the top-1 label never changes), print the split's
    calibration error before and after, and write T into the model file's metadata. With
    --unknown: fit the threshold under which a frame is "unknown" (not one of the views) on a
    split holding OTHER cines, and write it, its AUROC and its rates into the metadata.
    Calibrate the temperature first: the threshold is on the calibrated probabilities. With
    --score mahalanobis the gate goes into the graph (an OTHER output) instead: class means from
    --fit, the distance threshold from the split."""
    from .evaluate_onnx import predict_split

    if split not in ("train", "val", "test", "all"):
        typer.echo(f"error: --split must be train, val, test or all, not {split!r}", err=True)
        raise typer.Exit(2)
    if score not in ("max_softmax", "mahalanobis") or (score == "mahalanobis") != (
        unknown and fit is not None
    ):
        typer.echo("error: --score must be max_softmax, or mahalanobis with --unknown and --fit",
                   err=True)  # fmt: skip
        raise typer.Exit(2)
    try:
        if score == "mahalanobis":
            assert fit is not None
            message = _fit_gate(model, fit, data, split, dry_run=dry_run, target=target,
                                progress=not no_progress)  # fmt: skip
        else:
            run = predict_split(model, data, split=split, progress=not no_progress)
            _check_split(model, run, split)
            fitter = _fit_unknown if unknown else _fit_temperature
            message = fitter(model, run, split, dry_run=dry_run, target=target)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(message + (" (dry run: file unchanged)" if dry_run else ""))


def _check_split(model: Path, run, split: str) -> None:  # noqa: ANN001
    """Refuse a named split when the file's training split cannot be told."""
    if split != "all" and run.ckpt_path is None:
        raise ValueError(
            f"{model.name}: cannot tell which frames it trained on ({run.why_not}), so the "
            f"{split!r} split may hold training frames: keep its checkpoint beside it, or "
            "fit on a separate labelled folder with --split all"
        )


def _fit_gate(model: Path, fit_dir: Path, data: Path, split: str, *, dry_run: bool,
              target: float, progress: bool) -> str:  # fmt: skip
    """Fit and (unless ``dry_run``) build in the Mahalanobis gate; the line to print."""
    from .unknown_gate import (
        embed_split,
        fit_class_gaussians,
        fit_gate_threshold,
        min_mahalanobis,
        write_gate,
    )

    means_from = embed_split(model, fit_dir, split="all", progress=progress)
    if not means_from.known.any():
        raise ValueError(f"{fit_dir.name}: it holds no known-view frames to fit the means on")
    means, precision = fit_class_gaussians(means_from.features[means_from.known],
                                           means_from.labels[means_from.known])  # fmt: skip
    cal = embed_split(model, data, split=split, progress=progress)
    _check_split(model, cal.run, split)
    dist = min_mahalanobis(cal.features, means, precision)
    fitted = fit_gate_threshold(dist[cal.known], dist[~cal.known], target=target,
                                fit_frames=int(means_from.known.sum()))  # fmt: skip
    kind = "simulated" if cal.simulated else "real"
    if not dry_run:
        entry = fitted.metadata(
            split=split,
            simulated_data=cal.simulated,
            means_from="simulated" if means_from.simulated else "real",
        )
        write_gate(model, means, precision, fitted, entry)  # fmt: skip
    return (
        f"{model.name}: Mahalanobis gate, distance threshold {fitted.threshold:.1f} for ≤ "
        f"{target:.1%} known-view frames rejected (means from {fitted.fit_frames} frames), "
        f"fitted on {fitted.known_frames} known-view and {fitted.other_frames} OTHER frames of "
        f"the {split!r} split ({kind} data); AUROC known vs OTHER {fitted.auroc:.4f}; rejected "
        f"there: OTHER {fitted.true_rejection:.1%}, known views {fitted.false_rejection:.1%}"
    )


def _fit_temperature(model: Path, run, split: str, *, dry_run: bool, target: float) -> str:  # noqa: ANN001
    """Fit and (unless ``dry_run``) write the temperature; the line to print."""
    from .calibrate import calibrate as fit
    from .calibrate import write_calibration

    del target
    result = fit(run.probs, run.labels, current=run.info.temperature, split=split,
                 simulated_data=run.prep.manifest.simulated)  # fmt: skip
    if not dry_run:
        write_calibration(model, result)
    kind = "simulated" if result.simulated_data else "real"
    return (
        f"{model.name}: temperature {result.temperature:.3f} fitted on {result.frames} frames "
        f"of the {split!r} split ({kind} data); expected calibration error "
        f"{result.ece_before:.4f} → {result.ece_after:.4f}, NLL {result.nll_before:.4f} → "
        f"{result.nll_after:.4f}"
    )


def _fit_unknown(model: Path, run, split: str, *, dry_run: bool, target: float) -> str:  # noqa: ANN001
    """Fit and (unless ``dry_run``) write the unknown-view threshold; the line to print."""
    from .unknown_fit import fit_unknown_threshold, write_unknown

    known_probs, _, other_probs = run.known_and_other()
    if not len(other_probs):
        raise ValueError(
            f"{split!r} split of the data holds no frames labelled OTHER: the threshold needs "
            "cines that are none of the views (a folder with OTHER rows, --split all)"
        )
    fit = fit_unknown_threshold(known_probs, other_probs, run.info.labels, target=target)
    simulated = run.prep.manifest.simulated
    if not dry_run:
        write_unknown(model, fit.metadata(split=split, simulated_data=simulated))
    kind = "simulated" if simulated else "real"
    where = "the OTHER class alone rejects more" if fit.threshold is None else (
        f"max_softmax threshold {fit.threshold:.4f}"
    )  # fmt: skip
    return (
        f"{model.name}: {where} for ≤ {target:.1%} known-view frames rejected, fitted on "
        f"{fit.known_frames} known-view and {fit.other_frames} OTHER frames of the {split!r} "
        f"split ({kind} data); AUROC known vs OTHER {fit.auroc:.4f}; rejected there: OTHER "
        f"{fit.true_rejection:.1%}, known views {fit.false_rejection:.1%}"
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``calibrate`` to the root app."""
    del bench
    app.command("calibrate")(calibrate)
