"""Process-wide settings that concurrent runs share, changed safely.

:func:`switch_interval` sets Python's GIL switch interval for the length of a ``with`` block,
reference-counted across threads: the interval in force is the shortest any active block asked
for, and the process's own value comes back when the last block ends, whatever order they end
in. (Saving and restoring it per call races: two overlapping live runs could leave the process
with the other's value for good.)

Example::

    with switch_interval(1.0):   # ms; None changes nothing
        run_the_live_loop()
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_ACTIVE: list[float] = []  # seconds asked for by the blocks now running
_SAVED: list[float] = []  # the process's own interval while any block runs


@contextmanager
def switch_interval(ms: float | None) -> Iterator[None]:
    """Run the block with a GIL switch interval of at most ``ms`` milliseconds (see module)."""
    if ms is None:
        yield
        return
    seconds = max(1e-6, float(ms) / 1000.0)
    with _LOCK:
        if not _ACTIVE:
            _SAVED[:] = [sys.getswitchinterval()]
        _ACTIVE.append(seconds)
        sys.setswitchinterval(min(_ACTIVE))
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE.remove(seconds)
            sys.setswitchinterval(min(_ACTIVE) if _ACTIVE else _SAVED[0])
