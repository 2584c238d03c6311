from __future__ import annotations

import csv

import pytest

from echostream.train.manifest import read_manifest


def _write(root, rows, columns=("path", "patient_id", "view", "vendor")):
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def test_reads_toy_manifest(toy_data):
    m = read_manifest(toy_data)
    assert len(m.entries) == 48 and not m.problems
    assert m.entries[0].path.is_file() and m.entries[0].label == 0
    assert m.vendors == ["ToyVendorA", "ToyVendorB"] and len(m.patients) == 6
    assert m.simulated is False  # toy data is not the simulator


def test_bad_rows_reported_and_skipped(tmp_path):
    (tmp_path / "a.dcm").write_bytes(b"x")
    _write(
        tmp_path,
        [
            {"path": "a.dcm", "patient_id": "p1", "view": "a4c", "vendor": "V"},
            {"path": "a.dcm", "patient_id": "p1", "view": "A4C", "vendor": "V"},
            {"path": "b.dcm", "patient_id": "p1", "view": "A4C", "vendor": "V"},
            {"path": "a.dcm", "patient_id": "p2", "view": "PSAX", "vendor": "V"},
            {"path": "", "patient_id": "p2", "view": "A2C", "vendor": "V"},
        ],
    )
    m = read_manifest(tmp_path)
    assert [e.view for e in m.entries] == ["A4C"]  # label upper-cased
    reasons = sorted(p.reason for p in m.problems)
    assert reasons == ["empty path", "listed twice", "missing file", "unknown label 'PSAX'"]


def test_simulated_flag_from_columns_or_marker(tmp_path):
    (tmp_path / "a.dcm").write_bytes(b"x")
    _write(
        tmp_path,
        [
            {
                "path": "a.dcm",
                "patient_id": "p",
                "view": "A4C",
                "true_view": "A4C",
                "label_flipped": "0",
            }
        ],
        ("path", "patient_id", "view", "true_view", "label_flipped"),
    )
    assert read_manifest(tmp_path).simulated
    _write(tmp_path, [{"path": "a.dcm", "patient_id": "p", "view": "A4C", "vendor": "V"}])
    assert not read_manifest(tmp_path).simulated
    (tmp_path / "SIMULATED").write_text("")
    assert read_manifest(tmp_path / "manifest.csv").simulated


def test_missing_manifest_or_columns(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path)
    _write(tmp_path, [{"path": "a", "vendor": "V"}], ("path", "vendor"))
    with pytest.raises(ValueError, match="patient_id, view"):
        read_manifest(tmp_path)


def test_labels_csv_folder_of_own_files(tmp_path):
    """A folder with labels.csv (file, view): each file its own patient; OTHER rows skipped."""
    for name in ("a.png", "b.mp4", "c.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "labels.csv").write_text(
        "file,view,kind\na.png,a4c,still\nb.mp4,OTHER,cine\nc.png,PLAX,still\n"
    )
    m = read_manifest(tmp_path)
    assert m.per_item and not m.simulated
    assert [(e.key, e.view, e.patient_id) for e in m.entries] == [
        ("a.png", "A4C", "a.png"),
        ("c.png", "PLAX", "c.png"),
    ]
    assert [p.key for p in m.problems] == ["b.mp4"] and "OTHER" in m.problems[0].reason


def test_read_only_data_folder_keeps_its_store_in_the_cache(tmp_path, monkeypatch):
    import os

    from echostream.train import frame_store

    data = tmp_path / "ro"
    data.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    got = frame_store.default_store_dir(data, (60, 80), "bilinear")
    assert got == data / ".frame_store" / "g60x80-bilinear"
    real_access = os.access
    monkeypatch.setattr(  # root may write anywhere: pretend the folder is read-only
        frame_store.os, "access", lambda p, mode: False if p == data else real_access(p, mode)
    )
    got = frame_store.default_store_dir(data, (60, 80), "bilinear")
    assert got.parent.parent == tmp_path / "cache" / "echostream" / "frame_store"
    assert got.name == "g60x80-bilinear"


def test_folder_without_write_bits_keeps_its_store_in_the_cache_even_for_root(
    tmp_path, monkeypatch
):
    """A shared, read-only dev set (mode r-x): root could write into it, but must not."""
    import os

    from echostream.train.frame_store import default_store_dir

    data = tmp_path / "shared"
    data.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    os.chmod(data, 0o555)
    try:
        got = default_store_dir(data, (60, 80), "bilinear")
    finally:
        os.chmod(data, 0o755)
    assert got.parent.parent == tmp_path / "cache" / "echostream" / "frame_store"
