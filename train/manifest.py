"""Read a dataset manifest: one row per cine (DICOM or video) with its patient and view label.

The simulator writes ``DIR/manifest.csv``; a user's own data needs at least the columns
``path`` (relative to the manifest's folder, or absolute), ``patient_id`` and ``view`` (``label``
is accepted as an alias). Optional: ``study_id``, ``series_id``, ``vendor``, ``model``, ``fps``,
``n_frames``, ``label_flipped``, ``true_view``, ``simulated``.

A folder of labelled files to measure a model on may instead hold ``labels.csv`` (or any CSV
with a ``file`` column and no ``path`` column) with just ``file`` (or ``path``) and ``view``:
stills (PNG, JPEG), videos or DICOMs; ``patient`` is accepted for ``patient_id``; without
either column every file counts as its own patient (``Manifest.per_item``), as does a file
whose patient cell is empty. Rows labelled ``OTHER`` (not one of the 8 views) are listed as
skipped, unless read with ``other=True`` (``data.other: true`` in a training config: ``OTHER``
is then a 9th class, label 8). ``echostream import`` (:mod:`echostream.train.import_data`)
turns such a folder into a ``manifest.csv`` with hashed patients.

Rows with an unknown label, no patient or a missing file are reported and skipped, never fatal.

Example::

    m = read_manifest("data/manifest.csv")
    print(len(m.entries), "cines;", len(m.problems), "skipped")
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from echostream.stream.unknown import OTHER
from echostream.stream.views import VIEWS

#: Class names in label order when ``OTHER`` is kept: the 8 views, then ``OTHER`` (label 8).
CLASSES_WITH_OTHER: tuple[str, ...] = (*VIEWS, OTHER)
MANIFEST_NAME = "manifest.csv"
LABELS_NAME = "labels.csv"  # a user's folder of labelled files: file, view
SIMULATED_MARKERS = ("SIMULATED", "simulation.json", ".simulated")
_TRUE = {"1", "true", "yes", "y", "t"}


@dataclass(frozen=True)
class ManifestEntry:
    """One cine of the dataset. ``key`` (the path relative to the data folder) identifies it."""

    key: str
    path: Path
    patient_id: str
    view: str
    study_id: str = ""
    vendor: str = "unknown"
    model: str = ""
    fps: float | None = None
    n_frames: int | None = None
    label_flipped: bool = False
    true_view: str | None = None

    @property
    def label(self) -> int:
        return CLASSES_WITH_OTHER.index(self.view)


@dataclass(frozen=True)
class Problem:
    """A manifest row or cine that was skipped, and why (one line, no patient identifiers)."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


@dataclass
class Manifest:
    """Readable entries, skipped rows, and where the data came from."""

    root: Path
    entries: list[ManifestEntry]
    problems: list[Problem] = field(default_factory=list)
    simulated: bool = False
    per_item: bool = False  # no patient_id column: each file is its own "patient"

    @property
    def patients(self) -> list[str]:
        return sorted({e.patient_id for e in self.entries})

    @property
    def vendors(self) -> list[str]:
        return sorted({e.vendor for e in self.entries})

    def describe(self) -> dict[str, object]:
        """A short, identifier-free description for provenance records."""
        return {
            "manifest": str(self.root / MANIFEST_NAME),
            "cines": len(self.entries),
            "patients": len(self.patients),
            "vendors": self.vendors,
            "skipped": len(self.problems),
            "simulated": self.simulated,
        }


def manifest_path(data: str | Path) -> Path:
    """``data`` itself if it is a CSV file, else ``data/manifest.csv`` (or ``data/labels.csv``
    when the folder has only that)."""
    data = Path(data)
    if data.suffix.lower() == ".csv":
        return data
    labels, manifest = data / LABELS_NAME, data / MANIFEST_NAME
    return labels if labels.is_file() and not manifest.is_file() else manifest


def _opt_float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _opt_int(value: str | None) -> int | None:
    f = _opt_float(value)
    return int(f) if f is not None else None


def read_manifest(data: str | Path, *, check_files: bool = True, other: bool = False) -> Manifest:
    """Parse the manifest of ``data`` (a folder holding ``manifest.csv``, or the CSV itself);
    ``other``: keep the rows labelled ``OTHER`` (else they are listed as skipped).

    Raises ``FileNotFoundError``/``ValueError`` only when the manifest itself is missing or has
    no ``path``/``patient_id``/``view`` columns; bad rows end up in ``Manifest.problems``.
    """
    csv_path = manifest_path(data)
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"{csv_path}: no manifest (expected manifest.csv with path, patient_id, view, or "
            f"labels.csv with file, view; a folder per view: run `echostream import` first)"
        )
    root = csv_path.parent
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = {c.strip() for c in reader.fieldnames or []}
        label_col = "view" if "view" in columns else "label" if "label" in columns else None
        labels_file = csv_path.name == LABELS_NAME or ("file" in columns and "path" not in columns)
        patient_col = "patient_id" if "patient_id" in columns else None
        if labels_file and patient_col is None and "patient" in columns:
            patient_col = "patient"
        per_item = patient_col is None and labels_file
        missing = [c for c in ("path", "patient_id") if c not in columns]
        if labels_file:
            missing = [] if columns & {"path", "file"} else ["file"]
        if label_col is None:
            missing.append("view")
        if missing:
            raise ValueError(f"{csv_path}: manifest lacks column(s) {', '.join(missing)}")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    for row in rows:
        row.setdefault("path", row.get("file", ""))
        if patient_col == "patient":
            row["patient_id"] = row.get("patient", "")
        if per_item or (labels_file and not row.get("patient_id")):
            row["patient_id"] = row["path"]  # no patient given: the file is its own

    entries: list[ManifestEntry] = []
    problems: list[Problem] = []
    simulated_rows = 0
    seen: set[str] = set()
    for i, row in enumerate(rows, start=2):  # line numbers as an editor shows them
        key = row.get("path", "")
        if not key:
            problems.append(Problem(f"{csv_path.name}:{i}", "empty path"))
            continue
        view = row.get(label_col, "").upper()
        if view == OTHER and not other:
            problems.append(Problem(key, "labelled OTHER: not one of the 8 views, left out"))
            continue
        if view not in VIEWS and view != OTHER:
            problems.append(Problem(key, f"unknown label {row.get(label_col)!r}"))
            continue
        if not row.get("patient_id"):
            problems.append(Problem(key, "no patient_id"))
            continue
        if key in seen:
            problems.append(Problem(key, "listed twice"))
            continue
        path = Path(key) if Path(key).is_absolute() else root / key
        if check_files and not path.is_file():
            problems.append(Problem(key, "missing file"))
            continue
        seen.add(key)
        true_view = row.get("true_view", "").upper() or None
        simulated_rows += row.get("simulated", "").lower() in _TRUE
        entries.append(
            ManifestEntry(
                key=key,
                path=path,
                patient_id=row["patient_id"],
                view=view,
                study_id=row.get("study_id", ""),
                vendor=row.get("vendor", "") or "unknown",
                model=row.get("model", ""),
                fps=_opt_float(row.get("fps")),
                n_frames=_opt_int(row.get("n_frames")),
                label_flipped=row.get("label_flipped", "").lower() in _TRUE,
                true_view=true_view if true_view in VIEWS else None,
            )
        )
    simulated = bool(simulated_rows) or is_simulated_folder(root, columns)
    return Manifest(
        root=root, entries=entries, problems=problems, simulated=simulated, per_item=per_item
    )


def is_simulated_folder(root: Path, columns: set[str] | None = None) -> bool:
    """Whether a dataset came from the simulator: a marker file in its folder, or the
    simulator-only ground-truth columns (``true_view``, ``label_flipped``) in its manifest."""
    if any((root / name).exists() for name in SIMULATED_MARKERS):
        return True
    return bool(columns and {"true_view", "label_flipped"} <= columns)
