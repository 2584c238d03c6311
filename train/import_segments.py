"""Labels files with frame ranges (``echostream annotate``'s output) for ``echostream import``.

A labels CSV with ``start`` and ``end`` columns labels parts of cines: frames ``start`` to
``end`` (0-based, ``end`` excluded); ``frames`` is the cine's frame count, so a row covering
``0``-``frames`` is the whole cine. A cine split by the annotator (several views in one cine)
has one row per part. Each part that is not the whole cine becomes a file of its own under
``OUT/.segments/`` (the frame store and the splits then treat it as a cine):

- DICOM: the same file with only the part's frames, copied as stored (compressed frames are
  not re-encoded; the header stays, so the part keeps its patient, study and vendor) and a new
  SOP Instance UID;
- video: the part's frames decoded by the runtime's reader and re-encoded (H.264: lossy); the
  part keeps the whole cine's patient (its file).

Parts already written (newer than their cine) are kept. Rows labelled ``SKIP`` (left out by
the annotator) and ``OTHER`` are listed as skipped, as are rows that are no part of their cine.

Example::

    files, problems = ranged_label_files(Path("cines/labels.alice.csv"), out=Path("cines"))
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from echostream.stream.atomic import atomic_path
from echostream.stream.views import VIEWS

from .import_data import LabelledFile
from .manifest import Problem

SEGMENTS_DIR = ".segments"
RANGE_COLUMNS = ("start", "end")


def has_ranges(csv_path: Path) -> bool:
    """Whether the labels CSV has ``start`` and ``end`` columns."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    return set(RANGE_COLUMNS) <= {c.strip() for c in header}


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def segment_path(out: Path, key: str, start: int, end: int) -> Path:
    """``OUT/.segments/<key without suffix>.f<first>-<last><suffix>`` (videos become ``.mp4``)."""
    from echostream.stream.sources import source_kind

    src = Path(key)
    suffix = src.suffix if source_kind(src) == "dicom" else ".mp4"
    name = f"{src.stem}.f{start}-{end - 1}{suffix}"
    parent = Path(*[p for p in src.parent.parts if p not in ("..", "/")])
    return out / SEGMENTS_DIR / parent / name


def write_dicom_segment(src: Path, dst: Path, start: int, end: int) -> None:
    """``src`` with only frames ``start`` to ``end`` (excluded), copied as stored."""
    from pydicom import dcmread
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import generate_uid

    ds = dcmread(src)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if not 0 <= start < end <= n:
        raise ValueError(f"frames {start}-{end - 1} are not in its {n} frames")
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        frames = list(generate_frames(ds.PixelData, number_of_frames=n))
        ds.PixelData = encapsulate(frames[start:end])
    else:
        size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
        size = size * int(ds.BitsAllocated) // 8
        ds.PixelData = bytes(ds.PixelData[start * size : end * size])
    ds.NumberOfFrames = end - start
    vector = ds.get("FrameTimeVector")
    if vector is not None and len(vector) == n:
        ds.FrameTimeVector = list(vector[start:end])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    with atomic_path(dst) as tmp:
        ds.save_as(tmp, enforce_file_format=True)


def write_video_segment(src: Path, dst: Path, start: int, end: int) -> None:
    """Frames ``start`` to ``end`` (excluded) of a video, as the runtime's reader decodes them,
    re-encoded (H.264) into ``dst``."""
    from echostream.stream.sinks import VideoSink
    from echostream.stream.sources import open_source

    written = 0
    with atomic_path(dst) as tmp, open_source(src, name=src.name) as source:
        part = tmp.with_suffix(dst.suffix)  # the encoder takes its container from the suffix
        sink = VideoSink(part, source.info.fps, name=dst.name)
        try:
            for frame in source:
                if start <= frame.index < end:
                    sink.write(frame.pixels)
                    written += 1
            sink.close()
            if written != end - start:
                raise ValueError(f"frames {start}-{end - 1}: only {written} of them were read")
            os.replace(part, tmp)
        finally:
            sink.close()
            part.unlink(missing_ok=True)


def _write_segment(src: Path, dst: Path, start: int, end: int) -> None:
    from echostream.stream.sources import source_kind

    if dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime:
        return  # written by an earlier import, and the cine has not changed since
    if source_kind(src) == "dicom":
        write_dicom_segment(src, dst, start, end)
    else:
        write_video_segment(src, dst, start, end)


def _row_problem(view: str, start: int | None, end: int | None, frames: int | None) -> str | None:
    """Why a row cannot be imported (None: it can); ``start``/``end`` None: the whole cine."""
    if view == "SKIP":
        return "skipped by the annotator, left out"
    if view == "OTHER":
        return "labelled OTHER: not one of the 8 views, left out"
    if view not in VIEWS:
        return f"unknown label {view!r}"
    if start is None and end is None:
        return None
    if start is None or end is None or not 0 <= start < end or (frames and end > frames):
        return f"frames {start}-{end} are not a part of the cine"
    return None


def _range(row: dict[str, str]) -> tuple[int | None, int | None, int | None]:
    """``(start, end, frames)`` of a row; start and end None when it labels the whole cine (no
    range given, the range is all its frames, or a cine with no frame read)."""
    start, end, frames = (_int(row.get(c)) for c in ("start", "end", "frames"))
    given = bool(row.get("start") or row.get("end"))
    if not given or (start == 0 and end == frames) or start == end == frames == 0:
        return None, None, frames
    return start, end, frames


def ranged_label_files(csv_path: Path, out: Path) -> tuple[list[LabelledFile], list[Problem], int]:
    """``(files, problems, parts written)`` of a labels CSV with frame ranges: whole cines as
    they are, parts as files under ``OUT/.segments/``; rows that cannot be used as problems."""
    from .import_data import relative_key

    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()}
                for r in csv.DictReader(fh)]  # fmt: skip
    files: list[LabelledFile] = []
    problems: list[Problem] = []
    taken: dict[str, list[tuple[int, int]]] = {}
    written = 0
    for line, row in enumerate(rows, start=2):
        key, view = row.get("file") or row.get("path", ""), (row.get("view") or "").upper()
        start, end, frames = _range(row)
        if not key:
            problems.append(Problem(f"{csv_path.name}:{line}", "empty path"))
            continue
        path = Path(key) if Path(key).is_absolute() else csv_path.parent / key
        shown = key if start is None or end is None else f"{key} frames {start}-{end - 1}"
        problem = _row_problem(view, start, end, frames)
        if problem is None and not path.is_file():
            problem = "missing file"
        span = (start or 0, end if end is not None else 1 << 62)
        if problem is None and any(s < span[1] and span[0] < e for s, e in taken.get(key, [])):
            problem = "overlaps another labelled part of the cine"
        if problem is not None:
            problems.append(Problem(shown, problem))
            continue
        taken.setdefault(key, []).append(span)
        patient = row.get("patient", "")
        if start is None or end is None:
            files.append(LabelledFile(path, view, patient))
            continue
        dst = segment_path(out, key, start, end)
        try:
            _write_segment(path, dst, start, end)
        except Exception as err:  # noqa: BLE001 - one bad part must never cost the import
            from echostream.stream.errors import item_error

            problems.append(Problem(shown, item_error(key, err).problem))
            continue
        written += 1
        from echostream.stream.sources import source_kind

        if not patient and source_kind(path) != "dicom":  # no header: the cine's own identity
            patient = f"file:{relative_key(path, out)}"
        files.append(LabelledFile(dst, view, patient))
    return files, problems, written
