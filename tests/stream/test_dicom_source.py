"""DicomSource on real scanners' files and on generated files of every transfer syntax."""

from __future__ import annotations

import tracemalloc
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.pixels import iter_pixels

from echostream.stream.dicom_writer import UltrasoundRegion, write_cine
from echostream.stream.frame import AcquisitionKind
from echostream.stream.sources import open_source
from echostream.stream.sources.dicom import DicomSource


def colour_frames(n: int = 6, h: int = 64, w: int = 96, seed: int = 0) -> list[np.ndarray]:
    """Smooth colourful frames that move a little (JPEG-friendly, colour errors show)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        r = 128 + 100 * np.sin((xx + 3 * i) / 9.0)
        g = 128 + 100 * np.cos((yy - 2 * i) / 7.0)
        b = 60 + 150 * (xx + yy) / (h + w)
        frame = np.stack([r, g, b], axis=2) + rng.normal(0, 4, (h, w, 3))
        out.append(np.clip(frame, 0, 255).astype(np.uint8))
    return out


ENCODINGS = ["jpeg", "rgb", "mono", "rle", "jpeg-ls", "j2k"]
SYNTAX = {
    "jpeg": "JPEG Baseline (Process 1)",
    "rgb": "Explicit VR Little Endian",
    "mono": "Explicit VR Little Endian",
    "rle": "RLE Lossless",
    "jpeg-ls": "JPEG-LS Lossless Image Compression",
    "j2k": "JPEG 2000 Image Compression (Lossless Only)",
}


@pytest.fixture(scope="module")
def cines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cines")
    frames = colour_frames()
    region = [UltrasoundRegion(x0=8, y0=4, x1=88, y1=60)]
    return {
        enc: write_cine(root / f"{enc}.dcm", frames, fps=25, encoding=enc, regions=region)
        for enc in ENCODINGS
    }


# --- real files --------------------------------------------------------------------------


def test_ybr_color_example(ybr_color_path: Path) -> None:
    with open_source(ybr_color_path) as src:
        info = src.info
        frames = list(src)
    assert info.n_frames == len(frames) == 30
    assert info.fps == pytest.approx(30.0, abs=0.01) and info.fps_origin == "FrameTime"
    assert (info.width, info.height) == (320, 240)
    r = info.region
    assert r is not None and r.origin == "detected"
    # the scan sector, searched inside the header's 640x480 region halved like the pixels
    # were ((42, 15)–(298, 208)): the fan's box, without the black margins around it
    assert 42 <= r.x0 < r.x1 <= 298 and 15 <= r.y0 < r.y1 <= 208
    assert 60 <= r.x0 <= 90 and 250 <= r.x1 <= 285 and r.y0 <= 20 and r.y1 >= 195
    assert info.fan is not None and info.fan["kind"] == "sector"
    assert any("exceeds" in w for w in info.warnings)
    assert info.vendor == "SonoSite, Inc. Turbo"
    assert info.acquisition is AcquisitionKind.BMODE
    assert frames[0].pixels.shape == (240, 320, 3) and frames[0].pixels.dtype == np.uint8
    assert [f.index for f in frames] == list(range(30))
    assert frames[29].timestamp == pytest.approx(29 * 0.033333, abs=1e-4)


def test_color3d_cine(color3d_path: Path) -> None:
    with DicomSource(color3d_path, luminance=True, target_size=(60, 80), workers=2) as src:
        assert src.info.n_frames == 120
        assert (src.info.width, src.info.height) == (640, 480)
        frames = list(src)
    assert len(frames) == 120
    assert frames[0].pixels.ndim == 2
    crop = frames[0].region_pixels()
    assert crop.shape[0] >= 60 and crop.shape[1] >= 80
    assert frames[0].scale in (0.5, 0.25, 0.125)


def test_epiq_still_jpeg_lossless(epiq_still_path: Path) -> None:
    with DicomSource(epiq_still_path) as src:
        frames = list(src)
        info = src.info
    assert info.n_frames == len(frames) == 1
    assert "Lossless" in (info.transfer_syntax or "")
    assert info.vendor == "Philips Medical Systems EPIQ 7C"
    assert frames[0].pixels.shape == (768, 1024)
    assert info.fps_origin == "default" and info.warnings


# --- colour and the fast path ------------------------------------------------------------


def _fragments(path: Path, n: int) -> list[bytes]:
    ds = pydicom.dcmread(path)
    return list(generate_frames(ds.PixelData, number_of_frames=n))


def test_ybr_jpeg_colour_matches_reference(ybr_color_path: Path) -> None:
    frames = [f.pixels for f in DicomSource(ybr_color_path)]
    for i, data in enumerate(_fragments(ybr_color_path, 30)[:5]):
        ref = np.asarray(Image.open(BytesIO(data)).convert("RGB"), dtype=np.int16)
        diff = np.abs(frames[i].astype(np.int16) - ref)
        assert diff.mean() < 1.5, f"frame {i}: colour differs from the reference decode"
        # a second YBR→RGB conversion ("green tint") would move the channel means a lot
        assert np.abs(frames[i].mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max() < 1.0


def test_generated_ybr_jpeg_matches_source_frames(cines: dict[str, Path]) -> None:
    truth = colour_frames()
    frames = [f.pixels for f in DicomSource(cines["jpeg"])]
    for got, want in zip(frames, truth, strict=True):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 6  # JPEG q90, 4:2:2


def test_fast_path_matches_y_channel(color3d_path: Path) -> None:
    src = DicomSource(color3d_path, luminance=True, target_size=(60, 80))
    frame = next(iter(src))
    assert frame.scale < 1
    data = _fragments(color3d_path, 1)[0]
    with Image.open(BytesIO(data)) as im:
        im.draft("YCbCr", im.size)
        y = im.convert("YCbCr").split()[0]
        ref = np.asarray(y.resize(frame.pixels.shape[::-1], Image.Resampling.BOX), dtype=float)
    assert np.abs(frame.pixels.astype(float) - ref).mean() < 3


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_transfer_syntax(cines: dict[str, Path], encoding: str) -> None:
    path = cines[encoding]
    with DicomSource(path) as src:
        assert src.info.transfer_syntax == SYNTAX[encoding]
        assert src.info.n_frames == 6 and src.info.fps == pytest.approx(25)
        assert src.info.region is not None and src.info.region.x1 == 88
        frames = list(src)
    ref = list(iter_pixels(path))  # pydicom's own decode, YBR→RGB done by pydicom
    assert len(frames) == len(ref) == 6
    for got, want in zip(frames, ref, strict=True):
        assert got.pixels.shape == want.shape and got.pixels.dtype == np.uint8
        diff = np.abs(got.pixels.astype(int) - want.astype(int))
        # JPEG: libjpeg's integer YCbCr→RGB vs pydicom's float one differ by rounding only;
        # converting twice would be off by tens of levels
        assert diff.max() <= (4 if encoding == "jpeg" else 0) and diff.mean() < 0.5
    if encoding in ("rgb", "rle", "jpeg-ls", "j2k"):  # lossless: exactly what was written
        np.testing.assert_array_equal(frames[2].pixels, colour_frames()[2])


@pytest.mark.parametrize("encoding", ["rgb", "rle", "j2k"])
def test_luminance_other_syntaxes_is_bt601(cines: dict[str, Path], encoding: str) -> None:
    frame = next(iter(DicomSource(cines[encoding], luminance=True, target_size=(30, 40))))
    assert frame.scale == 1.0 and frame.pixels.ndim == 2
    rgb = colour_frames()[0].astype(float)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    assert np.abs(frame.pixels - luma).max() <= 1.0


def test_parallel_decode_same_frames_in_order(color3d_path: Path) -> None:
    one = [f.pixels for f in DicomSource(color3d_path, luminance=True, target_size=(60, 80))]
    two = DicomSource(color3d_path, luminance=True, target_size=(60, 80), workers=2, prefetch=3)
    for i, frame in enumerate(two):
        assert frame.index == i
        np.testing.assert_array_equal(frame.pixels, one[i])


# --- timing, kind, laziness --------------------------------------------------------------


def _rewrite(path: Path, out: Path, **tags: object) -> Path:
    ds = pydicom.dcmread(path)
    for key, value in tags.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(out)
    return out


def test_frame_time_vector_timestamps(cines: dict[str, Path], tmp_path: Path) -> None:
    path = _rewrite(
        cines["mono"],
        tmp_path / "ftv.dcm",
        FrameIncrementPointer=0x00181065,
        FrameTimeVector=[0, 20, 20, 40, 20, 20],
        FrameTime=None,
    )
    src = DicomSource(path)
    stamps = [f.timestamp for f in src]
    assert stamps == pytest.approx([0, 0.02, 0.04, 0.08, 0.10, 0.12])
    assert src.info.fps_origin == "FrameTimeVector"


@pytest.mark.parametrize(
    ("tags", "origin", "fps"),
    [
        ({"FrameTime": None, "FrameIncrementPointer": None}, "CineRate", 25),
        (
            {"FrameTime": None, "FrameIncrementPointer": None, "CineRate": None},
            "RecommendedDisplayFrameRate",
            25,
        ),
        (
            {
                "FrameTime": None,
                "FrameIncrementPointer": None,
                "CineRate": None,
                "RecommendedDisplayFrameRate": None,
            },
            "default",
            30,
        ),
    ],
)
def test_fps_fallbacks(
    cines: dict[str, Path], tmp_path: Path, tags: dict, origin: str, fps: float
) -> None:
    info = DicomSource(_rewrite(cines["mono"], tmp_path / "t.dcm", **tags)).info
    assert info.fps_origin == origin and info.fps == pytest.approx(fps)
    assert any("30 fps" in w for w in info.warnings) == (origin == "default")


def test_acquisition_kinds(tmp_path: Path) -> None:
    frames = colour_frames(2)
    cases = {
        "pw": (UltrasoundRegion(0, 30, 96, 64, data_type="pw", spatial_format=3), "doppler"),
        "color": (UltrasoundRegion(0, 0, 96, 64, data_type="color"), "color"),
        "mm": (UltrasoundRegion(0, 30, 96, 64, data_type="tissue", spatial_format=2), "mmode"),
    }
    for name, (extra, kind) in cases.items():
        regions = [UltrasoundRegion(10, 0, 80, 30), extra]
        path = write_cine(tmp_path / f"{name}.dcm", frames, fps=30, encoding="rgb", regions=regions)
        info = DicomSource(path).info
        assert info.acquisition.value == kind, name
        assert info.region is not None and info.region.data_type == "tissue"


def test_region_estimated_without_header_regions(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(8):
        img = np.zeros((120, 160), np.uint8)
        img[30:100, 40:130] = rng.integers(40, 220, (70, 90))  # speckle that changes
        img[5:12, 5:60] = 255  # static burned-in text
        frames.append(img)
    path = write_cine(tmp_path / "noregion.dcm", frames, fps=30, encoding="mono")
    info = DicomSource(path).info
    r = info.region
    assert r is not None and r.origin == "detected"
    assert abs(r.x0 - 40) <= 6 and abs(r.x1 - 130) <= 6 and abs(r.y0 - 30) <= 6
    assert abs(r.y1 - 100) <= 6


def test_decoding_frame_zero_is_lazy(tmp_path: Path) -> None:
    """Reading frame 0 of a 23 MB native cine holds one frame, not the file."""
    frame = colour_frames(1, 240, 320)[0]
    path = write_cine(tmp_path / "big.dcm", [frame] * 100, fps=30, encoding="rgb")
    small = write_cine(tmp_path / "small.dcm", [frame] * 2, fps=30, encoding="rgb")
    next(iter(DicomSource(small)))  # the readers' first imports (~15 MB) are not the file
    tracemalloc.start()
    try:
        src = DicomSource(path)
        first = next(iter(src))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.pixels.shape == (240, 320, 3)
    # The whole file is 100 frames; the peak is process-wide (other tests' threads allocate
    # too), so the bound leaves room for them and still fails on reading the file at once.
    assert peak < 20 * frame.nbytes, f"peak {peak} bytes while reading one frame"
    calls = []
    src = DicomSource(path)
    decode = src._decode
    src._decode = lambda item: calls.append(item[0]) or decode(item)  # type: ignore[method-assign]
    next(iter(src))
    assert calls == [0]
