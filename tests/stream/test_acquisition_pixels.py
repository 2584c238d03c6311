"""Spectral Doppler, M-mode and colour flow seen in the pixels of sources without acquisition tags.

Positives: Doppler and M-mode screens drawn by :mod:`.acquisition_screens` (thumbnail, strip,
scales, text, ECG; every seed a different screen), as stills, as a scrolling MP4 and as a DICOM
without regions; pydicom's colour-flow examples. Negatives: drawn 2D sector screens, pydicom's
echo cines, and every item of ``../shared/real-dev`` (skipped where it is not beside the repo).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from echostream.stream.frame import AcquisitionKind
from echostream.stream.sources import open_source
from echostream.stream.sources.acquisition_pixels import (
    COLOUR_MIN,
    NOTE_PREFIX,
    colour_fraction,
    detect_acquisition,
)

from .acquisition_screens import doppler_frames, mmode_frames
from .test_sector import fan_mask, screen

REAL_DEV = Path(__file__).resolve().parents[3] / "shared" / "real-dev"
KINDS = {"doppler": doppler_frames, "mmode": mmode_frames}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_drawn_strip_screens_are_detected(kind: str, seed: int) -> None:
    frames = KINDS[kind](np.random.default_rng(500 + seed), 1)
    found = detect_acquisition(frames, colour=frames)
    assert found is not None and found.kind.value == kind, found
    assert "1/1 frames" in found.reason


@pytest.mark.parametrize("seed", range(6))
def test_drawn_sector_screens_are_not(seed: int) -> None:
    rng = np.random.default_rng(seed)
    half, radius = rng.uniform(30, 45), rng.uniform(250, 330)
    frames = [screen(fan_mask((240, 15), half, radius), rng) for _ in range(3)]
    assert detect_acquisition(frames, colour=frames) is None


def test_colour_share_needs_a_gray_picture() -> None:
    """Colour flow is saturated red/blue over gray; a colourful picture is not colour flow."""
    gray = np.full((40, 40, 3), 90, np.uint8)
    gray[:4, :10] = (220, 30, 20)  # 40 of 1600 pixels: 2.5 %
    assert colour_fraction(gray) == pytest.approx(0.025)
    red, green = np.meshgrid(np.arange(40) * 6, np.arange(40) * 6)
    rainbow = np.stack([red, green, np.full((40, 40), 40)], axis=-1).astype(np.uint8)
    assert colour_fraction(rainbow) == 0.0


def write_mp4(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = (
            frames[0].shape[1],
            frames[0].shape[0],
            "yuv420p",
        )
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def strip_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """A scrolling M-mode MP4, a Doppler PNG and a Doppler JPEG DICOM without any region or
    Image Type mode bit: nothing but the pixels says what they are."""
    from echostream.stream.dicom_writer import write_cine

    root = tmp_path_factory.mktemp("strips")
    mmode = write_mp4(root / "sweep.mp4", mmode_frames(np.random.default_rng(1), 12))
    Image.fromarray(doppler_frames(np.random.default_rng(2), 1)[0]).save(root / "pw.png")
    dcm = write_cine(root / "pw.dcm", doppler_frames(np.random.default_rng(3), 6), fps=30)
    return {"mp4": (mmode, "mmode"), "png": (root / "pw.png", "doppler"), "dcm": (dcm, "doppler")}


@pytest.mark.parametrize("which", ["mp4", "png", "dcm"])
def test_readers_report_the_kind_seen(strip_files, which: str) -> None:
    path, kind = strip_files[which]
    with open_source(path, luminance=True, target_size=(64, 64)) as src:
        info = src.info
    assert info.acquisition.value == kind
    notes = [w for w in info.warnings if w.startswith(NOTE_PREFIX)]
    assert len(notes) == 1 and notes[0].endswith("not classified"), info.warnings


def test_classify_reports_them_not_classified_with_the_reason(strip_files, stream_model) -> None:
    from .test_classify_cli import make_app

    folder = strip_files["mp4"][0].parent
    res = CliRunner().invoke(make_app(), ["classify", str(folder), "--model", str(stream_model),
                                          "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    by_name = {Path(c["path"]).name: c for c in data["cines"]}
    for path, kind in strip_files.values():
        cine = by_name[path.name]
        assert cine["status"] == "not_classified" and cine["acquisition"] == kind, cine
        assert cine["view"] is None and cine["reason"].startswith(NOTE_PREFIX), cine
    assert data["summary"]["not_classified"] == 3


def pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not in this pydicom-data")
    return Path(str(path))


@pytest.mark.parametrize("name", ["US1_UNCR.dcm", "examples_rgb_color.dcm"])
def test_pydicom_power_doppler_without_tags_is_colour(name: str) -> None:
    """No regions, no Image Type mode bits: colour seen in the pixels; still classified."""
    with open_source(pydicom_file(name), luminance=True, target_size=(64, 64)) as src:
        info = src.info
        pixels = next(iter(open_source(pydicom_file(name)))).pixels
    assert info.acquisition is AcquisitionKind.COLOR
    assert any(w.startswith(NOTE_PREFIX) and "still classified" in w for w in info.warnings)
    assert 0.04 <= colour_fraction(pixels) <= 0.06  # 4.9-5.3 % measured


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "color3d_jpeg_baseline.dcm"])
def test_pydicom_echo_cines_are_untouched(name: str) -> None:
    with open_source(pydicom_file(name)) as src:
        info = src.info
        frames = [f.pixels for _, f in zip(range(8), src, strict=False)]
    assert info.acquisition is AcquisitionKind.BMODE  # from the header
    assert detect_acquisition(frames, colour=frames) is None  # and nothing in the pixels
    assert max(colour_fraction(f) for f in frames) < COLOUR_MIN / 10


@pytest.mark.skipif(not REAL_DEV.is_dir(), reason="../shared/real-dev is not beside the repo")
def test_no_real_dev_item_is_taken_for_doppler_mmode_or_colour() -> None:
    items = sorted(p for p in REAL_DEV.rglob("*") if p.suffix in (".png", ".mp4"))
    assert len(items) == 23
    seen = {}
    for path in items:
        with open_source(path, luminance=True, target_size=(64, 64)) as src:
            seen[path.name] = src.info.acquisition
    assert all(kind is AcquisitionKind.UNKNOWN for kind in seen.values()), seen
