"""Bad DICOM input: each case is one SourceError line naming the file, never a patient field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from echostream.stream.dicom_writer import Identity, UltrasoundRegion, write_cine
from echostream.stream.errors import SourceError
from echostream.stream.sources import open_source

PHI = ("DOE^JOHN", "DOE", "PID12345", "19450317", "20240229")
IDENTITY = Identity(
    patient_name="DOE^JOHN", patient_id="PID12345", birth_date="19450317", study_date="20240229"
)


def _frames(n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("good")
    region = [UltrasoundRegion(4, 4, 60, 44)]
    return {
        enc: write_cine(
            root / f"{enc}.dcm", _frames(), fps=25, encoding=enc, regions=region, identity=IDENTITY
        )
        for enc in ("jpeg", "rgb")
    }


def _edit(src: Path, out: Path, change: Callable[[pydicom.Dataset], None]) -> Path:
    ds = pydicom.dcmread(src)
    change(ds)
    ds.save_as(out)
    return out


def _expect_error(path: Path, *words: str, **options: object) -> SourceError:
    with pytest.raises(SourceError) as info, open_source(path, **options) as src:
        for _ in src:
            pass
    err = info.value
    message = str(err)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for word in words:
        assert word in message, message
    assert not any(p in message for p in PHI)
    return err


def test_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a DICOM file\n" * 20)
    _expect_error(path, "not a DICOM file")


def test_no_such_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "missing.dcm", "no such file")


def test_dicom_without_pixel_data(good: dict[str, Path], tmp_path: Path) -> None:
    path = _edit(good["jpeg"], tmp_path / "sr.dcm", lambda ds: delattr(ds, "PixelData"))
    _expect_error(path, "without pixel data")


def test_non_ultrasound_modality_is_read_but_flagged(good: dict[str, Path], tmp_path: Path) -> None:
    path = _edit(good["rgb"], tmp_path / "ct.dcm", lambda ds: setattr(ds, "Modality", "CT"))
    with open_source(path) as src:
        assert len(list(src)) == 6
        assert any("not ultrasound" in w for w in src.info.warnings)


@pytest.mark.parametrize("encoding", ["jpeg", "rgb"])
def test_truncated_pixel_data(good: dict[str, Path], tmp_path: Path, encoding: str) -> None:
    data = good[encoding].read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: int(len(data) * 0.7)])
    _expect_error(path, "truncated")


def test_zero_frames(good: dict[str, Path], tmp_path: Path) -> None:
    path = _edit(good["jpeg"], tmp_path / "zero.dcm", lambda ds: setattr(ds, "NumberOfFrames", 0))
    _expect_error(path, "NumberOfFrames is 0")


def test_unsupported_transfer_syntax(good: dict[str, Path], tmp_path: Path) -> None:
    def to_jpeg_xl(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.110"  # JPEG XL: no decoder here

    path = _edit(good["jpeg"], tmp_path / "jpegxl.dcm", to_jpeg_xl)
    _expect_error(path, "unsupported transfer syntax", "1.2.840.10008.1.2.4.110")


def test_jpeg_relabelled_as_mpeg2_is_refused(good: dict[str, Path], tmp_path: Path) -> None:
    """MPEG-2 is decoded now (stream/sources/dicom_video.py), but only an MPEG-2 stream."""

    def to_mpeg2(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"

    path = _edit(good["jpeg"], tmp_path / "mpeg.dcm", to_mpeg2)
    _expect_error(path, "holds a mjpeg stream", "mpeg2video")


@pytest.mark.parametrize(
    ("encoding", "tags", "words"),
    [
        ("jpeg", {"NumberOfFrames": 100000}, ("NumberOfFrames is 100000", "only 6")),
        ("jpeg", {"Rows": 3000, "Columns": 4000}, ("3000x4000", "frame 0 is 48x64")),
        ("jpeg", {"Rows": 4800, "Columns": 6400}, ("4800x6400", "not plausible")),
        ("rgb", {"Rows": 6000, "Columns": 8000, "NumberOfFrames": 1000}, ("6000x8000",)),
        ("rgb", {"Rows": 60000, "Columns": 60000}, ("not plausible",)),
    ],
)
def test_declared_size_beyond_data(
    good: dict[str, Path], tmp_path: Path, encoding: str, tags: dict, words: tuple[str, ...]
) -> None:
    def change(ds: pydicom.Dataset) -> None:
        for key, value in tags.items():
            setattr(ds, key, value)

    _expect_error(_edit(good[encoding], tmp_path / "big.dcm", change), *words)


@pytest.mark.parametrize(
    "options", [{}, {"luminance": True, "target_size": (24, 32), "workers": 2}]
)
def test_corrupt_frame_in_the_middle(good: dict[str, Path], tmp_path: Path, options: dict) -> None:
    def corrupt(ds: pydicom.Dataset) -> None:
        frames = list(generate_frames(ds.PixelData, number_of_frames=6))
        frames[3] = b"\xff\xd8 not a jpeg " * 8
        ds.PixelData = encapsulate(frames)

    path = _edit(good["jpeg"], tmp_path / "corrupt.dcm", corrupt)
    seen: list[int] = []
    with pytest.raises(SourceError, match=r"frame 3: cannot decode") as info:
        for frame in open_source(path, **options):
            seen.append(frame.index)
    assert seen == [0, 1, 2]
    assert str(info.value).startswith(f"{path}: ") and "0x" not in str(info.value)


def test_no_phi_in_info_or_frames(good: dict[str, Path]) -> None:
    for path in good.values():
        with open_source(path) as src:
            text = repr(src.info.to_dict()) + repr(vars(src.info))
            frame = next(iter(src))
            text += repr(frame.info)
        assert not any(p in text for p in PHI)
    raw = good["rgb"].read_bytes()
    assert b"DOE^JOHN" in raw  # the file really carries the fake name the checks look for
