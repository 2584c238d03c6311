"""``echostream archive``: label the views of a whole archive once, into one resumable file.

The listing (:func:`list_archive`: files, folders, and ``.txt``/``.list`` files of paths) is
classified either in this process, through the same path as ``classify``
(:func:`~.classify.classify_paths`, :func:`run_local`), or as a Ray Data job on a cluster
(:mod:`.archive_ray`). Both write the rows of ``classify --csv`` plus each file's content hash
(:mod:`.archive_output`), skip files whose content is already in the output (``--resume``),
and record a failure as that file's row with its one-line error; the run goes on.

Example::

    files = list_archive(["/archive/2019", "more.txt"])
    with open_output(Path("views.csv"), resume=True) as out:
        summary = run_local(files, engine, cfg, out, namer=PathNamer.create("hash"))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import model_file
from .archive_output import ArchiveOutput, archive_row
from .classify import CineResult, classify_paths, expand_paths
from .pipeline import Engine

#: Arguments read as lists of paths (one a line; blank lines and ``#`` comments skipped).
LIST_SUFFIXES = (".txt", ".list")
#: Failures printed at the end of a run (all of them are in the output's ``error`` column).
ERRORS_SHOWN = 20


def read_path_list(list_file: Path) -> list[str]:
    """The paths in ``list_file``; relative ones are taken from the list's own folder."""
    out = []
    for line in list_file.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            p = Path(text)
            out.append(str(p if p.is_absolute() else list_file.parent / p))
    return out


def list_archive(paths: Iterable[str | Path]) -> list[str]:
    """Every file to classify: files named, media files in folders (recursive, sorted), and
    the entries of ``.txt``/``.list`` files (each a file or folder); no file twice."""
    named: list[str] = []
    for p in paths:
        path = Path(p)
        if path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            named += read_path_list(path)
        else:
            named.append(str(p))
    return list(dict.fromkeys(expand_paths(named)))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file's content, hex (:func:`~echostream.stream.model_file.file_sha256`);
    ``""`` when it cannot be read (its row then gets the reader's own error, and a resumed run
    tries it again)."""
    try:
        return model_file.file_sha256(path)
    except OSError:
        return ""


@dataclass
class ArchiveSummary:
    """What one run did; ``files_per_s`` counts the files classified (skipped ones excluded)
    over the run's wall time."""

    listed: int = 0
    skipped: int = 0
    classified: int = 0
    not_classified: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    first_row_s: float | None = None  # start → first row written (Ray: tasks, actors starting)

    @property
    def processed(self) -> int:
        return self.classified + self.not_classified + self.failed

    @property
    def files_per_s(self) -> float | None:
        return self.processed / self.seconds if self.seconds > 0 else None

    @property
    def steady_files_per_s(self) -> float | None:
        """Files/s after the first row (start-up excluded)."""
        if self.first_row_s is None or self.processed < 2 or self.seconds <= self.first_row_s:
            return None
        return (self.processed - 1) / (self.seconds - self.first_row_s)

    def count(self, row: dict[str, Any]) -> None:
        """Tally one written row."""
        status = row.get("status")
        if status == "ok":
            self.classified += 1
        elif status == "not_classified":
            self.not_classified += 1
        else:
            self.failed += 1
            self.errors.append(str(row.get("error")))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = self.errors[:ERRORS_SHOWN]
        d["seconds"] = round(self.seconds, 3)
        for key in ("files_per_s", "steady_files_per_s", "first_row_s"):
            value = getattr(self, key)
            d[key] = None if value is None else round(value, 3)
        d["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        return d

    def line(self, out: Path) -> str:
        """One line for stderr at the end of a run."""
        rate = f" ({self.files_per_s:.2f} files/s)" if self.files_per_s else ""
        return (
            f"archive: {self.listed} listed, {self.skipped} already in {out.name}, "
            f"{self.classified} classified, {self.not_classified} not classified, "
            f"{self.failed} failed in {self.seconds:.1f} s{rate}"
        )


def pending_files(
    files: Sequence[str], done: set[str], summary: ArchiveSummary
) -> list[tuple[str, str]]:
    """``(path, sha256)`` of each file whose content is not in ``done`` (the rest counted as
    skipped in ``summary``)."""
    out = []
    for f in files:
        digest = file_sha256(f)
        if digest and digest in done:
            summary.skipped += 1
        else:
            out.append((f, digest))
    return out


def run_local(
    files: Sequence[str],
    engine: Engine,
    cfg: dict[str, Any],
    output: ArchiveOutput,
    *,
    namer: Callable[[str], str] = str,
    workers: int | None = None,
    on_done: Callable[..., None] | None = None,
) -> ArchiveSummary:
    """Classify ``files`` one after the other in this process (:func:`classify_paths`), each
    row written as it comes; files already in ``output`` are skipped (and reported done to
    ``on_done`` first, so a progress bar counts them)."""
    t0 = time.perf_counter()
    summary = ArchiveSummary(listed=len(files))
    todo = pending_files(files, output.done, summary)
    for _ in range(summary.skipped):
        if on_done is not None:
            on_done()
    digests = iter([digest for _, digest in todo])

    def write(cine: CineResult) -> None:
        if summary.first_row_s is None:
            summary.first_row_s = time.perf_counter() - t0
        row = archive_row(cine, next(digests))
        output.write(row)
        summary.count(row)
        if on_done is not None:
            on_done()

    classify_paths([f for f, _ in todo], engine, cfg, workers=workers, on_done=write,
                   namer=namer)  # fmt: skip
    summary.seconds = time.perf_counter() - t0
    return summary
