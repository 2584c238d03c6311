"""``echostream classify``, ``echostream live`` and ``echostream bench stream``.

Only typer and the standard library are imported here; the work is imported inside each command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .cli_sources import path_namer
from .names import PATHS_HELP

BACKEND_HELP = "auto | onnxruntime | tensorrt | torch"


def _precision_option():  # noqa: ANN202
    from .precision import PRECISION_HELP

    return typer.Option("config", "--precision", "-p", help=PRECISION_HELP)


def _engine(  # noqa: ANN202
    model: Path | None,
    backend: str,
    cfg: dict,
    live: bool = False,
    precision: str | None = "config",
):
    """(engine, why this file) or exit 2 with one line naming the missing/bad file. Inference
    threads and spinning come from the ``backend`` (files) or ``live`` settings; the precision
    copy that runs from :func:`~.precision.choose_model_file` (``None``: the file as given)."""
    from .defaults import default_model_path, missing_model_message
    from .model_file import ModelFileError
    from .pipeline import Engine, backend_options
    from .precision import choose_model_file

    path = model or default_model_path()
    if not path.is_file():
        typer.echo(f"error: {missing_model_message(path)}", err=True)
        raise typer.Exit(2)
    section = cfg.get("backend", {})
    name = backend if backend != "config" else str(section.get("name", "auto"))
    if precision == "config":
        precision = str(section.get("precision", "auto"))
    try:
        path, why = (path, "the file given") if precision is None else (
            choose_model_file(path, name, precision)
        )  # fmt: skip
        engine = Engine.load(path, name, **backend_options(cfg, live=live))
    except (ModelFileError, RuntimeError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    return engine, why


def _config(config: Path | None) -> dict:
    from .defaults import load_stream_config

    try:
        return load_stream_config(config)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


def classify(
    paths: list[Path] = typer.Argument(..., help="DICOM/video/image files or folders (recursive)."),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="ONNX model file (default: shipped)."
    ),
    backend: str = typer.Option("config", "--backend", "-b", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV on stdout."),
    per_frame: bool = typer.Option(False, "--per-frame", help="Add every frame's label."),
    workers: int | None = typer.Option(None, "--workers", "-k", help="Decode threads per cine."),
    paths_shown: str = typer.Option("full", "--paths", help=PATHS_HELP),
    config: Path | None = typer.Option(None, "--config", help="Stream settings YAML."),
    precision: str = _precision_option(),
) -> None:
    """Classify the view of each cine: view, confidence, vote share, frames, fps, time."""
    from .classify import CSV_FIELDS, FRAME_CSV_FIELDS, classify_paths, expand_paths
    from .progress import file_progress
    from .sinks import write_csv, write_json

    if as_json and as_csv:
        typer.echo("error: choose one of --json and --csv", err=True)
        raise typer.Exit(2)
    namer = path_namer(paths_shown)
    cfg = _config(config)
    engine, why = _engine(model, backend, cfg, precision=precision)
    files = expand_paths(paths)
    if not files:
        typer.echo("error: no DICOM, video or image files found in the paths given", err=True)
        raise typer.Exit(1)
    with file_progress("classifying", len(files)) as advance:
        report = classify_paths(
            files, engine, cfg, workers=workers, per_frame=per_frame, on_done=advance,
            namer=namer,
        )  # fmt: skip
    report.model["choice"] = why
    data = report.to_dict()
    if as_json:
        write_json(data)
    elif as_csv:
        if per_frame:
            rows = [{"path": c.path, **f} for c in report.cines for f in (c.per_frame or [])]
            write_csv(rows, FRAME_CSV_FIELDS)
        else:
            write_csv([c.csv_row() for c in report.cines], CSV_FIELDS)
    else:
        _print_table(report, data)
    if report.failed:
        typer.echo(f"{len(report.failed)} file(s) failed:", err=True)
        for c in report.failed:
            typer.echo(f"  {c.error}", err=True)
        raise typer.Exit(1)


def _short_names(paths: list[str]) -> list[str]:
    """Paths relative to the folder they share (a single file: its name), for a narrow table.

    >>> _short_names(["/a/p1/x.dcm", "/a/p2/x.dcm"])
    ['p1/x.dcm', 'p2/x.dcm']
    """
    import os

    try:
        common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # different drives
        return list(paths)
    return [os.path.relpath(os.path.abspath(p), common) for p in paths]


def _print_table(report, data: dict) -> None:  # noqa: ANN001
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Column, Table

    from .model_file import data_text

    m = report.model
    console = Console()
    console.print(
        f"model [bold]{escape(str(m.get('model')))}[/bold] {escape(str(m.get('version')))} "
        f"({m.get('precision')}, {escape(Path(str(m.get('file'))).name)}); "
        f"data: {escape(data_text(m.get('data')))}",
        highlight=False,
    )
    console.print(f"[yellow]{escape(data['note'])}[/yellow]")
    wide = console.width >= 100  # speed columns only where the file names keep their room
    views = [Column(h, no_wrap=True) for h in ("view", "conf", "votes", "2nd", "frames", "fps")]
    speed = [Column(h, no_wrap=True) for h in ("frames/s", "time s")] if wide else []
    table = Table(Column("file", overflow="fold", ratio=1), *views, *speed, box=box.SIMPLE_HEAD)
    for c, name in zip(report.cines, _short_names([c.path for c in report.cines]), strict=True):
        rate = f"{c.frames_per_s:.0f}" if c.frames_per_s else ""
        times = [rate, f"{c.time_s:.2f}"] if wide else []
        if c.status == "ok":
            second = c.top2[1]["label"] if len(c.top2) > 1 else ""
            cells = [c.view or "", f"{c.confidence:.0%}", f"{c.vote_share:.0%}", second,
                     str(c.frames), f"{c.fps or 0:.1f}"]  # fmt: skip
        elif c.status == "not_classified":
            cells = [f"({c.acquisition}: not classified)", "", "", "", str(c.frames), ""]
        else:
            cells = ["[red]error[/red]", "", "", "", "", ""]
        table.add_row(escape(name), *cells, *times)
    console.print(table)
    frames, secs = sum(c.frames for c in report.cines), sum(c.time_s for c in report.cines)
    console.print(f"{len(report.cines)} file(s), {frames} frames in {secs:.2f} s", highlight=False)


def live(
    source: str = typer.Argument(
        ..., help="udp://, rtp://, rtsp:// URL, /dev/videoN, - or a file."
    ),
    out: str | None = typer.Option(None, "--out", "-o", help="Annotated video file or URL."),
    show: bool = typer.Option(False, "--show", help="Serve a live view page on 127.0.0.1."),
    port: int | None = typer.Option(None, "--port", help="Port of the --show page."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the latency report here."),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="ONNX model file (default: shipped)."
    ),
    backend: str = typer.Option("config", "--backend", "-b", help=BACKEND_HELP),
    max_frames: int | None = typer.Option(None, "--max-frames", help="Stop after N frames."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds."),
    fast: bool = typer.Option(False, "--fast", help="Files: as fast as possible, not real time."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-frame lines on stderr."),
    keep_screen: bool = typer.Option(
        False,
        "--keep-screen",
        help="Write/serve the whole screen, burned-in patient name and ID included "
        "(default: everything outside the ultrasound region is blanked).",
    ),
    paths_shown: str = typer.Option("full", "--paths", help=PATHS_HELP),
    config: Path | None = typer.Option(None, "--config", help="Stream settings YAML."),
    precision: str = _precision_option(),
) -> None:
    """Classify a live stream (or a file at its own frame rate) with the label overlay.

    Annotated output (--out, --show) shows only the ultrasound region unless --keep-screen.
    """
    from .errors import item_error
    from .live import LiveView, print_label, run_live_view
    from .sinks import to_json
    from .sources import source_kind

    namer = path_namer(paths_shown)
    cfg = _config(config)
    engine, _ = _engine(model, backend, cfg, live=True, precision=precision)
    labels = engine.labels
    count = {"n": 0}

    def on_result(r) -> None:  # noqa: ANN001
        count["n"] += 1
        if not quiet and count["n"] % 10 == 1:
            typer.echo(print_label(r, labels), err=True)

    try:
        view = LiveView(
            out=out, show=show, port=port, keep_screen=True if keep_screen else None,
            on_show=lambda url: typer.echo(f"live view: {url}", err=True),
            out_name=None if not out or source_kind(out) == "live" else namer(out),
        )  # fmt: skip
        report = run_live_view(
            source, engine, cfg, view, max_frames=max_frames, duration_s=duration,
            pace=False if fast else None, on_result=on_result,
            name=None if source_kind(source) == "live" else namer(source),
        )  # fmt: skip
    except OSError as err:  # e.g. the --show port or the --out file
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except Exception as err:  # noqa: BLE001 - one line naming the source, never a traceback
        from .sources.live import redact

        typer.echo(f"error: {item_error(redact(source), err)}", err=True)
        raise typer.Exit(1) from None
    text = to_json(report)
    if json_out:
        json_out.write_text(text + "\n")
    lat = report.get("frame_to_label_ms") or {}
    typer.echo(
        f"{report['frames_labelled']} frames labelled, dropped {report['dropped']}, "
        f"frame-to-label p50 {lat.get('p50', float('nan')):.2f} ms "
        f"p99 {lat.get('p99', float('nan')):.2f} ms",
        err=True,
    )
    screen = report.get("screen") or {}
    if screen.get("screen") == "blanked":
        typer.echo(
            "warning: no ultrasound region found in the source: the annotated output shows "
            "only the label panel (--keep-screen writes the whole screen)",
            err=True,
        )
    if report.get("error"):
        typer.echo(f"error: {report['error']}", err=True)
        raise typer.Exit(1)


def bench_stream(
    source: Path | None = typer.Argument(None, help="A cine (e.g. 100 frames 600×800 YBR JPEG)."),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="ONNX model file (default: shipped)."
    ),
    backend: str = typer.Option("config", "--backend", "-b", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the only output format)."),
    repeat: int = typer.Option(3, "--repeat", help="Runs per measurement (median reported)."),
    workers: int | None = typer.Option(None, "--workers", "-k", help="Decode threads."),
    pre_workers: int | None = typer.Option(
        None, "--preprocess-workers", help="Preprocessing threads (reader.preprocess_workers)."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="Torch weights for the naive loop."
    ),
    no_naive: bool = typer.Option(False, "--no-naive", help="Skip the naive reference loop."),
    no_live: bool = typer.Option(False, "--no-live", help="Skip the live-path run."),
    sweep: list[Path] | None = typer.Option(
        None,
        "--sweep",
        help="Sweep cine with <cine>.labels.json (see `echostream simulate-sweep`), or a folder "
        "of them; repeatable (metrics pooled).",
    ),
    sweep_truth: list[Path] | None = typer.Option(
        None, "--sweep-truth", help="Its truth sidecar (one per --sweep, in order)."
    ),
    steady: list[Path] | None = typer.Option(
        None, "--steady", help="A one-view cine (e.g. real echo) for label flicker; repeatable."
    ),
    no_int8: bool = typer.Option(
        False, "--no-int8", help="Do not also time the model's .int8.onnx sibling."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON here."),
    config: Path | None = typer.Option(None, "--config", help="Stream settings YAML."),
) -> None:
    """Per-stage latency, end-to-end fps, naive-loop and decode-only references, smoothing."""
    from .bench_stream import BenchOptions, run_bench
    from .errors import SourceError
    from .sinks import to_json

    del as_json  # JSON is what this command prints
    cfg = _config(config)
    if pre_workers is not None:
        cfg["reader"]["preprocess_workers"] = pre_workers
    sweeps = _sweep_cines(sweep or [])
    if sweep_truth and len(sweep_truth) != len(sweeps):
        typer.echo("error: give one --sweep-truth per --sweep cine, in order", err=True)
        raise typer.Exit(2)
    if source is None and not sweeps:
        typer.echo("error: give a SOURCE cine (and/or --sweep)", err=True)
        raise typer.Exit(2)
    options = BenchOptions(
        repeat=repeat, workers=workers, naive=not no_naive, live=not no_live, int8=not no_int8,
        checkpoint=str(checkpoint) if checkpoint else None, sweep=[str(p) for p in sweeps],
        sweep_truth=[str(p) for p in sweep_truth] if sweep_truth else None,
        steady=[str(p) for p in steady or []],
    )  # fmt: skip
    # the file as given: its int8 copy is timed separately (--no-int8 skips it)
    engine, _ = _engine(model, backend, cfg, precision=None)
    live_engine = None if no_live else _engine(model, backend, cfg, True, None)[0]
    try:
        result = run_bench(
            str(source or sweeps[0]), engine, cfg, options, live_engine=live_engine,
            progress=lambda msg: typer.echo(msg, err=True),
        )  # fmt: skip
    except (SourceError, FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    text = to_json(result)
    if out:
        out.write_text(text + "\n")
    sys.stdout.write(text + "\n")


def _sweep_cines(paths: list[Path]) -> list[Path]:
    """``--sweep`` values with each folder replaced by the cines in it that have a truth
    sidecar (``<cine>.labels.json``), in name order."""
    cines: list[Path] = []
    for path in paths:
        if path.is_dir():
            cines += [
                p
                for p in sorted(path.iterdir())
                if p.suffix != ".json" and p.with_suffix(".labels.json").is_file()
            ]
        else:
            cines.append(path)
    return cines


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``classify`` and ``live`` to the root app and ``stream`` to ``bench``."""
    app.command("classify")(classify)
    app.command("live")(live)
    bench.command("stream")(bench_stream)
