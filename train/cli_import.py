"""``echostream import`` (work imported inside the command)."""

from __future__ import annotations

from pathlib import Path

import typer

from .import_identity import KEY_ENV


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``import`` to the root app."""

    @app.command("import")
    def import_cmd(
        src: Path = typer.Argument(
            ..., help="A labelled folder: a folder per view (A4C/*.dcm, …) or files + labels.csv"
        ),
        out: Path = typer.Option(
            None, "--out", help="Where manifest.csv goes (default: SRC itself)"
        ),
        labels: Path = typer.Option(
            None, "--labels", help="A labels CSV (file, view[, patient]) instead of SRC/labels.csv"
        ),
        key_file: Path = typer.Option(
            None,
            "--key-file",
            help=f"The secret that keys patient hashes (default: ${KEY_ENV}, else "
            "~/.config/echostream/patient.key; a missing file is made; keep it off the data)",
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar"),
    ) -> None:
        """Make a labelled folder of real cines a dataset for `echostream train`: a manifest
        with hashed patients and the vendor from the header; Doppler, M-mode and unreadable
        files are skipped with their reason."""
        from .import_data import PROBLEMS_NAME, import_folder

        try:
            result = import_folder(
                src, out, labels=labels, key_file=key_file, progress=not no_progress
            )
        except (FileNotFoundError, FileExistsError, ValueError, PermissionError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        record = result.record()
        sources = ", ".join(f"{n} {k}" for k, n in sorted(record["patient_ids_from"].items()))
        vendors = ", ".join(f"{k} {n}" for k, n in record["vendors"].items())
        typer.echo(
            f"imported {record['cines']} cines of {record['patients']} patients "
            f"({result.layout}) into {result.manifest}"
        )
        typer.echo(f"  patient ids (stored hashed) from: {sources or 'none'}")
        typer.echo(f"  vendors: {vendors or 'none'}")
        if result.problems:
            typer.echo(f"  skipped {len(result.problems)} (see {result.out / PROBLEMS_NAME}):")
            for problem in result.problems[:10]:
                typer.echo(f"    {problem}")
        for note in result.notes:
            typer.echo(f"  note: {note}")
        if not result.rows:
            raise typer.Exit(1)
        typer.echo(
            f"next: echostream train configs/finetune.yaml --data {result.out} --init default"
        )
