"""``echostream serve`` (a DICOM receiver that classifies on arrival) and ``echostream results``.

Only typer and the standard library are imported here; the work is imported inside each command.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import typer

from .cli_stream import BACKEND_HELP, _config, _engine


def serve(
    port: int = typer.Option(11112, "--port", help="TCP port (0: any free one, printed)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."
    ),
    ae_title: str = typer.Option("ECHOSTREAM", "--ae-title", help="This node's AE title."),
    db: Path = typer.Option(Path("echostream-results.sqlite"), "--db", help="Results database."),
    spool: Path = typer.Option(
        Path("echostream-spool"), "--spool", help="Folder received instances wait in."
    ),
    workers: int = typer.Option(1, "--workers", "-k", help="Instances classified at once."),
    threads: int | None = typer.Option(
        None, "--threads", help="Inference threads per worker (default: backend.threads)."
    ),
    max_pending: int = typer.Option(
        1000, "--max-pending", help="Instances the spool holds before refusing (0xA700)."
    ),
    max_spool_mb: float = typer.Option(
        2048.0, "--max-spool-mb", help="Spool size before refusing (0xA700)."
    ),
    max_associations: int = typer.Option(16, "--max-associations", help="Open at once."),
    forward: str | None = typer.Option(
        None, "--forward", help="Send each classified instance on to AE@host:port."
    ),
    require_called_ae: bool = typer.Option(
        False, "--require-called-ae", help="Refuse associations not addressed to --ae-title."
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="ONNX model file (default: shipped)."
    ),
    backend: str = typer.Option("config", "--backend", "-b", help=BACKEND_HELP),
    config: Path | None = typer.Option(None, "--config", help="Stream settings YAML."),
) -> None:
    """Receive cines over DICOM (C-STORE, C-ECHO) and classify each one as it arrives.

    Each instance is on disk before the sender hears "stored"; its verdict goes to the results
    database (one row per instance, the patient ID only as a keyed hash) and to stdout as one
    JSON line. SIGTERM or Ctrl-C finishes the work in hand; the rest waits in the spool.
    """
    from .serve import Receiver, ServeOptions, json_line_writer
    from .serve_forward import Forwarder

    if forward:
        try:
            Forwarder.parse(forward)
        except ValueError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
    cfg = _config(config)
    if threads is not None:
        cfg["backend"]["threads"] = threads
    engine, _ = _engine(model, backend, cfg)
    options = ServeOptions(
        spool=spool, db=db, ae_title=ae_title, host=host, port=port, workers=workers,
        max_pending=max_pending, max_spool_bytes=int(max_spool_mb * 2**20),
        max_associations=max_associations, forward=forward,
        require_called_ae=require_called_ae,
    )  # fmt: skip
    try:
        receiver = Receiver(options, engine, cfg, emit=json_line_writer())
        counts = receiver.run_until_signal(on_ready=_say_ready)
    except (OSError, sqlite3.Error, ValueError) as err:  # port taken, spool/db not writable
        typer.echo(f"error: {getattr(err, 'strerror', None) or err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"stopped: {counts.stored} stored, {counts.duplicates} duplicate(s), "
        f"{counts.refused} refused, {counts.resumed} resumed from the spool; "
        f"{receiver.pool.classified} classified, {receiver.spool.pending} left in the spool",
        err=True,
    )


def _say_ready(receiver) -> None:  # noqa: ANN001
    o = receiver.options
    typer.echo(
        f"listening: AE {o.ae_title} on {o.host}:{receiver.port}; "
        f"{receiver.counts.resumed} instance(s) resumed from the spool",
        err=True,
    )


def results(
    db: Path = typer.Argument(..., help="Results database written by `echostream serve`."),
    as_json: bool = typer.Option(False, "--json", help="Every row as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Every row as CSV."),
    series: str | None = typer.Option(None, "--series", help="Only this Series Instance UID."),
) -> None:
    """Show what `serve` classified: per series (default), or every row as JSON or CSV."""
    from .results_db import ROW_FIELDS, open_existing
    from .sinks import write_csv, write_json

    if as_json and as_csv:
        typer.echo("error: choose one of --json and --csv", err=True)
        raise typer.Exit(2)
    try:
        store = open_existing(db)
    except (FileNotFoundError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    with store:
        if as_json:
            write_json(list(store.rows(series)))
        elif as_csv:
            write_csv(store.rows(series), ROW_FIELDS)
        else:
            _print_series(store.series_summary(), series)


def _print_series(summary: list[dict], only: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Column, Table

    table = Table(Column("series", overflow="fold"), "instances", "classified", "views",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    shown = [s for s in summary if only is None or s["series_instance_uid"] == only]
    for s in shown:
        views = ", ".join(f"{view} {n}" for view, n in s["views"].items())
        table.add_row(escape(str(s["series_instance_uid"])), str(s["instances"]),
                      str(s["classified"]), escape(views))  # fmt: skip
    console = Console()
    console.print(table)
    total = sum(s["instances"] for s in shown)
    console.print(f"{len(shown)} series, {total} instance(s)", highlight=False)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``serve`` and ``results`` to the root app."""
    del bench
    app.command("serve")(serve)
    app.command("results")(results)
