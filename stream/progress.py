"""One progress bar for batch commands (``classify``, ``anonymize``): on stderr, only on a
terminal and for two items or more, gone when the batch ends.

Example::

    with file_progress("classifying", len(files)) as advance:
        for f in files:
            ...
            advance()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def file_progress(description: str, total: int) -> Iterator[Callable[..., None]]:
    """A context whose value, called once per finished item (any arguments are ignored, so it
    can be an ``on_done`` callback), advances the bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True,
                  disable=total < 2 or not console.is_terminal) as progress:  # fmt: skip
        task = progress.add_task(description, total=total)
        yield lambda *_: progress.advance(task)
