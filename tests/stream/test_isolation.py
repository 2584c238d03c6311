"""One bad input never costs the batch: any exception becomes that item's one-line error, in
``probe``, ``classify`` and ``live``; names print safely; pydicom's log stays off the console
without its logger level being touched; frame rates stay plausible."""

from __future__ import annotations

import doctest
import json
import logging
import os
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from echostream.stream import errors
from echostream.stream.cli import app
from echostream.stream.dicom_writer import UltrasoundRegion, write_cine
from echostream.stream.errors import SourceError, display_name, item_error
from echostream.stream.sources import dicom as dicom_module
from echostream.stream.sources import open_source
from echostream.stream.sources.dicom_header import pydicom_messages

from .malformed import fan_frames

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()


@pytest.fixture(scope="module")
def cine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("iso")
    return write_cine(root / "good.dcm", fan_frames(6), fps=25,
                      regions=[UltrasoundRegion(0, 0, 96, 72)])  # fmt: skip


def _edit(src: Path, out: Path, **tags: object) -> Path:
    ds = pydicom.dcmread(src)
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(out)
    return out


def test_errors_doctests() -> None:
    assert doctest.testmod(errors).failed == 0


def test_display_name_is_one_printable_line_and_valid_json() -> None:
    raw = os.fsdecode(b"/data/pat\nient\xff\x1b[31m.dcm")
    shown = display_name(raw)
    assert shown == "/data/pat\\nient\\xff\\x1b[31m.dcm"
    assert shown.isprintable() and json.loads(json.dumps(shown)) == shown
    shown.encode("utf-8")  # no lone surrogates left
    assert str(SourceError(raw, "bad\nproblem")) == f"{shown}: bad problem"


@pytest.mark.parametrize(
    ("err", "words"),
    [
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (MemoryError(), "not enough memory"),
        (KeyError("x"), "cannot be processed (KeyError"),
        (OSError(5, "Input/output error"), "cannot read it (input/output error)"),
    ],
)
def test_item_error_names_the_item_in_one_line(err: BaseException, words: str) -> None:
    text = str(item_error("a\nb.dcm", err))
    assert text.startswith("a\\nb.dcm: ") and words in text and "\n" not in text


def _explode(*args: object, **kwargs: object) -> None:
    raise ZeroDivisionError("a reader bug")


def test_probe_turns_any_exception_into_one_item_error(
    cine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader bug (not a SourceError) on one file: its error line, the others still probed."""
    real = dicom_module.DicomSource._check_first_frame
    calls = {"n": 0}

    def flaky(self: dicom_module.DicomSource) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            _explode()
        real(self)

    monkeypatch.setattr(dicom_module.DicomSource, "_check_first_frame", flaky)
    result = runner.invoke(app, ["probe", str(cine), str(cine), str(cine), "--json",
                                 "--speed-frames", "0"])  # fmt: skip
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert [r["ok"] for r in out] == [True, False, True]
    assert "ZeroDivisionError: a reader bug" in out[1]["error"]
    assert "Traceback" not in result.stderr and f"{cine}: cannot be processed" in result.stderr


def test_classify_turns_any_exception_into_one_item_error(
    cine: Path, stream_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from echostream.stream import preprocess

    calls = {"n": 0}
    real = preprocess.Preprocessor.__call__

    def flaky(self: preprocess.Preprocessor, frame: object) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 7:  # the second file's first frame (6 frames each)
            _explode()
        return real(self, frame)

    monkeypatch.setattr(preprocess.Preprocessor, "__call__", flaky)
    result = runner.invoke(app, ["classify", str(cine), str(cine), str(cine), "--json",
                                 "--model", str(stream_model), "--workers", "1"])  # fmt: skip
    assert result.exit_code == 1, result.output
    statuses = [c["status"] for c in json.loads(result.stdout)["cines"]]
    assert statuses == ["ok", "error", "ok"]
    assert "Traceback" not in result.stderr and "ZeroDivisionError" in result.stderr


def test_bits_allocated_1_is_the_same_clear_error_in_probe_and_classify(
    cine: Path, tmp_path: Path, stream_model: Path
) -> None:
    path = _edit(cine, tmp_path / "bits1.dcm", BitsAllocated=1, BitsStored=1, HighBit=0)
    probe = runner.invoke(app, ["probe", str(path), "--json"])
    classify = runner.invoke(app, ["classify", str(path), "--json", "--model", str(stream_model)])
    problem = "BitsAllocated 1 is not supported"
    assert probe.exit_code == classify.exit_code == 1
    assert problem in json.loads(probe.stdout)[0]["error"]
    assert problem in json.loads(classify.stdout)["cines"][0]["error"]


def test_probe_json_never_holds_infinity(cine: Path, tmp_path: Path) -> None:
    path = _edit(cine, tmp_path / "ft.dcm", FrameTime="1e-320")
    result = runner.invoke(app, ["probe", str(path), "--json", "--speed-frames", "0"])
    assert result.exit_code == 0

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON")

    (info,) = json.loads(result.stdout, parse_constant=refuse)
    assert info["fps"] == 25 and info["fps_origin"] == "CineRate"
    assert any("FrameTime" in w and "plausible" in w for w in info["warnings"])


def test_live_on_a_fifo_is_refused_at_once(tmp_path: Path, stream_model: Path) -> None:
    fifo = tmp_path / "scanner.mp4"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["live", str(fifo), "--model", str(stream_model), "-q"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {fifo}: not a regular file (a FIFO)"


def test_pydicom_log_is_collected_per_thread_and_its_level_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Inside pydicom_messages() records are collected for this thread only; pydicom's logger
    level is never changed (it was, from worker threads)."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    seen: list[list[str]] = []

    def worker() -> None:
        with pydicom_messages() as messages:
            logging.getLogger("pydicom").warning("inside the reader")
        seen.append(messages)

    with caplog.at_level(logging.WARNING, logger="pydicom"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        logging.getLogger("pydicom").warning("outside any reader")
    assert seen == [["inside the reader"]]
    assert [r.getMessage() for r in caplog.records] == ["outside any reader"]
    assert logger.level == level


def test_corrupt_frame_logs_no_traceback(
    cine: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pydicom's decoders log a full traceback when every plugin fails; the reader's one-line
    error says it instead."""
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import JPEG2000Lossless

    ds = pydicom.dcmread(write_cine(tmp_path / "j2k.dcm", fan_frames(3), fps=25, encoding="j2k"))
    frames = list(generate_frames(ds.PixelData, number_of_frames=3))
    ds.PixelData = encapsulate([frames[0], frames[1][:40] + b"\x13" * 400 + b"\xff\xd9", frames[2]])
    assert ds.file_meta.TransferSyntaxUID == JPEG2000Lossless
    path = tmp_path / "bad-j2k.dcm"
    ds.save_as(path)
    with (
        caplog.at_level(logging.DEBUG, logger="pydicom"),
        pytest.raises(SourceError, match="frame 1: cannot decode"),
    ):
        for _ in open_source(path, workers=2):
            pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_folder_with_fifos_devices_and_link_loops(cine: Path, tmp_path: Path) -> None:
    """Walking a folder never opens a FIFO or a device, nor loops: only media files are taken."""
    from echostream.stream.classify import expand_paths

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.dcm").write_bytes(cine.read_bytes())
    os.mkfifo(tmp_path / "pipe.dcm")
    os.mkfifo(tmp_path / "pipe")  # no suffix: would be opened to look for a DICOM preamble
    (tmp_path / "rand.mp4").symlink_to("/dev/urandom")
    (tmp_path / "loop").symlink_to(tmp_path)  # a folder link back to the root
    (tmp_path / "x.dcm").symlink_to(tmp_path / "y.dcm")
    (tmp_path / "y.dcm").symlink_to(tmp_path / "x.dcm")
    assert expand_paths([tmp_path]) == [str(tmp_path / "sub" / "a.dcm")]
