"""Commands of this package for the ``echostream`` CLI (imports nothing heavy at import time).

- ``echostream backends [--json]``: each backend, available or not and why, devices/providers.
- ``echostream bench models [--models ...] [--backends ...] [--batch 1,32] [--json]``.
"""

from __future__ import annotations

import json
import os
import platform

import typer


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def backends_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the inference backends: available here or not, and why."""
    from .backends import BACKENDS, backend_module

    report = {}
    for name in BACKENDS:
        try:
            report[name] = backend_module(name).describe()
        except ImportError as err:
            report[name] = {"available": False, "reason": f"cannot import plugin: {err}"}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="echostream backends")
    for col in ("backend", "available", "why", "devices / providers"):
        table.add_column(col)
    for name, d in report.items():
        where = d.get("providers") or d.get("devices") or []
        table.add_row(
            name,
            "[green]yes[/]" if d["available"] else "[red]no[/]",
            escape(d["reason"]),
            escape(", ".join(map(str, where))),
        )
    Console().print(table)


def bench_models_cmd(
    models: str = typer.Option(
        "quick", "--models", help="quick (baseline, mobilenet_v1) | all | a comma list."
    ),
    backends: str = typer.Option("onnxruntime,torch", "--backends", help="Comma list."),
    batch: str = typer.Option("1,32", "--batch", help="Comma list of batch sizes."),
    repeats: int = typer.Option(5, "--repeats", help="Timed rounds; the median is reported."),
    min_round_s: float = typer.Option(0.2, "--round-s", help="Seconds per timed round."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = library default)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """ms/frame and frames/s per model × backend × batch (warm-up excluded, median of rounds)."""
    from rich.console import Console

    from echostream.models.registry import list_models

    from .backends import is_available
    from .bench_models import run_bench, select_models

    try:
        names = select_models(models, list_models())
    except ValueError as bad:
        typer.secho(f"error: {bad}", fg="red", err=True)
        raise typer.Exit(2) from None
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for b in _split(backends):
        ok, reason = is_available(b)
        (chosen.append(b) if ok else skipped.__setitem__(b, reason))
    err = Console(stderr=True)
    rows = run_bench(
        names,
        chosen,
        [int(b) for b in _split(batch)],
        repeats=repeats,
        min_round_s=min_round_s,
        threads=threads,
        progress=lambda msg: typer.echo(f"bench models {msg}", err=True),
    )
    result = {
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "threads": threads},
        "method": f"median of {repeats} rounds of ~{min_round_s}s, warm-up excluded",
        "weights": "random (speed only)",
        "skipped_backends": skipped,
        "rows": [r.to_dict() for r in rows],
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from rich.table import Table

    table = Table(title="echostream bench models")
    for col in ("model", "backend", "precision", "batch", "ms/frame", "frames/s"):
        table.add_column(
            col, justify="right" if col in ("batch", "ms/frame", "frames/s") else "left"
        )
    for r in rows:
        table.add_row(
            r.model,
            r.backend,
            r.precision,
            str(r.batch),
            f"{r.ms_per_frame:.3f}",
            f"{r.frames_per_s:.0f}",
        )
    Console().print(table)
    for b, reason in skipped.items():
        err.print(f"skipped {b}: {reason}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root app and its ``bench`` group."""
    app.command("backends")(backends_cmd)
    bench.command("models")(bench_models_cmd)
