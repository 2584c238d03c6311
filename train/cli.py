"""Commands of this package for the ``echostream`` CLI (imports nothing heavy at import time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from echostream.stream.views import VIEWS

if TYPE_CHECKING:
    from rich.console import Console

    from echostream.train.simulator.dataset import DatasetConfig


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root app and its ``bench`` group."""
    app.command("simulate")(simulate)
    bench.command("simulate")(bench_simulate_cmd)


def simulate(
    out: Path | None = typer.Option(None, "--out", help="Dataset folder to write."),
    patients: int = typer.Option(20, "--patients", help="Number of patients."),
    vendors: str = typer.Option(
        "epiq7g,ie33,sc2000",
        "--vendors",
        help="Comma-separated screen styles (one per patient).",
    ),
    views: str = typer.Option(
        ",".join(VIEWS), "--views", help="Comma-separated views per patient (OTHER = off-axis)."
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same bytes."),
    fmt: str = typer.Option("dicom", "--format", help="dicom | mp4"),
    encoding: str = typer.Option("jpeg", "--encoding", help="DICOM pixels: jpeg | rgb | mono"),
    workers: int = typer.Option(2, "--workers", help="Worker processes."),
    label_noise: float = typer.Option(
        0.0, "--label-noise", help="Probability of flipping a label to a neighbour."
    ),
    frames_per_cine: int | None = typer.Option(
        None, "--frames-per-cine", help="Frames per cine (default: one heartbeat, 30-60)."
    ),
    size: str | None = typer.Option(
        None, "--size", help="Screen WxH for all vendors (default: their own)."
    ),
    scale: float | None = typer.Option(
        None, "--scale", help="Fraction of each vendor's screen size."
    ),
    sweep: bool = typer.Option(
        False, "--sweep", help="Probe sweeps to a neighbouring view and back."
    ),
    ablate: str = typer.Option(
        "",
        "--ablate",
        help="Comma-separated realism features to switch off, to measure what they do: "
        "specular, anisotropy, lung, fat, texture, blotch, display, aim, framing, pathology, "
        "moderator_band, coronary_sinus, descending_aorta, smoke, foreshortening, letterbox, "
        "echonet, colour_flow.",
    ),
    display: str = typer.Option(
        "",
        "--display",
        help="Every cine as: screen (a scanner's screen) | letterbox (a screen in black bars) "
        "| echonet (112×112, sector only, no screen). Default: drawn per cine.",
    ),
    gallery: Path | None = typer.Option(
        None, "--gallery", help="Write a view × vendor picture (PNG) instead."
    ),
    beside: Path | None = typer.Option(
        None,
        "--beside",
        help="With --gallery: real labelled files (a folder with labels.csv) shown beside "
        "simulated cines, per view, as the model sees them.",
    ),
    features: bool = typer.Option(
        False,
        "--features",
        help="With --gallery: one row per realism feature of issue 13 (cines with it, then "
        "one without; a real frame first with --beside).",
    ),
) -> None:
    """Write a simulated echo dataset (cines + manifest.csv), or the gallery picture.

    Example: echostream simulate --out /tmp/sim --patients 20 --seed 1
    """
    from rich.console import Console

    console = Console(stderr=True)
    if gallery is not None:
        path = _write_gallery(
            gallery, beside, seed=seed, views=views, vendors=vendors, features=features
        )
        console.print(f"gallery written: {path}")
        return
    if out is None:
        raise typer.BadParameter("give --out DIR (or --gallery PNG)")
    from echostream.train.simulator.dataset import DatasetConfig, parse_size, plan

    try:
        cfg = DatasetConfig(
            out=out,
            patients=patients,
            vendors=_split(vendors),
            views=_split(views),
            seed=seed,
            fmt=fmt,
            encoding=encoding,
            workers=workers,
            label_noise=label_noise,
            n_frames=frames_per_cine,
            size=parse_size(size) if size else None,
            scale=scale,
            sweep=sweep,
            ablate=_split(ablate) if ablate else (),
            display=display,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    _write_with_progress(cfg, len(plan(cfg)), console)


def _write_gallery(
    gallery: Path, beside: Path | None, *, seed: int, views: str, vendors: str, features: bool
) -> Path:
    """``simulate --gallery``: the view × vendor picture, or simulated beside real files."""
    from echostream.train.simulator.gallery import write_gallery
    from echostream.train.simulator.vendors import VENDORS

    try:
        vend = _split(vendors)
        bad = [v for v in vend if v not in VENDORS]
        if bad:
            raise ValueError(f"unknown vendor(s) {', '.join(bad)}")
        if features or beside is not None:
            return write_gallery(gallery, beside=beside, features=features, seed=seed)
        return write_gallery(gallery, seed=seed, views=_split(views), vendors=vend)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def bench_simulate_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workers: int = typer.Option(2, "--workers"),
    size: str = typer.Option("640x480", "--size"),
    cines: int = typer.Option(8, "--cines"),
    frames: int = typer.Option(40, "--frames", help="Frames per cine."),
    repeats: int = typer.Option(3, "--repeats"),
) -> None:
    """Simulator frames/s (render only, and render + JPEG DICOM write)."""
    from echostream.train.simulator.bench import bench_simulate
    from echostream.train.simulator.dataset import parse_size

    try:
        wh = parse_size(size)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    res = bench_simulate(workers=workers, size=wh, cines=cines, frames=frames, repeats=repeats)
    if as_json:
        typer.echo(json.dumps(res))
    else:
        for k, v in res.items():
            typer.echo(f"{k}: {v}")


def _write_with_progress(cfg: DatasetConfig, n_cines: int, console: Console) -> None:
    """Run :func:`write_dataset` under a rich progress bar (cines, frames/s)."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from echostream.train.simulator.dataset import write_dataset

    frames = 0
    t0 = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]simulate[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("cines", total=n_cines, rate="")

        def on_row(row: dict[str, object]) -> None:
            nonlocal frames
            frames += int(row["n_frames"])  # type: ignore[call-overload]
            fps = frames / max(time.perf_counter() - t0, 1e-9)
            progress.update(task, advance=1, rate=f"{frames} frames, {fps:.0f} frames/s")

        manifest = write_dataset(cfg, on_row=on_row)
    console.print(f"{n_cines} cines, {frames} frames → {manifest}")
