"""Where ``echostream serve`` keeps its verdicts: one SQLite row per received instance.

A row holds the instance's SOP Instance UID (the key: an instance is classified once), its
series, the verdict (view, confidence, vote share, runner-up), the model and the times; never a
patient name or ID. The patient ID is kept only as a keyed hash (HMAC-SHA256), so rows of one
patient can be grouped by whoever holds the key and by nobody else. The key is
``$ECHOSTREAM_PATH_KEY`` when set, else a random key in a file beside the database
(``<db>.key``, readable by its owner only, made on first use).

Example::

    db = ResultsDB("results.sqlite")
    db.insert(row)                    # a dict with ROW_FIELDS keys
    for row in db.rows(series="1.2.3"):
        print(row["view"])
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .names import KEY_ENV

#: The columns, in order (also the CSV header of ``echostream results --csv``).
ROW_FIELDS = [
    "sop_instance_uid", "series_instance_uid", "patient_hash", "sop_class", "status", "view",
    "confidence", "vote_share", "second", "frames", "model", "model_version", "error",
    "received_at", "classified_at", "time_s", "forwarded",
]  # fmt: skip
_TYPES = {"confidence": "REAL", "vote_share": "REAL", "frames": "INTEGER", "time_s": "REAL"}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS instances ("
    + ", ".join(
        f"{name} {_TYPES.get(name, 'TEXT')}" + (" PRIMARY KEY" if i == 0 else "")
        for i, name in enumerate(ROW_FIELDS)
    )
    + ")"
)
_INDEX = "CREATE INDEX IF NOT EXISTS instances_series ON instances (series_instance_uid)"


def hash_key(db_path: str | Path, environ: Mapping[str, str] = os.environ) -> bytes:
    """The HMAC key: ``$ECHOSTREAM_PATH_KEY`` when set, else the key file ``<db>.key`` (32
    random bytes as hex, made with mode 0600 the first time)."""
    given = environ.get(KEY_ENV)
    if given:
        return given.encode("utf-8", "surrogateescape")
    key_file = Path(f"{db_path}.key")
    if not key_file.is_file():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return key_file.read_text(encoding="ascii").strip().encode("ascii")
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return key_file.read_text(encoding="ascii").strip().encode("ascii")


def patient_hash(key: bytes, patient_id: str | None) -> str | None:
    """``hmac-<32 hex>`` of ``patient_id`` (None when the instance has none).

    >>> patient_hash(b"k", "12345") == patient_hash(b"k", "12345") != patient_hash(b"j", "12345")
    True
    """
    if not patient_id:
        return None
    digest = hmac.new(key, patient_id.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return f"hmac-{digest.hexdigest()[:32]}"


class ResultsDB:
    """The results database (SQLite, WAL journal, every commit synced to disk); one connection
    shared by the server's threads behind a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        self._con.row_factory = sqlite3.Row
        with self._lock, self._con:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.execute(_SCHEMA)
            self._con.execute(_INDEX)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._con.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, sop_instance_uid: str) -> bool:
        """Whether the instance has its row already."""
        with self._lock:
            cur = self._con.execute(
                "SELECT 1 FROM instances WHERE sop_instance_uid = ?", (sop_instance_uid,)
            )
            return cur.fetchone() is not None

    def insert(self, row: Mapping[str, Any]) -> bool:
        """Add ``row`` (keys from :data:`ROW_FIELDS`; missing ones are NULL) and commit; False
        (nothing written) when the instance has a row already."""
        values = [row.get(name) for name in ROW_FIELDS]
        marks = ", ".join("?" * len(ROW_FIELDS))
        with self._lock, self._con:
            cur = self._con.execute(
                f"INSERT OR IGNORE INTO instances ({', '.join(ROW_FIELDS)}) VALUES ({marks})",
                values,
            )
            return cur.rowcount == 1

    def set_forwarded(self, sop_instance_uid: str, outcome: str) -> None:
        """Record what forwarding the instance gave (``ok`` or the one-line error)."""
        with self._lock, self._con:
            self._con.execute(
                "UPDATE instances SET forwarded = ? WHERE sop_instance_uid = ?",
                (outcome, sop_instance_uid),
            )

    def count(self) -> int:
        """Rows in the database."""
        with self._lock:
            return int(self._con.execute("SELECT COUNT(*) FROM instances").fetchone()[0])

    def rows(self, series: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row (of one series when ``series`` is given), by series then arrival."""
        query = "SELECT * FROM instances"
        args: tuple[str, ...] = ()
        if series is not None:
            query += " WHERE series_instance_uid = ?"
            args = (series,)
        query += " ORDER BY series_instance_uid, received_at, sop_instance_uid"
        with self._lock:
            fetched = self._con.execute(query, args).fetchall()
        for item in fetched:
            yield dict(item)

    def series_summary(self) -> list[dict[str, Any]]:
        """One entry per series: its instances, how many were classified, and the count of each
        view (most frequent first)."""
        query = (
            "SELECT series_instance_uid, status, view, COUNT(*) FROM instances "
            "GROUP BY series_instance_uid, status, view ORDER BY series_instance_uid"
        )
        with self._lock:
            fetched = self._con.execute(query).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for series, status, view, n in fetched:
            entry = out.setdefault(
                series, {"series_instance_uid": series, "instances": 0, "classified": 0,
                         "views": {}},
            )  # fmt: skip
            entry["instances"] += n
            if status == "ok":
                entry["classified"] += n
                entry["views"][view] = entry["views"].get(view, 0) + n
        for entry in out.values():
            entry["views"] = dict(sorted(entry["views"].items(), key=lambda kv: (-kv[1], kv[0])))
        return list(out.values())


def open_existing(path: str | Path) -> ResultsDB:
    """The database at ``path``; FileNotFoundError when there is none (reading never makes
    one)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such results database")
    return ResultsDB(path)
