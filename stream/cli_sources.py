"""Commands of this package for the ``echostream`` CLI (imports nothing heavy at import time).

* ``echostream probe SOURCE... [--json] [--paths full|basename|hash]``: what each source holds
  and how fast it decodes.
* ``echostream bench decode [SOURCE] [--json] [--frames N] [--workers K] [--make-cine NxHxW]``.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from .names import PATHS_HELP, PathNamer


def path_namer(style: str) -> PathNamer:
    """The ``--paths`` namer, or a usage error naming the option."""
    try:
        return PathNamer.create(style)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--paths") from None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root app and its ``bench`` group."""

    @app.command("probe")
    def probe_cmd(
        sources: list[str] = typer.Argument(..., help="DICOM files, videos, images or URLs."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one per source."),
        speed_frames: int = typer.Option(
            10, "--speed-frames", help="Frames decoded for the speed estimate (0: skip)."
        ),
        sheet: str | None = typer.Option(
            None,
            "--sheet",
            help="Also write a PNG contact sheet: each first frame with its crop box and sector.",
        ),
        paths: str = typer.Option("full", "--paths", help=PATHS_HELP),
    ) -> None:
        """Frames, size, fps and its origin, encoding, region, vendor, kind, decode speed.

        A source that cannot be read prints one line (``source: problem``) and the others are
        still probed; the exit code is 1 if any failed. No patient fields are ever printed.
        """
        from .probe import format_result, probe_one
        from .sources import source_kind

        namer = path_namer(paths)
        results = []
        for source in sources:
            name = None if source_kind(source) == "live" else namer(source)
            result, error = probe_one(source, speed_frames=speed_frames, name=name)
            if error is not None:
                typer.echo(str(error), err=True)
            elif not as_json:
                typer.echo(format_result(result))
            results.append(result)
        if as_json:
            _echo_json(results)
        if sheet:
            from .sector_sheet import draw_sheet

            ok = [src for src, r in zip(sources, results, strict=True) if r["ok"]]
            draw_sheet(ok, sheet, labels=[namer(src) for src in ok])
        if not all(r["ok"] for r in results):
            raise typer.Exit(1)

    @bench.command("decode")
    def bench_decode_cmd(
        source: str | None = typer.Argument(None, help="A DICOM cine; omit to simulate one."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        frames: int | None = typer.Option(None, "--frames", help="Decode only the first N."),
        workers: int = typer.Option(2, "--workers", help="Time 1..K decode threads."),
        repeats: int = typer.Option(3, "--repeats", help="Runs per mode (median reported)."),
        make_cine: str = typer.Option(
            "100x600x800", "--make-cine", help="FRAMESxHEIGHTxWIDTH of the simulated cine."
        ),
        memory_frames: int = typer.Option(
            1000, "--memory-frames", help="Frames of the cine for the peak-memory check (0: skip)."
        ),
    ) -> None:
        """Frames/s of full RGB decode vs the luminance fast path; peak memory of a long cine."""
        from rich.console import Console

        from .bench_decode import parse_cine_spec, run
        from .errors import SourceError

        try:
            parse_cine_spec(make_cine)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--make-cine") from None
        console = Console(stderr=True)
        try:
            with console.status("benchmarking decode") as status:
                result = run(
                    source,
                    make_cine_spec=make_cine,
                    frames=frames,
                    workers=tuple(range(1, max(1, workers) + 1)),
                    repeats=repeats,
                    memory_frames=memory_frames,
                    progress=lambda msg: status.update(msg),
                )
        except SourceError as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(1) from None
        if as_json:
            _echo_json(result)
            return
        for name, mode in result["modes"].items():
            typer.echo(f"{name:28s} {mode['fps']:8.1f} frames/s")
        for name, ratio in result["ratios"].items():
            typer.echo(f"{name:40s} {ratio:6.2f}x")
        for name, mem in result.get("memory", {}).get("modes", {}).items():
            typer.echo(
                f"memory {name:24s} peak {mem['peak_rss_mb']:.0f} MB "
                f"(decoded cine {result['memory']['decoded_size_mb']:.0f} MB)"
            )
