"""``echostream annotate`` and ``echostream annotate-agreement`` (work imported inside each).

- ``echostream annotate DIR [--annotator NAME] [--labels FILE] [--model FILE.onnx]
  [--port 7861]``: label the cines under DIR in the browser, saved as you go to
  ``DIR/labels.csv`` (``DIR/labels.NAME.csv`` per annotator), the file ``echostream import``
  reads.
- ``echostream annotate-agreement A.csv B.csv [--json] [--show-files]``: Cohen's kappa and the
  disagreements of two annotators.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def annotate_cmd(
    folder: Path = typer.Argument(..., help="The folder of cines to label (searched recursively)."),
    annotator: str = typer.Option(
        "", "--annotator", help="Your name: labels go to DIR/labels.NAME.csv (one file each)."
    ),
    labels: Path = typer.Option(
        None, "--labels", help="The labels file (default: DIR/labels.csv or labels.NAME.csv)."
    ),
    model: Path = typer.Option(
        None, "--model", "-m", help="ONNX model for the suggestions (default: shipped)."
    ),
    backend: str = typer.Option("auto", "--backend", help="auto | onnxruntime | tensorrt | torch"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (this machine only)."),
    port: int = typer.Option(7861, "--port", help="TCP port."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    """Label cines in the browser: keys 1-8 for the views, o other, s skip, x split, u undo;
    the model's suggestion pre-filled, least confident first; saved after every key, and
    resumed where it stopped when started again on the same folder and labels file."""
    from echostream.stream.defaults import default_model_path, missing_model_message

    path = model or default_model_path()
    if not path.is_file():
        typer.echo(f"error: {missing_model_message(path)}", err=True)
        raise typer.Exit(2)
    from echostream.demo.annotate_app import build_annotate_app, launch_annotate
    from echostream.demo.annotate_setup import start_session

    try:
        session = start_session(folder, model=path, annotator=annotator, labels=labels,
                                backend=backend, progress=not no_progress)  # fmt: skip
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    store = session.store
    typer.echo(
        f"annotate: {session.total} cines, {session.done_before} done before, "
        f"{len(store.rows)} parts labelled in {store.path}"
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving on {host}: anyone who can reach it sees the cines", err=True)
    typer.echo(f"echostream annotate on http://{host}:{port}/ (Ctrl+C to stop)")
    launch_annotate(build_annotate_app(session, store.path.name), host=host, port=port)


def agreement_cmd(
    first: Path = typer.Argument(..., help="One annotator's labels file."),
    second: Path = typer.Argument(..., help="Another's labels file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (every disagreement)."),
    show_files: bool = typer.Option(
        False, "--show-files", help="Name the files too (default: the cine ids the page shows)."
    ),
) -> None:
    """Cohen's kappa of two annotators' labels files and the parts where they disagree."""
    from echostream.demo.annotate_agreement import compare, report_lines
    from echostream.demo.annotate_store import read_labels

    try:
        rows = [read_labels(p) for p in (first, second)]
    except OSError as err:
        typer.echo(f"error: {err.filename}: {err.strerror or type(err).__name__}", err=True)
        raise typer.Exit(2) from None
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    names = [r[0].annotator if r and r[0].annotator else p.name
             for r, p in zip(rows, (first, second), strict=True)]  # fmt: skip
    if names[0] == names[1]:
        names = [first.name, second.name] if first.name != second.name else ["A", "B"]
    result = compare(rows[0], rows[1], *names)
    if as_json:
        typer.echo(json.dumps(result.to_dict(show_files), indent=2))
    else:
        for line in report_lines(result, show_files):
            typer.echo(line)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``annotate`` and ``annotate-agreement`` to the root app."""
    app.command("annotate")(annotate_cmd)
    app.command("annotate-agreement")(agreement_cmd)
