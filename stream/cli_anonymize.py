"""``echostream anonymize IN... --out DIR``: de-identified copies for sharing or training.

Imports only typer at import time; the work (:mod:`.anonymize`) is imported when it runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .names import KEY_ENV

if TYPE_CHECKING:
    from .anonymize import AnonymizeRun, ItemResult

SALT_BYTES = 32
PATHS_HELP_HERE = (
    "How inputs are named on stdout and stderr: hash (default; the audit's HMAC-SHA256 of "
    f"the path, keyed by ${KEY_ENV}, else the run's secret) | basename | full."
)


def _salt(salt_file: Path | None) -> str:
    """The run's secret: the file's text, else random (never written anywhere)."""
    if salt_file is None:
        return secrets.token_hex(SALT_BYTES)
    try:
        text = salt_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        problem = f"cannot read it ({type(err).__name__})"
        raise typer.BadParameter(problem, param_hint="--salt-file") from None
    if len(text) < 16:
        raise typer.BadParameter("at least 16 characters, please", param_hint="--salt-file")
    return text


def register(app: typer.Typer, bench: typer.Typer) -> None:  # noqa: ARG001 - the CLI's signature
    """Add ``anonymize`` to the root app."""

    @app.command("anonymize")
    def anonymize_cmd(
        inputs: list[str] = typer.Argument(
            ..., help="DICOM files, videos, stills, or folders (searched recursively)."
        ),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Folder for the copies, audit.csv and check/."
        ),
        region: str | None = typer.Option(
            None,
            "--region",
            help="Keep only x0,y0,x1,y1 (pixels, ends exclusive) of every input. Default: the "
            "DICOM ultrasound region, else the scan sector detected in the pixels.",
        ),
        blank_top: int = typer.Option(0, "--blank-top", help="Also blank the top N rows."),
        encoding: str = typer.Option(
            "rle",
            "--encoding",
            help="DICOM pixel data written as: rle (lossless, default) | native (uncompressed) "
            "| jpeg-ls (lossless; needs pyjpegls).",
        ),
        check: bool = typer.Option(
            False,
            "--check",
            help="Write check/<output>.png (each pixel's maximum over the frames) and "
            "check/sheet.png, for a look at what is left.",
        ),
        keep_pixels: bool = typer.Option(
            False,
            "--keep-pixels",
            help="De-identify the header only; burned-in text stays (BurnedInAnnotation is "
            "left as it was).",
        ),
        salt_file: Path | None = typer.Option(
            None,
            "--salt-file",
            help="A secret for the pseudonyms: the same secret gives the same pseudonyms in "
            "another run. Default: a random one per run, never stored.",
        ),
        paths: str = typer.Option("hash", "--paths", help=PATHS_HELP_HERE),
    ) -> None:
        """De-identified copies of DICOM cines, videos and stills in one folder.

        DICOM headers: the PS3.15 Basic Profile with consistent pseudonyms, remapped UIDs and
        shifted dates (dicognito, dicom-anonymizer's table); private tags removed. Pixels:
        everything outside the ultrasound region blanked. Frames are decoded and re-encoded:
        DICOM losslessly (RLE by default: a lossless input keeps its pixels inside the region
        exactly; a JPEG input keeps its decoded pixels exactly, in a larger file), videos as
        H.264 or MPEG-4 (lossy), stills as PNG. Output names are pseudonymous; audit.csv lists what
        changed (never a value or a path). A file that fails prints one line and the others go
        on; the exit code is 1 if any failed.
        """
        from .anonymize import AnonymizeOptions, AnonymizeRun
        from .anonymize_pixels import ENCODINGS
        from .cli_sources import path_namer

        box = _box(region)
        if blank_top < 0:
            raise typer.BadParameter("must be 0 or more", param_hint="--blank-top")
        if encoding not in ENCODINGS:
            raise typer.BadParameter(f"one of {', '.join(ENCODINGS)}", param_hint="--encoding")
        namer = path_namer(paths)  # checked before any work
        options = AnonymizeOptions(
            out=out, salt=_salt(salt_file), region=box, top_rows=blank_top,
            encoding=encoding, keep_pixels=keep_pixels, check=check,
        )  # fmt: skip
        try:
            run = AnonymizeRun(options)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--encoding") from None
        files = _input_files(inputs)
        if paths == "hash":  # stdout and stderr name inputs as the audit does
            namer = run.source_hash
        results = _run_with_progress(run, files, namer)
        _report(results, check)


def _box(region: str | None) -> tuple[int, int, int, int] | None:
    from .anonymize_pixels import parse_box

    try:
        return None if region is None else parse_box(region)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--region") from None


def _input_files(inputs: list[str]) -> list[str]:
    """The files named and the media files in the folders named; a folder's DICOMDIR (an
    index of the export, no image; it names the patients) is left out, not failed."""
    from .classify import expand_paths

    named = set(inputs)
    files = [f for f in expand_paths(inputs) if f in named or Path(f).name.upper() != "DICOMDIR"]
    if not files:
        typer.echo("error: no DICOM, video or image files found in the inputs given", err=True)
        raise typer.Exit(1)
    return files


def _report(results: list[ItemResult], check: bool) -> None:
    """A line per written file (stdout), per failed file (stderr), a summary; exit 1 if any
    failed."""
    failed = [r for r in results if not r.ok]
    for r in results:
        if r.ok:
            typer.echo(r.line())
    for r in failed:
        typer.echo(str(r.error), err=True)
    written = len(results) - len(failed)
    sheet = " and check/sheet.png" if check and written else ""
    summary = f"{written} written, {len(failed)} failed; audit.csv{sheet} in the output folder"
    typer.echo(summary, err=True)
    if failed:
        raise typer.Exit(1)


def _run_with_progress(
    run: AnonymizeRun, files: list[str], namer: Callable[[str], str]
) -> list[ItemResult]:
    """``run.run_all`` with a progress bar on stderr (a terminal and two files or more)."""
    from .progress import file_progress

    with file_progress("anonymizing", len(files)) as advance:
        return run.run_all(files, namer=namer, on_done=advance)
