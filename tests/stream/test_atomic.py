"""Atomic writes: the old file or the new one, never half of one, and no temp file left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from echostream.stream.atomic import atomic_file, atomic_path, atomic_write


def test_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.json"
    atomic_write(target, "old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "x.engine"
    atomic_write(target, b"old")

    def boom(src, dst):  # noqa: ANN001, ANN202
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.engine"]


def test_an_error_while_writing_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "history.csv"
    atomic_write(target, "epoch\n1\n")
    with pytest.raises(RuntimeError), atomic_file(target, "w", newline="") as fh:
        fh.write("epoch\n")  # half a table, then the writer fails
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "epoch\n1\n"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "epoch\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_only_whole_file_modes() -> None:
    with pytest.raises(ValueError, match="mode must start with 'w'"), atomic_file("x", "a"):
        pass
