from __future__ import annotations

import csv
import json
import shutil

import numpy as np

from echostream.stream.sources import open_source
from echostream.stream.sources.sector import DETECTOR_VERSION
from echostream.train.frame_store import build_frame_store, open_frame_store, read_cine
from echostream.train.manifest import read_manifest


def test_store_is_memmap_with_index(toy_store):
    assert isinstance(toy_store.frames, np.memmap)
    assert toy_store.frames.shape == (48 * 6, 60, 80) and toy_store.frames.dtype == np.uint8
    idx = toy_store.index
    assert len(idx) == 288 and set(idx.columns) >= {
        "row",
        "cine",
        "frame",
        "patient_id",
        "vendor",
        "label",
    }
    assert idx.groupby("cine").size().eq(6).all()
    # the region crop removed the bright "text" strip above the region
    assert toy_store.frames[:, :2].max() < 200


def test_store_matches_runtime_reader(toy_data, toy_store):
    entry = read_manifest(toy_data).entries[3]
    frames = read_cine(entry.path, (60, 80))
    start = int(toy_store.cines.set_index("key").loc[entry.key, "start"])
    assert np.array_equal(frames, toy_store.frames[start : start + 6])
    with open_source(entry.path, luminance=True) as src:
        assert src.info.region is not None


def _copy(src, dst, n):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".frame_store"))
    with (dst / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    with (dst / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[:n])
    return rows


def test_incremental_rebuild_and_bad_entries(toy_data, tmp_path):
    data = tmp_path / "data"
    rows = _copy(toy_data, data, 8)
    store_dir = tmp_path / "store"
    s1 = build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False)
    assert len(s1.cines) == 8 and len(s1.frames) == 48
    stamp = (store_dir / "frames.u8").stat().st_mtime_ns

    # second run, nothing new: nothing decoded, frames file untouched
    s2 = build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False)
    assert (store_dir / "frames.u8").stat().st_mtime_ns == stamp and len(s2.frames) == 48

    # add 2 good cines, one unreadable, one missing, one with an unknown label
    (data / "broken.dcm").write_bytes(b"not a dicom file at all")
    extra = [
        rows[8],
        rows[9],
        {**rows[0], "path": "broken.dcm"},
        {**rows[0], "path": "gone.dcm"},
        {**rows[10], "view": "M-MODE"},
    ]
    with (data / "manifest.csv").open("a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0])).writerows(extra)
    s3 = build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False)
    assert len(s3.cines) == 10 and len(s3.frames) == 60
    assert np.array_equal(s3.frames[:48], s1.frames[:48])  # appended, not rewritten
    reasons = {p.key: p.reason for p in s3.problems}
    assert set(reasons) == {"broken.dcm", "gone.dcm", rows[10]["path"]}
    assert reasons["gone.dcm"] == "missing file" and "unknown label" in reasons[rows[10]["path"]]
    assert (store_dir / "problems.csv").read_text().count("\n") == 4
    # a manifest listing fewer cines opens a subset of the same store
    sub = open_frame_store(store_dir, read_manifest(toy_data))
    assert len(sub.cines) == 10  # only those of the toy manifest that are stored


def test_half_written_cine_is_dropped(toy_data, tmp_path):
    data = tmp_path / "data"
    _copy(toy_data, data, 2)
    store_dir = tmp_path / "store"
    build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False)
    with (store_dir / "frames.u8").open("ab") as fh:  # a crash mid-append
        fh.write(b"\0" * 1000)
    s = build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False)
    assert (store_dir / "frames.u8").stat().st_size == 12 * 60 * 80 and len(s.frames) == 12


def test_store_made_with_another_crop_detector_is_decoded_again(toy_data, tmp_path):
    data = tmp_path / "data"
    _copy(toy_data, data, 2)
    store_dir = tmp_path / "store"
    build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False)
    meta = json.loads((store_dir / "meta.json").read_text())
    meta.pop("crop")  # as written before the crop detector was versioned
    (store_dir / "meta.json").write_text(json.dumps(meta))
    with (store_dir / "frames.u8").open("r+b") as fh:  # stale crops: poison the stored frames
        fh.write(b"\xff" * (12 * 60 * 80))
    s = build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False)
    assert len(s.frames) == 12 and int(np.asarray(s.frames).min()) < 255
    assert json.loads((store_dir / "meta.json").read_text())["crop"] == DETECTOR_VERSION


def _build_in_child(data: str, store_dir: str) -> int:
    return len(build_frame_store(read_manifest(data), store_dir, (60, 80), progress=False).frames)


def test_two_processes_building_one_store_wait_for_each_other(toy_data, tmp_path):
    """Training runs started together on one data folder: without the lock both appended the
    same cines to frames.u8 and the index no longer matched it."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    data = tmp_path / "data"
    _copy(toy_data, data, 8)
    store_dir = tmp_path / "store"
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        counts = list(pool.map(_build_in_child, [str(data)] * 2, [str(store_dir)] * 2))
    assert counts == [48, 48]
    assert (store_dir / "frames.u8").stat().st_size == 48 * 60 * 80
    alone = build_frame_store(read_manifest(data), tmp_path / "alone", (60, 80), progress=False)
    assert np.array_equal(open_frame_store(store_dir, read_manifest(data)).frames, alone.frames)
