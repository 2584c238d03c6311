"""One annotator's work through the queue: the cine on screen, its playback and the model's
suggestion for the part being labelled, and the actions (label, split, undo) on the
:class:`~echostream.demo.annotate_store.LabelStore`.

The playback is the demo's (:func:`~echostream.demo.runner.classify_cine`: one decode through
``classify``'s function, the overlay drawn on, everything outside the ultrasound region
blanked); the suggestion for a part is the verdict on that part's frames
(:func:`~echostream.stream.verdict.verdict_for`: the model's unknown-view rule applied, so a
part that is none of the views is suggested ``unknown``, which **Enter** labels ``OTHER``).
Nothing shown names a file: a cine is its place in the queue and its content id. While a cine
is on screen, the next one's playback is drawn in the background, so the page moves on without
waiting for a decode.

Example::

    session = AnnotateSession(store, queue, engine, smoother, files)
    view = session.view()          # what the page shows now
    session.label("A4C", token=view.token)
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echostream.stream.pipeline import Engine
from echostream.stream.unknown import UNKNOWN
from echostream.stream.verdict import verdict_for

from .annotate_queue import QueuedCine, suggest
from .annotate_store import OTHER, LabelRow, LabelStore, Split
from .files import DemoFiles
from .playback import CinePlayback
from .runner import classify_cine

#: The playback's frame rate when a cine has none (a still): :class:`VideoSink`'s own default.
FALLBACK_PLAYBACK_FPS = 30.0


@dataclass(frozen=True)
class Shown:
    """What the page shows: the cine (None when all are done), its playback file, the part being
    labelled, the suggestion for it, and ``token`` (which cine and part the keys act on)."""

    item: QueuedCine | None
    position: int
    total: int
    video: Path | None
    part: tuple[int, int] | None
    parts: int
    part_index: int
    fps: float
    suggested: str
    confidence: float | None
    problem: str
    token: str


@dataclass
class _Current:
    item: QueuedCine
    playback: CinePlayback
    problem: str


class AnnotateSession:
    """The queue, the store and the cine on screen (thread-safe: one action at a time)."""

    def __init__(
        self,
        store: LabelStore,
        queue: list[QueuedCine],
        engine: Engine,
        smoother: dict[str, Any] | None,
        files: DemoFiles,
        *,
        root: Path,
        done_before: int = 0,
    ) -> None:
        self.root = root
        self.store = store
        self.queue = queue
        self.engine = engine
        self.smoother = smoother
        self.files = files
        self.done_before = done_before  # cines fully labelled when the session started
        self._current: _Current | None = None
        self._lock = threading.Lock()
        self._ahead: dict[str, Future[_Current]] = {}  # file → the next cine's playback
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="annotate-next")

    @property
    def total(self) -> int:
        return self.done_before + len(self.queue)

    def next_item(self) -> tuple[int, QueuedCine] | None:
        """(place in the queue, cine) of the first cine with a part left to label."""
        for i, item in enumerate(self.queue):
            if not self.store.is_done(item.file, item.frames):
                return i, item
        return None

    def done_count(self) -> int:
        return self.done_before + sum(self.store.is_done(q.file, q.frames) for q in self.queue)

    # -- the cine on screen -----------------------------------------------------------------

    def _load(self, item: QueuedCine) -> _Current:
        """The playback of ``item`` (drawn once, kept while it is on screen; taken from the
        background when it was drawn ahead), and the next cine's started."""
        if self._current is not None and self._current.item.file == item.file:
            return self._current
        if self._current is not None:
            _delete(self._current)  # the previous cine's playback
        ahead = self._ahead.pop(item.file, None)
        self._current = ahead.result() if ahead is not None else self._draw(item)
        self._draw_next_ahead(item)
        return self._current

    def _draw_next_ahead(self, item: QueuedCine) -> None:
        """Start drawing the playback of the first unlabelled cine after ``item``."""
        later = self.queue[self.queue.index(item) + 1 :] if item in self.queue else []
        nxt = next((q for q in later if not self.store.is_done(q.file, q.frames)), None)
        if nxt is not None and nxt.file not in self._ahead:
            self._ahead[nxt.file] = self._pool.submit(self._draw, nxt)

    def _draw(self, item: QueuedCine) -> _Current:
        """Decode, classify and encode ``item``'s playback (the demo's :func:`classify_cine`)."""
        problem = item.problem
        if item.status == "ok":
            result, playback = classify_cine(
                item.path,
                self.engine,
                self.smoother or {},
                out_dir=self.files.root,
                name=f"cine #{item.cine}",
            )
            if playback.video is not None:
                self.files.adopt(None, playback.video)
            problem = "" if result.status == "ok" else result.error or "unreadable"
        else:
            playback = CinePlayback(self.engine.labels)
        return _Current(item, playback, problem)

    def _suggestion(self, cur: _Current, part: tuple[int, int]) -> tuple[str, float | None]:
        """The verdict on the part's frames (the queue's whole-cine suggestion without them)."""
        raw = cur.playback.raw
        if len(raw) >= part[1] > part[0]:
            verdict = verdict_for(raw[part[0] : part[1]], self.engine)
            return verdict.label, float(verdict.confidence)
        return cur.item.suggested, cur.item.confidence

    def view(self) -> Shown:
        """What the page shows now (draws the next cine's playback when it changed)."""
        with self._lock:
            return self._view()

    def _view(self) -> Shown:
        found = self.next_item()
        if found is None:
            return Shown(None, self.total, self.total, None, None, 0, 0, 0.0, "", None, "", "done")
        index, item = found
        cur = self._load(item)
        part = self.store.current(item.file, item.frames)
        parts = self.store.segments(item.file, item.frames)
        suggested, confidence = self._suggestion(cur, part) if part else ("", None)
        info = cur.playback.info
        fps = info.fps if info is not None and info.fps > 0 else FALLBACK_PLAYBACK_FPS
        return Shown(
            item=item, position=self.done_before + index + 1, total=self.total,
            video=cur.playback.video, part=part, parts=len(parts),
            part_index=parts.index(part) + 1 if part in parts else 0, fps=fps,
            suggested=suggested, confidence=confidence, problem=cur.problem,
            token=f"{item.cine}:{part[0] if part else 0}",
        )  # fmt: skip

    # -- actions ----------------------------------------------------------------------------

    def _check(self, token: str | None) -> Shown:
        shown = self._view()
        if token and token != shown.token:
            raise ValueError("the page was showing another cine or part: nothing changed")
        if shown.item is None or shown.part is None:
            raise ValueError("every cine is labelled: nothing to do")
        return shown

    def label(self, view: str, token: str | None = None) -> LabelRow:
        """Label the part on screen ``view`` (a view, OTHER, SKIP, or ``accept``: the
        suggestion, ``OTHER`` for an ``unknown`` one). ``token``: the page's, refused when the
        page was behind."""
        with self._lock:
            shown = self._check(token)
            item = shown.item
            assert item is not None
            choice = shown.suggested if view == "accept" else view
            choice = OTHER if choice == UNKNOWN else choice  # the model's "none of the views"
            if not choice:
                raise ValueError("no suggestion to accept: press a view's key")
            return self.store.label(
                item.file,
                item.frames,
                choice,
                cine=item.cine,
                suggested=shown.suggested,
                confidence=shown.confidence,
            )

    def split(self, seconds: float, token: str | None = None) -> int:
        """Split the part on screen at the frame the playback shows at ``seconds``; the frame."""
        with self._lock:
            shown = self._check(token)
            item = shown.item
            assert item is not None
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError("no playback position: play the cine, pause where it changes")
            at = int(np.floor(seconds * shown.fps + 1e-3))
            self.store.split(item.file, item.frames, at)
            return at

    def undo(self) -> LabelRow | Split | None:
        """Take back the newest action; a cine finished before this session is queued again
        (first) when its last label is taken back."""
        with self._lock:
            action = self.store.undo()
            queued = {q.file for q in self.queue}
            if action is not None and action.file not in queued:
                self.queue.insert(0, suggest(self.engine, action.file, self.root / action.file,
                                             self.smoother))  # fmt: skip
                self.done_before = max(0, self.done_before - 1)
            return action

    def close(self) -> None:
        """Delete the playback on screen and those drawn ahead."""
        with self._lock:
            self._pool.shutdown(wait=True)
            drawn = [f.result() for f in self._ahead.values() if f.exception() is None]
            for cur in [self._current, *drawn]:
                if cur is not None:
                    _delete(cur)
            self._current, self._ahead = None, {}


def _delete(cur: _Current) -> None:
    """Remove a cine's playback file."""
    if cur.playback.out is not None:
        cur.playback.out.unlink(missing_ok=True)
