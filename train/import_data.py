"""``echostream import``: a labelled folder of real cines → a dataset ``echostream train`` reads.

Two layouts are read:

- a folder per view: ``SRC/A4C/*.dcm``, ``SRC/PLAX/…`` (folder names as the 8 views, case and
  ``_``/``-`` ignored; sub-folders are searched; a folder ``OTHER`` and folders that are no
  view are listed as skipped);
- files plus a labels CSV (``SRC/labels.csv`` or ``--labels FILE``): ``file,view[,patient]``,
  the format ``echostream evaluate`` reads (:func:`~echostream.train.manifest.read_manifest`);
  with ``start,end[,frames]`` columns (``echostream annotate``'s output) each row labels a part
  of a cine, and parts that are not the whole cine become files of their own under
  ``OUT/.segments/`` (:mod:`~echostream.train.import_segments`).

Each file is opened by the runtime's readers (header only: :func:`open_source`): unreadable
files, and spectral Doppler and M-mode acquisitions (the readers' acquisition kind, from the
DICOM ultrasound regions and Image Type, else seen in the pixels) are skipped with their
reason. The patient is the CSV's ``patient`` column, else the DICOM PatientID (after
``echostream anonymize``, a pseudonym), else the study (StudyInstanceUID), else the file
itself; it is stored only as a keyed hash (:mod:`~echostream.train.import_identity`). The
vendor comes from the header.

Written into ``OUT`` (default ``SRC``): ``manifest.csv`` (the training manifest: ``path``
relative to ``OUT``, hashed ``patient_id`` and ``study_id``, ``vendor``, ``model``, ``view``,
``n_frames``, ``fps``, ``acquisition``, ``patient_source``), ``import_problems.csv`` (skipped
files and why) and ``import.json`` (counts, the key's id; no identifiers). The frame store and
the patient-level splits are made from the manifest by ``echostream train`` /
``evaluate`` (:func:`~echostream.train.prepare.prepare_data`), as for simulated data.

Example::

    result = import_folder(Path("export"))      # → export/manifest.csv
    print(len(result.rows), "cines;", len(result.problems), "skipped")
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from echostream.stream.atomic import atomic_file, atomic_write
from echostream.stream.frame import AcquisitionKind
from echostream.stream.views import VIEWS

from .import_identity import DicomIdentity, hash_patient, key_id, patient_key, read_identity
from .import_identity import vendor_name as device_vendor
from .manifest import LABELS_NAME, MANIFEST_NAME, Problem, read_manifest

IMPORT_RECORD = "import.json"
PROBLEMS_NAME = "import_problems.csv"
MANIFEST_COLUMNS = (
    "path",
    "patient_id",
    "study_id",
    "vendor",
    "model",
    "view",
    "n_frames",
    "fps",
    "acquisition",
    "patient_source",
)
_OWN_FILES = {MANIFEST_NAME, LABELS_NAME, IMPORT_RECORD, PROBLEMS_NAME}
#: Acquisitions that are no view to classify (as ``echostream classify``'s NOT_CLASSIFIED).
SKIPPED_KINDS = {AcquisitionKind.DOPPLER: "spectral Doppler", AcquisitionKind.MMODE: "M-mode"}


@dataclass(frozen=True)
class LabelledFile:
    """One file and its label; ``patient`` is the labels CSV's patient column ("" if none)."""

    path: Path
    view: str
    patient: str = ""


@dataclass
class ImportResult:
    """What one import wrote: the manifest rows, the skipped files and notes for the user."""

    out: Path
    layout: str
    rows: list[dict[str, Any]]
    problems: list[Problem]
    key_id: str
    notes: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.out / MANIFEST_NAME

    def record(self) -> dict[str, Any]:
        """``import.json``: counts only (no paths, no identifiers)."""
        return {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "layout": self.layout,
            "key_id": self.key_id,
            "cines": len(self.rows),
            "patients": len({r["patient_id"] for r in self.rows}),
            "patient_ids_from": dict(Counter(r["patient_source"] for r in self.rows)),
            "vendors": dict(sorted(Counter(r["vendor"] for r in self.rows).items())),
            "views": {v: n for v in VIEWS if (n := sum(r["view"] == v for r in self.rows))},
            "skipped": len(self.problems),
            "skipped_by_reason": dict(Counter(_reason_kind(p.reason) for p in self.problems)),
            "notes": self.notes,
        }


def view_of_folder(name: str) -> str | None:
    """The view a folder name stands for (``a4c``, ``SAX-MID`` → ``A4C``, ``SAXMID``),
    ``OTHER``, or None."""
    squashed = re.sub(r"[^A-Z0-9]", "", name.upper())
    return squashed if squashed in (*VIEWS, "OTHER") else None


def _hidden(path: Path, below: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(below).parts)


def view_folder_files(src: Path) -> tuple[list[LabelledFile], list[Problem]]:
    """The files of a folder-per-view layout, and the folders and files left out (why)."""
    files: list[LabelledFile] = []
    problems: list[Problem] = []
    for entry in sorted(src.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            if entry.name not in _OWN_FILES:
                problems.append(Problem(entry.name, "not inside a view folder, left out"))
            continue
        inside = [p for p in sorted(entry.rglob("*")) if p.is_file() and not _hidden(p, entry)]
        view = view_of_folder(entry.name)
        if view is None:
            reason = f"not a view folder ({', '.join(VIEWS)} or OTHER)"
            problems.append(Problem(f"{entry.name}/", f"{reason}: {len(inside)} file(s) left out"))
        elif view == "OTHER":
            reason = f"labelled OTHER: not one of the 8 views, {len(inside)} file(s) left out"
            problems.append(Problem(f"{entry.name}/", reason))
        else:
            files += [LabelledFile(p, view) for p in inside]
    return files, problems


def find_labelled_files(
    src: Path, labels: Path | None = None, out: Path | None = None
) -> tuple[list[LabelledFile], list[Problem], str]:
    """``(files, problems, layout)`` from ``labels`` (or ``SRC/labels.csv``), else from the
    view folders of ``src``. Parts of cines (a labels CSV with frame ranges) are written under
    ``OUT/.segments/`` (``out``: default ``src``)."""
    csv_path = labels if labels is not None else src / LABELS_NAME
    if labels is not None or csv_path.is_file():
        from .import_segments import has_ranges, ranged_label_files

        if csv_path.is_file() and has_ranges(csv_path):
            files, problems, parts = ranged_label_files(csv_path, src if out is None else out)
            layout = f"labels file with frame ranges ({csv_path.name}; {parts} split part(s))"
            return files, problems, layout
        manifest = read_manifest(csv_path)
        files = [  # a patient that is the file's own path: none was given (see read_manifest)
            LabelledFile(e.path, e.view, "" if e.patient_id == e.key else e.patient_id)
            for e in manifest.entries
        ]
        return files, list(manifest.problems), f"labels file ({csv_path.name})"
    files, problems = view_folder_files(src)
    if not files and not problems:
        raise ValueError(
            f"{src}: no labelled files (expected a folder per view, e.g. {src}/A4C/*.dcm, or "
            f"{LABELS_NAME} with file, view[, patient])"
        )
    return files, problems, "folder per view"


def _patient(file: LabelledFile, ident: DicomIdentity, key: str) -> tuple[str, str]:
    """(source, raw identity): the CSV's patient, the PatientID, the study, or the file."""
    if file.patient:
        return "csv", file.patient
    if ident.patient_id:
        return "dicom", ident.patient_id
    if ident.study_uid:
        return "study", ident.study_uid
    return "file", key


def probe_file(file: LabelledFile, key: str, secret: bytes) -> dict[str, Any] | Problem:
    """The manifest row of one file (header facts, hashed patient), or why it is skipped."""
    from echostream.stream.errors import SourceError
    from echostream.stream.sources import open_source

    try:
        with open_source(file.path, name=key) as src:
            info = src.info
    except SourceError as err:
        return Problem(key, err.problem)
    except (OSError, ValueError) as err:
        return Problem(key, f"unreadable ({type(err).__name__})")
    if info.acquisition in SKIPPED_KINDS:
        what = SKIPPED_KINDS[info.acquisition]
        from echostream.stream.sources.acquisition_pixels import acquisition_reason

        return Problem(key, f"{what} acquisition ({acquisition_reason(info)}): not a view, skipped")
    ident = read_identity(file.path) if info.kind == "dicom" else DicomIdentity()
    source, value = _patient(file, ident, key)
    return {
        "path": key,
        "patient_id": hash_patient(secret, source, value),
        "study_id": hash_patient(secret, "study", ident.study_uid) if ident.study_uid else "",
        "vendor": device_vendor(ident.manufacturer, ident.model_name),
        "model": ident.model_name,
        "view": file.view,
        "n_frames": info.n_frames or "",
        "fps": f"{info.fps:g}" if info.fps else "",
        "acquisition": info.acquisition.value,
        "patient_source": source,
    }


def _reason_kind(reason: str) -> str:
    for words in (
        *SKIPPED_KINDS.values(),
        "labelled OTHER",
        "skipped by the annotator",
        "not a view folder",
    ):
        if reason.startswith(words):
            return words
    return "other" if "view" in reason or "listed" in reason else "unreadable"


def _check_out(out: Path) -> None:
    """Refuse to overwrite a manifest that no import wrote (a simulated dataset's, say)."""
    if (out / MANIFEST_NAME).is_file() and not (out / IMPORT_RECORD).is_file():
        raise FileExistsError(
            f"{out / MANIFEST_NAME}: a manifest not written by `echostream import` is there; "
            "pass --out to import into another folder"
        )


def relative_key(path: Path, out: Path) -> str:
    """``path`` relative to ``out`` (links not followed: the user's names stay as given)."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(out))).as_posix()


def _notes(rows: list[dict[str, Any]], out: Path, new_key_id: str) -> list[str]:
    notes = []
    fallback = Counter(
        r["patient_source"] for r in rows if r["patient_source"] in ("study", "file")
    )
    parts = [
        f"{n} {what}"
        for n, what in (
            (fallback["study"], "cine(s) had no patient ID (their study stands for the patient)"),
            (fallback["file"], "cine(s) had no patient ID nor study (each is its own patient)"),
        )
        if n
    ]
    if parts:
        notes.append(
            f"{'; '.join(parts)}: one patient's cines may then fall into different splits; "
            "a patient column in labels.csv says who is who"
        )
    old = out / IMPORT_RECORD
    if old.is_file():
        try:
            previous = json.loads(old.read_text()).get("key_id")
        except (ValueError, AttributeError):
            previous = None
        if previous and previous != new_key_id:
            notes.append(
                "the patient key differs from the previous import's: patient hashes, and so "
                "the splits, changed"
            )
    return notes


def import_folder(
    src: Path,
    out: Path | None = None,
    *,
    labels: Path | None = None,
    key_file: Path | None = None,
    progress: bool = False,
) -> ImportResult:
    """Import ``src`` into ``out`` (default ``src``); see the module docstring."""
    from .progress import progress_bar

    src = Path(src)
    out = Path(out) if out is not None else src
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    _check_out(out)
    secret = patient_key(key_file)
    files, problems, layout = find_labelled_files(src, labels, out)
    rows: list[dict[str, Any]] = []
    with progress_bar(progress, remaining=True) as bar:
        task = bar.add_task(f"import: reading {len(files)} headers", total=len(files))
        for file in files:
            found = probe_file(file, relative_key(file.path, out), secret)
            if isinstance(found, Problem):
                problems.append(found)
            else:
                rows.append(found)
            bar.advance(task)
    result = ImportResult(out, layout, rows, problems, key_id(secret))
    result.notes = _notes(rows, out, result.key_id)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / MANIFEST_NAME, rows, MANIFEST_COLUMNS)
    _write_csv(out / PROBLEMS_NAME, [{"key": p.key, "reason": p.reason} for p in problems])
    atomic_write(out / IMPORT_RECORD, json.dumps(result.record(), indent=1))
    return result


def _write_csv(
    path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] = ("key", "reason")
) -> None:
    with atomic_file(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
