"""Commands of this package for the ``echostream`` CLI (imports nothing heavy at import time).

- ``echostream demo [--host 127.0.0.1] [--port 7860] [--model FILE.onnx] [--max-upload-mb N]
  [--keep-screen]``: serve the Gradio demo (upload a cine, watch it play with the overlay and
  timeline; live tab).
"""

from __future__ import annotations

from pathlib import Path

import typer


def demo_cmd(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."
    ),
    port: int = typer.Option(7860, "--port", help="TCP port."),
    model: list[Path] = typer.Option(
        [], "--model", help="Model file(s) to offer before the model zoo's (repeatable)."
    ),
    max_upload_mb: float = typer.Option(200.0, "--max-upload-mb", help="Upload size limit."),
    keep_screen: bool = typer.Option(
        False,
        "--keep-screen",
        help="Annotated frames show the whole screen, burned-in patient name and ID included "
        "(default: everything outside the ultrasound region is blanked).",
    ),
) -> None:
    """Serve the demo page: upload a cine or pick an example, or classify a live stream."""
    try:
        from echostream.demo.app import build_app, launch
    except ImportError as err:
        typer.echo(
            f"echostream demo needs gradio: pip install 'echostream[demo]' ({err})", err=True
        )
        raise typer.Exit(2) from None
    missing = [str(m) for m in model if not m.is_file()]
    if missing:
        typer.echo(f"{', '.join(missing)}: no such model file", err=True)
        raise typer.Exit(2)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"warning: serving on {host}: anyone who can reach this address can upload files",
            err=True,
        )
    app = build_app(models=model, max_upload_mb=max_upload_mb, keep_screen=keep_screen or None)
    typer.echo(f"echostream demo on http://{host}:{port}/ (Ctrl+C to stop)")
    launch(app, host=host, port=port, max_upload_mb=max_upload_mb, block=True)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root app and its ``bench`` group."""
    app.command("demo")(demo_cmd)
