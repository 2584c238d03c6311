"""Commands of this package for the ``echostream`` CLI (imports nothing heavy at import time)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root app and its ``bench`` group."""
