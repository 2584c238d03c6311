"""Where ``echostream archive`` writes: one CSV or Parquet file, resumable.

The columns are ``classify --csv``'s (:data:`~.classify.CSV_FIELDS`, the same row builder,
:meth:`~.classify.CineResult.csv_row`) plus ``sha256``, the SHA-256 of the file's content: a
rerun with ``--resume`` skips every file whose content is already in the output (whatever its
path, so an archive mounted elsewhere on another node still matches). The file's path appears
only as the ``--paths`` style shows it (full, basename or a keyed hash).

- CSV: rows are appended and flushed one by one; a run killed mid-row leaves a cut last line,
  which the next ``--resume`` drops before appending.
- Parquet (a file cannot be appended to): rows go to part files in ``OUT.parts/`` every
  :data:`PART_ROWS` rows or :data:`PART_SECONDS` seconds, each written atomically; closing
  merges the old file and the parts into ``OUT`` (atomically) and removes the parts. A killed
  run keeps its parts, and ``--resume`` reads them back.

Example::

    with open_output(Path("views.parquet"), resume=True) as out:
        if digest not in out.done:
            out.write(archive_row(cine, digest))
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .atomic import atomic_path
from .classify import CSV_FIELDS, CineResult
from .sinks import _csv_value

ARCHIVE_FIELDS = [*CSV_FIELDS, "sha256"]
FLOAT_FIELDS = ("confidence", "vote_share", "fps", "frames_per_s", "time_s")
INT_FIELDS = ("frames",)
PART_ROWS = 256
PART_SECONDS = 30.0
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
PYARROW_MISSING = (
    "writing Parquet needs pyarrow, which is not installed: pip install 'echostream[ray]' "
    "(or write --out FILE.csv)"
)


class OutputError(ValueError):
    """The output file cannot be used (one line naming it and the problem)."""


def archive_row(cine: CineResult, sha256: str) -> dict[str, Any]:
    """One output row: ``classify --csv``'s columns of ``cine``, then ``sha256``."""
    row = cine.csv_row()
    return {**{k: row.get(k) for k in CSV_FIELDS}, "sha256": sha256}


class ArchiveOutput:
    """An open output: :attr:`done` holds the content hashes already in it; :meth:`write`
    adds one row; :meth:`close` makes the file complete. A context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[str] = set()
        self.written = 0

    def write(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> ArchiveOutput:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_output(path: Path, *, resume: bool) -> ArchiveOutput:
    """The output at ``path`` (``.csv``, ``.parquet`` or ``.pq``). An existing output is
    continued with ``resume``, else refused (never overwritten)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise OutputError(f"{path}: --out must end in .csv or .parquet")
    unfinished = kind == "parquet" and parts_folder(path).is_dir()
    if (path.exists() or unfinished) and not resume:
        raise OutputError(f"{path} exists: add --resume to continue it, or choose another --out")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: not a file")
    return CsvOutput(path) if kind == "csv" else ParquetOutput(path)


class CsvOutput(ArchiveOutput):
    """Rows appended to a CSV file, one flush per row."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        if path.is_file() and path.stat().st_size:
            _drop_cut_line(path)
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                _check_columns(path, reader.fieldnames)
                self.done = {r["sha256"] for r in reader if r.get("sha256")}
            self._fh = path.open("a", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._fh, ARCHIVE_FIELDS, lineterminator="\n")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("w", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._fh, ARCHIVE_FIELDS, lineterminator="\n")
            self._writer.writeheader()
            self._fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: _csv_value(row.get(k)) for k in ARCHIVE_FIELDS})
        self._fh.flush()
        self.written += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _drop_cut_line(path: Path) -> None:
    """Truncate ``path`` after its last newline (a run killed mid-row)."""
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 65536))
        tail = fh.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        fh.truncate(size - len(tail) + cut + 1 if cut >= 0 else 0)


def _check_columns(path: Path, columns: Any) -> None:
    if list(columns or []) != ARCHIVE_FIELDS:
        raise OutputError(
            f"{path}: its columns are not an echostream archive's; choose another --out"
        )


def parts_folder(path: Path) -> Path:
    """Where a Parquet output keeps its rows until it is closed."""
    return path.with_name(path.name + ".parts")


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise OutputError(PYARROW_MISSING) from None
    return pa, pq


def arrow_schema() -> Any:
    """The Parquet columns: numbers as numbers, the rest as text."""
    pa, _ = _pyarrow()
    types = {**dict.fromkeys(FLOAT_FIELDS, pa.float64()), **dict.fromkeys(INT_FIELDS, pa.int64())}
    return pa.schema([(k, types.get(k, pa.string())) for k in ARCHIVE_FIELDS])


class ParquetOutput(ArchiveOutput):
    """Rows kept in part files until :meth:`close` merges them into one Parquet file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._pa, self._pq = _pyarrow()
        self._schema = arrow_schema()
        self._parts = parts_folder(path)
        self._rows: list[dict[str, Any]] = []
        self._flushed_at = time.monotonic()
        for table in self._tables():
            self.done |= {h for h in table.column("sha256").to_pylist() if h}
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in self._part_files()), default=0)
        self._closed = False

    def _part_files(self) -> list[Path]:
        return sorted(self._parts.glob("part-*.parquet")) if self._parts.is_dir() else []

    def _tables(self) -> list[Any]:
        files = ([self.path] if self.path.is_file() else []) + self._part_files()
        tables = []
        for f in files:
            try:
                table = self._pq.read_table(f)
            except Exception as err:  # noqa: BLE001 - a foreign or damaged file: one line
                raise OutputError(
                    f"{f}: not a readable Parquet file ({type(err).__name__})"
                ) from None
            _check_columns(f, table.column_names)
            tables.append(table.cast(self._schema))
        return tables

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append({k: row.get(k) for k in ARCHIVE_FIELDS})
        self.written += 1
        if len(self._rows) >= PART_ROWS or time.monotonic() - self._flushed_at > PART_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the rows in hand as the next part file."""
        self._flushed_at = time.monotonic()
        if not self._rows:
            return
        self._parts.mkdir(parents=True, exist_ok=True)
        table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
        with atomic_path(self._parts / f"part-{self._next:06d}.parquet") as tmp:
            self._pq.write_table(table, tmp)
        self._next += 1
        self._rows = []

    def close(self) -> None:
        """Merge the old file and every part into ``path`` (atomically); remove the parts."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        tables = self._tables()
        merged = self._pa.concat_tables(tables) if tables else self._schema.empty_table()
        with atomic_path(self.path) as tmp:
            self._pq.write_table(merged, tmp)
        for part in self._part_files():
            part.unlink()
        if self._parts.is_dir():
            self._parts.rmdir()


def read_output(path: Path) -> list[dict[str, Any]]:
    """Every row of an archive output (CSV values as text, Parquet values typed)."""
    if SUFFIXES.get(path.suffix.lower()) == "parquet":
        _, pq = _pyarrow()
        return list(pq.read_table(path).to_pylist())
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
