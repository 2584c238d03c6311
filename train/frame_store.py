"""A frame store: every cine's frames decoded once, cropped, grayed and resized for the model.

Layout of a store folder (one per input size and interpolation)::

    frames.u8    all frames, uint8, appended cine after cine; read as a (N, H, W) memmap
    cines.csv    one row per stored cine: key, patient, study, vendor, model, view, label,
                 start, count (rows of frames.u8), size and mtime of the source file
    meta.json    height, width, interpolation, committed frame count, format version
    problems.csv the cines that could not be read on the last build, and why

Frames go through the same reader and ultrasound-region crop as the runtime
(:func:`echostream.stream.sources.open_source`), so training sees what the classifier will see.
Building is incremental: cines already stored (same key, size and mtime, same crop detector)
are not decoded again; new ones are appended. Epochs read the memmap and never decode DICOM.

Example::

    store = build_frame_store(read_manifest("data"), "data/.frame_store/g60x80", (60, 80))
    frames = store.frames          # np.memmap (N, 60, 80) uint8
    store.index                    # pandas DataFrame, one row per frame
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX: concurrent builds of one store are not guarded
    fcntl = None  # type: ignore[assignment]

from echostream.stream.atomic import atomic_file, atomic_write
from echostream.stream.sources.sector import DETECTOR_VERSION
from echostream.stream.views import VIEWS

from .manifest import Manifest, ManifestEntry, Problem

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1
CINE_COLUMNS = (
    "key",
    "patient_id",
    "study_id",
    "vendor",
    "model",
    "view",
    "label",
    "start",
    "count",
    "size",
    "mtime",
)


def default_store_dir(data: str | Path, input_hw: tuple[int, int], interpolation: str) -> Path:
    """``DATA/.frame_store/g<H>x<W>-<interpolation>``: one store per input geometry. A data
    folder that cannot be written (a read-only export, a shared dev set) keeps its store under
    ``$XDG_CACHE_HOME/echostream/frame_store/<hash of the folder's path>/`` instead."""
    h, w = input_hw
    data = Path(data)
    base = data / ".frame_store"
    read_only = not os.access(data, os.W_OK) or not data.stat().st_mode & 0o222
    if read_only and not base.is_dir():  # (root may write anywhere: the mode bits tell)
        import hashlib

        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        digest = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:16]
        base = cache / "echostream" / "frame_store" / digest
    return base / f"g{h}x{w}-{interpolation}"


def store_preprocessor(
    hw: tuple[int, int], interpolation: str = "bilinear", resize: str = "stretch"
):
    """The runtime's :class:`~echostream.stream.preprocess.Preprocessor` for a gray model of
    input ``hw``; the store keeps its :meth:`to_uint8` output (whitening happens in training)."""
    from echostream.stream.model_file import ModelInfo
    from echostream.stream.preprocess import Preprocessor

    info = ModelInfo(
        model_name="frame-store",
        labels=VIEWS,
        input_size=(1, *hw),
        mean=(0.0,),
        std=(1.0,),
        interpolation=interpolation,
        resize=resize,
        crop="region",
    )
    return Preprocessor.from_model_info(info)


def read_cine(
    path: Path, hw: tuple[int, int], interpolation: str = "bilinear", resize: str = "stretch"
) -> np.ndarray:
    """All frames of one cine as (T, h, w) uint8: region crop → gray → resize, as the runtime.

    Raises :class:`echostream.stream.errors.SourceError` when the file cannot be read.
    """
    from echostream.stream.errors import SourceError
    from echostream.stream.sources import open_source

    pre = store_preprocessor(hw, interpolation, resize)
    out = []
    with open_source(path, luminance=True, target_size=hw) as src:
        for frame in src:
            out.append(pre.to_uint8(frame))  # (h, w) uint8
    if not out:
        raise SourceError(str(path), "no frames")
    return np.stack(out)


@dataclass
class FrameStore:
    """An opened store: ``frames`` memmap (N, H, W) and ``cines``/``index`` tables."""

    root: Path
    frames: np.ndarray
    cines: pd.DataFrame  # one row per cine
    problems: list[Problem]

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def index(self) -> pd.DataFrame:
        """One row per frame: row (in ``frames``), cine, frame, key, patient, vendor, view, label
        (plus ``study_id``)."""
        import pandas as pd

        c = self.cines
        counts = c["count"].to_numpy()
        cine = np.repeat(np.arange(len(c)), counts)
        starts = np.repeat(c["start"].to_numpy(), counts)
        row = (
            np.concatenate([np.arange(s, s + n) for s, n in zip(c["start"], counts, strict=True)])
            if len(c)
            else np.zeros(0, dtype=np.int64)
        )
        df = pd.DataFrame({"row": row, "cine": cine, "frame": row - starts})
        for col in ("key", "patient_id", "study_id", "vendor", "view", "label"):
            df[col] = c[col].to_numpy()[cine]
        return df


def _read_meta(root: Path) -> dict:
    path = root / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _read_cines(root: Path) -> list[dict[str, str]]:
    path = root / "cines.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _file_stamp(path: Path) -> tuple[str, str]:
    st = path.stat()
    return str(st.st_size), str(st.st_mtime_ns)


def _write_table(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    with atomic_file(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _decode_all(
    todo: list[ManifestEntry], hw: tuple[int, int], interpolation: str, workers: int
) -> Iterator[tuple[ManifestEntry, np.ndarray | None, str | None]]:
    """(entry, frames or None, error) per cine, in parallel processes when ``workers > 1``."""
    if workers <= 1:
        for entry in todo:
            yield (entry, *_decode_worker(entry, hw, interpolation))
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_decode_worker, e, hw, interpolation) for e in todo]
        for entry, fut in zip(todo, futures, strict=True):
            frames, error = fut.result()
            yield entry, frames, error


def _decode_worker(
    entry: ManifestEntry, hw: tuple[int, int], interpolation: str
) -> tuple[np.ndarray | None, str | None]:
    from echostream.stream.errors import SourceError

    try:
        return read_cine(entry.path, hw, interpolation), None
    except SourceError as err:
        return None, err.args[-1] if err.args else str(err)
    except (OSError, ValueError) as err:
        return None, f"unreadable ({type(err).__name__}: {str(err).splitlines()[0][:120]})"


@contextmanager
def _store_lock(root: Path) -> Iterator[None]:
    """Hold ``root/.lock`` exclusively: training processes started together on one data folder
    build its store one after the other (the second finds the cines stored and decodes none)."""
    with (root / ".lock").open("a") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)


def build_frame_store(
    manifest: Manifest,
    root: str | Path,
    input_hw: tuple[int, int],
    *,
    interpolation: str = "bilinear",
    workers: int = 1,
    progress: bool = True,
) -> FrameStore:
    """Decode the manifest's cines not yet in the store at ``root``, then open the store.

    Cines that cannot be read are listed in ``FrameStore.problems`` (with the manifest's own
    skipped rows) and in ``problems.csv``; the build goes on without them. Concurrent builds
    of one store wait for each other (a file lock).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _store_lock(root):
        return _build_locked(manifest, root, input_hw, interpolation, workers, progress)


def _build_locked(
    manifest: Manifest,
    root: Path,
    input_hw: tuple[int, int],
    interpolation: str,
    workers: int,
    progress: bool,
) -> FrameStore:
    hw = (int(input_hw[0]), int(input_hw[1]))
    meta = _read_meta(root)
    if meta and (tuple(meta["hw"]) != hw or meta["interpolation"] != interpolation):
        raise ValueError(
            f"{root}: store holds {meta['hw']} {meta['interpolation']} frames, not {hw}"
        )
    frame_bytes = hw[0] * hw[1]
    committed = int(meta.get("n_frames", 0))
    if meta.get("crop", 1) != DETECTOR_VERSION:  # stored with other crops: decode again
        committed = 0
    frames_path = root / "frames.u8"
    if frames_path.exists() and frames_path.stat().st_size != committed * frame_bytes:
        os.truncate(frames_path, committed * frame_bytes)  # drop a half-written cine
    stored = {
        r["key"]: r
        for r in (_read_cines(root) if committed else [])
        if int(r["start"]) + int(r["count"]) <= committed
    }

    todo = []
    for entry in manifest.entries:
        row = stored.get(entry.key)
        if row is None or (row["size"], row["mtime"]) != _file_stamp(entry.path):
            todo.append(entry)
    problems = list(manifest.problems)
    if todo:
        rows = list(stored.values())
        with frames_path.open("ab") as fh, _progress(progress) as bar:
            task = bar.add_task(f"frame store: decoding {len(todo)} cines", total=len(todo))
            for entry, frames, error in _decode_all(todo, hw, interpolation, workers):
                bar.advance(task)
                if frames is None:
                    problems.append(Problem(entry.key, error or "unreadable"))
                    continue
                fh.write(np.ascontiguousarray(frames, dtype=np.uint8).tobytes())
                size, mtime = _file_stamp(entry.path)
                rows = [r for r in rows if r["key"] != entry.key]  # a changed file: re-stored
                rows.append(_cine_row(entry, committed, len(frames), size, mtime))
                committed += len(frames)
        fh_flush_ok = frames_path.stat().st_size == committed * frame_bytes
        if not fh_flush_ok:
            raise OSError(f"{frames_path}: size does not match the index")
        _write_table(root / "cines.csv", rows, CINE_COLUMNS)
        meta = {
            "version": FORMAT_VERSION,
            "crop": DETECTOR_VERSION,
            "hw": list(hw),
            "interpolation": interpolation,
            "n_frames": committed,
        }
        atomic_write(root / "meta.json", json.dumps(meta, indent=1))
    elif not meta or meta.get("crop", 1) != DETECTOR_VERSION:
        _write_table(root / "cines.csv", [], CINE_COLUMNS)
        meta = {
            "version": FORMAT_VERSION,
            "crop": DETECTOR_VERSION,
            "hw": list(hw),
            "interpolation": interpolation,
            "n_frames": 0,
        }
        atomic_write(root / "meta.json", json.dumps(meta, indent=1))
    _write_table(
        root / "problems.csv",
        [{"key": p.key, "reason": p.reason} for p in problems],
        ("key", "reason"),
    )
    return open_frame_store(root, manifest, problems)


def _cine_row(entry: ManifestEntry, start: int, count: int, size: str, mtime: str) -> dict:
    return {
        "key": entry.key,
        "patient_id": entry.patient_id,
        "study_id": entry.study_id,
        "vendor": entry.vendor,
        "model": entry.model,
        "view": entry.view,
        "label": entry.label,
        "start": start,
        "count": count,
        "size": size,
        "mtime": mtime,
    }


def open_frame_store(
    root: str | Path, manifest: Manifest | None = None, problems: list[Problem] | None = None
) -> FrameStore:
    """Open a built store; with ``manifest``, keep only the cines it lists (in its order).

    Labels, patients and vendors come from the manifest when given (a relabelled manifest
    needs no re-decoding), else from the store's own table.
    """
    import pandas as pd

    root = Path(root)
    meta = _read_meta(root)
    if not meta:
        raise FileNotFoundError(f"{root}: not a frame store (no meta.json)")
    h, w = meta["hw"]
    n = int(meta["n_frames"])
    path = root / "frames.u8"
    frames = (
        np.memmap(path, dtype=np.uint8, mode="r", shape=(n, h, w))
        if n
        else np.zeros((0, h, w), dtype=np.uint8)
    )
    cines = pd.DataFrame(_read_cines(root), columns=list(CINE_COLUMNS))
    cines = cines[cines["start"].astype(int) + cines["count"].astype(int) <= n]
    if manifest is not None:
        by_key = cines.set_index("key")
        rows = []
        for e in manifest.entries:
            if e.key in by_key.index:
                r = by_key.loc[e.key]
                rows.append(_cine_row(e, int(r["start"]), int(r["count"]), r["size"], r["mtime"]))
        cines = pd.DataFrame(rows, columns=list(CINE_COLUMNS))
    for col in ("start", "count", "label"):
        cines[col] = cines[col].astype(np.int64)
    for col in ("key", "patient_id", "study_id", "vendor", "model", "view"):
        cines[col] = cines[col].fillna("").astype(str)
    return FrameStore(
        root=root, frames=frames, cines=cines.reset_index(drop=True), problems=problems or []
    )


def _progress(enabled: bool):
    from .progress import progress_bar

    return progress_bar(enabled, remaining=True)
