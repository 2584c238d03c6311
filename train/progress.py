"""One rich progress bar for the training package (frame stores, epochs, grids, evaluation).

>>> with progress_bar(False) as bar:  # disabled: draws nothing
...     task = bar.add_task("epoch 1", total=3)
"""

from __future__ import annotations

from typing import Any


def progress_bar(enabled: bool, *, transient: bool = False, remaining: bool = False) -> Any:
    """A ``rich.progress.Progress`` (description, bar, n/m, elapsed or ``remaining`` time);
    ``transient`` bars vanish when done. Disabled bars draw nothing."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn() if remaining else TimeElapsedColumn(),
        disable=not enabled,
        transient=transient,
    )
