"""The cines ``echostream annotate`` shows, in the order it shows them, with the model's
suggestion for each.

Every media file under the folder (``echostream classify``'s rule:
:func:`~echostream.stream.classify.expand_paths`; hidden files and folders left out) is one cine.
Those not labelled yet are classified up front by ``classify``'s own function
(:func:`~echostream.stream.classify.classify_file`), with a progress bar, and queued least
confident first (active learning: the labels the model needs most come first); acquisitions
that are no view (Doppler, M-mode) follow, unreadable files come last. A cine is named by its
place in the queue and an id made from its content (:func:`cine_id`), never by its file name,
which often holds the patient's.

Example::

    queue = build_queue(Path("cines"), engine, smoother, done=lambda f: False)
    print(queue[0].cine, queue[0].suggested, queue[0].confidence)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echostream.stream.classify import classify_file, expand_paths
from echostream.stream.pipeline import Engine
from echostream.stream.progress import file_progress

_ID_BYTES = 1 << 20  # the id reads the file's size and its first MiB


@dataclass(frozen=True)
class QueuedCine:
    """One cine to label. ``file``: its path relative to the folder (what the labels file
    records); ``frames``: its frame count (0 when unreadable); ``problem``: the reader's one-line
    reason when it could not be classified (named by :attr:`cine`)."""

    file: str
    path: Path
    cine: str
    frames: int
    status: str = "ok"
    suggested: str = ""
    confidence: float | None = None
    problem: str = ""

    @property
    def sort_key(self) -> tuple[int, float]:
        rank = {"ok": 0, "not_classified": 1}.get(self.status, 2)
        return rank, self.confidence if self.confidence is not None else 0.0


def cine_id(path: Path) -> str:
    """10 hex of SHA-256 over the file's size and first MiB: the same file gets the same id in
    every session and for every annotator, and the id tells nothing of its name."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(_ID_BYTES))
    return digest.hexdigest()[:10]


def find_cines(root: Path) -> list[tuple[str, Path]]:
    """``(path relative to root, path)`` of every media file under ``root``, sorted; files in
    hidden folders (``.frame_store``, ``.segments``) are left out."""
    found = []
    for name in expand_paths([root]):
        path = Path(name)
        rel = path.relative_to(root)
        if not any(part.startswith(".") for part in rel.parts):
            found.append((rel.as_posix(), path))
    return found


def suggest(engine: Engine, file: str, path: Path, smoother: dict[str, Any] | None) -> QueuedCine:
    """The model's verdict on one cine as a :class:`QueuedCine` (never raises for a bad file)."""
    try:
        cid = cine_id(path)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        return QueuedCine(
            file, path, "unreadable", 0, "error", problem=f"cannot read it ({reason})"
        )
    result = classify_file(engine, path, smoother, name=f"cine #{cid}")
    if result.status == "not_classified":
        return QueuedCine(file, path, cid, result.frames, result.status, "OTHER", None,
                          f"{result.acquisition} acquisition: not a view")  # fmt: skip
    if result.status != "ok":
        return QueuedCine(file, path, cid, 0, "error", problem=result.error or "unreadable")
    return QueuedCine(file, path, cid, result.frames, "ok", result.view or "", result.confidence)


def build_queue(
    root: Path,
    engine: Engine,
    smoother: dict[str, Any] | None,
    *,
    done: Callable[[str], bool],
    progress: bool = True,
    cines: Sequence[tuple[str, Path]] | None = None,
) -> list[QueuedCine]:
    """The cines under ``root`` that ``done`` does not say are labelled, classified and sorted
    least confident first (a progress bar on a terminal unless ``progress`` is false)."""
    todo = [(f, p) for f, p in (find_cines(root) if cines is None else cines) if not done(f)]
    queue = []
    with file_progress("annotate: model suggestions", len(todo) if progress else 0) as advance:
        for file, path in todo:
            queue.append(suggest(engine, file, path, smoother))
            advance()
    return sorted(queue, key=lambda q: q.sort_key)
