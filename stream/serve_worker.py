"""The receiver's workers: each spooled instance → ``classify``'s own code → one database row.

A worker takes a spooled file, reads the few header tags the row needs (series, SOP class,
the patient ID only to hash it), classifies it with :func:`~.classify.classify_paths` (the
code behind ``echostream classify``), commits the row, prints it as one JSON line, forwards
the instance when asked, and only then removes it from the spool. An instance whose row is
already committed (a crash after the commit, or a sender's retry) is removed without being
classified again: every instance gets exactly one row.

Example::

    pool = WorkerPool(engine, cfg, spool, db, emit=print_line, workers=2)
    pool.start(); pool.submit(path); ...; pool.stop()
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .classify import CineResult, classify_paths
from .errors import item_error
from .pipeline import Engine
from .results_db import ResultsDB, hash_key, patient_hash
from .serve_spool import Spool, uid_of

log = logging.getLogger(__name__)
_HEADER_TAGS = ["SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "PatientID"]


def _utc(timestamp: float | None = None) -> str:
    """ISO 8601 UTC time of ``timestamp`` (now when None), to the millisecond."""
    utc = dt.timezone.utc  # noqa: UP017 - Python 3.10 has no dt.UTC
    when = dt.datetime.now(utc) if timestamp is None else dt.datetime.fromtimestamp(timestamp, utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_header(path: Path) -> dict[str, str]:
    """The tags a row needs (missing ones empty); raises whatever pydicom raises."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    return {tag: str(ds.get(tag, "") or "") for tag in _HEADER_TAGS}


def instance_row(
    path: Path, result: CineResult, header: dict[str, str], key: bytes, model: dict[str, Any]
) -> dict[str, Any]:
    """The database row of one classified instance (no patient name or ID: the ID's hash)."""
    second = result.top2[1]["label"] if len(result.top2) > 1 else None
    return {
        "sop_instance_uid": uid_of(path),
        "series_instance_uid": header.get("SeriesInstanceUID") or None,
        "patient_hash": patient_hash(key, header.get("PatientID")),
        "sop_class": header.get("SOPClassUID") or None,
        "status": result.status,
        "view": result.view,
        "confidence": None if result.confidence is None else round(result.confidence, 4),
        "vote_share": None if result.vote_share is None else round(result.vote_share, 4),
        "second": second,
        "frames": result.frames,
        "model": model.get("model"),
        "model_version": model.get("version"),
        "error": result.error,
        "received_at": _utc(path.stat().st_mtime),
        "classified_at": _utc(),
        "time_s": round(result.time_s, 3),
        "forwarded": None,
    }


class WorkerPool:
    """Threads that classify spooled instances in arrival order; ``emit`` gets each new row,
    ``forward`` (when given) each classified file, returning ``"ok"`` or a one-line error."""

    def __init__(
        self,
        engine: Engine,
        cfg: dict[str, Any],
        spool: Spool,
        db: ResultsDB,
        *,
        emit: Callable[[dict[str, Any]], None],
        workers: int = 1,
        forward: Callable[[Path], str] | None = None,
    ) -> None:
        self.engine, self.cfg, self.spool, self.db = engine, cfg, spool, db
        self.emit, self.forward = emit, forward
        self.key = hash_key(db.path)
        self.model = engine.describe()
        self._queue: queue.Queue[Path] = queue.Queue()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"echostream-worker-{i}", daemon=True)
            for i in range(max(1, int(workers)))
        ]
        self.classified = 0
        self.skipped = 0
        self._count_lock = threading.Lock()

    def start(self) -> None:
        """Start the worker threads."""
        for thread in self._threads:
            thread.start()

    def submit(self, path: Path) -> None:
        """Queue one spooled instance (the spool's limits bound how many wait)."""
        self._queue.put(path)

    @property
    def waiting(self) -> int:
        """Instances queued and not yet taken by a worker."""
        return self._queue.qsize()

    def stop(self, drain: bool = False, timeout: float | None = None) -> None:
        """Let each worker finish the instance in hand (and, with ``drain``, every queued one)
        and stop; what is left stays spooled for the next start."""
        if drain:
            self._queue.join()
        self._stop.set()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                path = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.process(path)
            except Exception as err:  # noqa: BLE001 - a worker never dies of one instance
                log.error("%s", item_error(f"instance {path.name}", err))
            finally:
                self._queue.task_done()

    def process(self, path: Path) -> None:
        """Classify one spooled instance, commit its row, emit it, forward it, unspool it."""
        uid = uid_of(path)
        if not path.is_file():  # a duplicate submission already handled
            return
        if self.db.has(uid):
            self.spool.remove(path)
            with self._count_lock:
                self.skipped += 1
            return
        try:
            header = read_header(path)
        except Exception:  # noqa: BLE001 - the classifier gives the one-line reason
            header = {}
        report = classify_paths(
            [str(path)], self.engine, self.cfg, workers=1, namer=lambda _: f"instance {uid}"
        )
        row = instance_row(path, report.cines[0], header, self.key, self.model)
        if self.db.insert(row):
            with self._count_lock:
                self.classified += 1
            if self.forward is not None and row["status"] != "error":
                row["forwarded"] = self.forward(path)
                self.db.set_forwarded(uid, row["forwarded"])
            self.emit(row)
        self.spool.remove(path)
