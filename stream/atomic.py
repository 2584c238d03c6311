"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Everything echostream writes that another process (or a later run) reads back goes through
here: checkpoints, ONNX exports, TensorRT engines, training history, frame-store tables,
experiment results. The data goes to a temp file in the target's folder (same file system),
is flushed to disk, then ``os.replace``-d over the target; on any error the temp file is
removed and the target is left as it was.

Example::

    with atomic_file("runs/a/history.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with atomic_path("models/m.onnx") as tmp:  # for writers that want a path
        onnx.save_model(model, tmp)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh temp path beside ``path`` (its folder made if missing); it replaces ``path``
    when the block ends without an error, and is deleted otherwise."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """``open(temp, mode, **open_kwargs)`` for writing; flushed to disk and moved over
    ``path`` when the block ends without an error (see :func:`atomic_path`)."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_file writes a whole file: mode must start with 'w', not {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as fh:  # noqa: PTH123
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    if isinstance(data, str):
        with atomic_file(path, "w", encoding="utf-8") as fh:
            fh.write(data)
    else:
        with atomic_file(path, "wb") as fh:
            fh.write(data)
