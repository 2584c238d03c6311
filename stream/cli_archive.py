"""``echostream archive`` (label a whole archive into one resumable file, in this process or on
a Ray cluster) and ``echostream bench archive``.

Only typer and the standard library are imported here; the work is imported inside each command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .cli_sources import path_namer
from .cli_stream import BACKEND_HELP, _config, _engine, _precision_option
from .names import PATHS_HELP

RAY_HELP = (
    "Run as a Ray Data job: a cluster address (auto, HOST:6379, ray://HOST:10001) or 'local' "
    "(a one-machine cluster started here). Default: this process only."
)


def _ray_options(address: str, actors: int | None, actor_cpus: float, actor_gpus: float):  # noqa: ANN202
    from .archive_ray import RayOptions

    return RayOptions(address=address, actors=actors, actor_cpus=actor_cpus,
                      actor_gpus=actor_gpus)  # fmt: skip


def archive(
    paths: list[Path] = typer.Argument(
        ..., help="Files, folders (recursive) and .txt/.list files of paths (one a line)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .csv or .parquet."),
    ray: str | None = typer.Option(None, "--ray", help=RAY_HELP),
    resume: bool = typer.Option(
        False, "--resume", help="Continue OUT: skip files whose content is already in it."
    ),
    actors: int | None = typer.Option(
        None, "--actors", help="Ray: classify actors (default: a quarter of the cluster's CPUs)."
    ),
    actor_cpus: float = typer.Option(1.0, "--actor-cpus", help="Ray: CPUs (threads) per actor."),
    actor_gpus: float = typer.Option(0.0, "--actor-gpus", help="Ray: GPUs per actor."),
    workers: int | None = typer.Option(
        None, "--workers", "-k", help="Local: decode threads per cine."
    ),
    paths_shown: str = typer.Option("full", "--paths", help=PATHS_HELP),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="ONNX model file (default: shipped)."
    ),
    backend: str = typer.Option("config", "--backend", "-b", help=BACKEND_HELP),
    config: Path | None = typer.Option(None, "--config", help="Stream settings YAML."),
    precision: str = _precision_option(),
) -> None:
    """Classify every cine of an archive into one CSV or Parquet file (classify --csv's
    columns plus each file's content hash); --resume skips what OUT already holds.

    A file that cannot be read becomes its row with a one-line error; the rest go on.
    """
    from .archive import ERRORS_SHOWN, list_archive, run_local
    from .archive_output import OutputError, open_output
    from .archive_ray import RayMissing, import_ray, run_ray
    from .errors import short_error
    from .progress import file_progress

    namer = path_namer(paths_shown)
    cfg = _config(config)
    engine, _ = _engine(model, backend, cfg, precision=precision)
    files = list_archive(paths)
    if not files:
        typer.echo("error: no DICOM, video or image files found in the paths given", err=True)
        raise typer.Exit(1)
    try:
        if ray is not None:
            import_ray()  # before OUT is made: without Ray, one line and nothing written
        output = open_output(out, resume=resume)
    except (RayMissing, OutputError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    name = backend if backend != "config" else str(cfg.get("backend", {}).get("name", "auto"))
    try:
        with output, file_progress("archiving", len(files)) as advance:
            if ray is None:
                summary = run_local(files, engine, cfg, output, namer=namer, workers=workers,
                                    on_done=advance)  # fmt: skip
            else:
                opts = _ray_options(ray, actors, actor_cpus, actor_gpus)
                summary = run_ray(files, engine, name, cfg, output, opts, namer=namer,
                                  on_done=advance)  # fmt: skip
    except (RayMissing, OutputError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    except Exception as err:  # noqa: BLE001 - a cluster failure: one line; OUT keeps its rows
        typer.echo(f"error: the archive run stopped ({short_error(err)}); rows written so far "
                   f"are in {out}: rerun with --resume", err=True)  # fmt: skip
        raise typer.Exit(1) from None
    typer.echo(summary.line(out), err=True)
    if summary.failed:
        typer.echo(f"{summary.failed} file(s) failed:", err=True)
        for error in summary.errors[:ERRORS_SHOWN]:
            typer.echo(f"  {error}", err=True)
        if summary.failed > ERRORS_SHOWN:
            typer.echo(f"  … and {summary.failed - ERRORS_SHOWN} more (the error column)", err=True)
        raise typer.Exit(1)


def bench_archive(
    cines: Path = typer.Argument(
        ..., help="A folder of cines (e.g. from `echostream simulate`), at least 200 advised."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the only output format)."),
    ray: str = typer.Option(
        "local", "--ray", help="Cluster for the Ray run ('local': started here, same cores)."
    ),
    cpus: int | None = typer.Option(
        None, "--cpus", help="CPUs of the local Ray cluster (default: this machine's)."
    ),
    actors: int | None = typer.Option(None, "--actors", help="Classify actors of the Ray run."),
    limit: int | None = typer.Option(None, "--limit", help="Use only the first N cines."),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON here."),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="ONNX model file (default: shipped)."
    ),
    backend: str = typer.Option("config", "--backend", "-b", help=BACKEND_HELP),
    config: Path | None = typer.Option(None, "--config", help="Stream settings YAML."),
) -> None:
    """Files/s of `archive` in one process vs as a Ray job with the same cores."""
    from .archive_ray import RayMissing
    from .bench_archive import run_bench_archive
    from .sinks import to_json

    del as_json  # JSON is what this command prints
    cfg = _config(config)
    engine, _ = _engine(model, backend, cfg)
    name = backend if backend != "config" else str(cfg.get("backend", {}).get("name", "auto"))
    opts = _ray_options(ray, actors, 1.0, 0.0)
    opts.cpus = cpus
    try:
        result = run_bench_archive(cines, engine, name, cfg, opts, limit=limit,
                                   progress=lambda msg: typer.echo(msg, err=True))  # fmt: skip
    except (RayMissing, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    text = to_json(result)
    if out:
        out.write_text(text + "\n")
    sys.stdout.write(text + "\n")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``archive`` to the root app and ``archive`` to ``bench``."""
    app.command("archive")(archive)
    bench.command("archive")(bench_archive)
