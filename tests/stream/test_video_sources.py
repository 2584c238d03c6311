"""Video files and still images: clips written with PyAV / Pillow here, read back."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from echostream.stream.errors import SourceError
from echostream.stream.sources import open_source
from echostream.stream.sources.video import ImageSource, VideoSource, reduced_scale

N, FPS, H, W = 20, 25, 48, 64


def gradient(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Frame ``i`` of a moving colour gradient, H×W×3 uint8."""
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = ((np.arange(w) * 255 // (w - 1) + 8 * i) % 256)[None, :]
    img[..., 1] = (np.arange(h) * 255 // (h - 1))[:, None]
    img[..., 2] = (40 + 4 * i) % 256
    return img


def write_clip(
    path: Path,
    codec: str,
    pix_fmt: str = "yuv420p",
    n: int = N,
    options: dict[str, str] | None = None,
) -> Path:
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        for i in range(n):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(gradient(i), format="rgb24")))
        out.mux(stream.encode())
    return path


CLIPS = {"mp4": ("libx264", "yuv420p"), "avi": ("mpeg4", "yuv420p"), "gif": ("gif", "rgb8")}


@pytest.fixture(scope="module", params=sorted(CLIPS))
def clip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    codec, pix_fmt = CLIPS[request.param]
    path = tmp_path_factory.mktemp("clips") / f"gradient.{request.param}"
    return write_clip(path, codec, pix_fmt)


def test_clip_info_and_frames(clip: Path) -> None:
    with open_source(clip) as src:
        assert isinstance(src, VideoSource)
        info = src.info
        frames = list(src)
    assert (info.kind, info.n_frames, info.fps, info.fps_origin) == ("video", N, FPS, "container")
    assert (info.width, info.height) == (W, H)
    # a full-frame gradient: no fan, so the detector's box is the whole picture
    assert info.region is not None and info.region.origin == "detected"
    assert info.region.width >= W - 2 and info.region.height >= H - 2
    assert info.codec and not info.warnings
    assert len(frames) == N
    assert [f.index for f in frames] == list(range(N))
    assert all(f.pixels.shape == (H, W, 3) and f.pixels.dtype == np.uint8 for f in frames)
    ts = np.array([f.timestamp for f in frames])
    assert ts[0] == 0.0
    np.testing.assert_allclose(np.diff(ts), 1 / FPS, atol=1e-3)
    # the content survives the codec: blue channel encodes the frame number
    for i in (0, N // 2, N - 1):
        expected = gradient(i).astype(float)
        tol = 40 if clip.suffix == ".gif" else 12  # GIF: 256-colour palette
        assert np.abs(frames[i].pixels.astype(float) - expected).mean() < tol


def test_luminance_matches_rgb(clip: Path) -> None:
    rgb = [f.pixels for f in VideoSource(clip)]
    gray = [f.pixels for f in VideoSource(clip, luminance=True)]
    assert len(rgb) == len(gray) == N
    for a, g in zip(rgb, gray, strict=True):
        assert g.shape == (H, W) and g.dtype == np.uint8
        luma = a.astype(float) @ np.array([0.299, 0.587, 0.114])
        assert np.abs(g - luma).mean() < 3.0  # BT.601 luma, codec rounding only


def test_target_size_reduces_scale(tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for i in range(3):
            img = gradient(i, 240, 320)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode())
    with VideoSource(path, luminance=True, target_size=(60, 80)) as src:
        frames = list(src)
    assert (src.info.width, src.info.height) == (320, 240)
    assert [f.scale for f in frames] == [0.25] * 3
    assert frames[0].pixels.shape == (60, 80)
    assert reduced_scale(320, 240, (61, 80)) == 0.5


def test_iterating_twice_restarts(clip: Path) -> None:
    with VideoSource(clip) as src:
        first = [f.timestamp for f in src]
        second = [f.timestamp for f in src]
    assert first == second and len(first) == N


def test_estimate_region_hook(clip: Path) -> None:
    from echostream.stream.frame import Region

    seen: list[tuple[int, float, tuple[int, int]]] = []

    def estimator(frames: list[np.ndarray], *, scale: float, full_size: tuple[int, int]):
        seen.append((len(frames), scale, full_size))
        assert all(f.shape == (H, W, 3) for f in frames)
        return Region(4, 2, 60, 40, origin="estimated")

    with VideoSource(clip, estimate_region=estimator) as src:
        assert src.info.region == Region(4, 2, 60, 40, origin="estimated")
        assert len(list(src)) == N  # the frames read ahead for the estimate are not lost
    assert seen == [(8, 1.0, (H, W))]
    assert VideoSource(clip, estimate_region=False).info.region is None


def test_sector_detector_is_on_by_default(tmp_path: Path) -> None:
    """The package's detector: a speckled box (a linear probe's picture) among still text."""
    rng = np.random.default_rng(0)
    path = tmp_path / "sector.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS, options={"crf": "10"})
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for _ in range(10):
            img = np.zeros((120, 160, 3), np.uint8)
            img[4:12, 4:60] = 200  # burned-in "text": bright but still
            img[30:110, 40:120] = rng.integers(30, 230, (80, 80, 1), dtype=np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode())
    with VideoSource(path, luminance=True) as src:
        region = src.info.region
    assert region is not None and region.origin == "detected"
    box = (region.x0, region.y0, region.x1, region.y1)
    assert np.abs(np.array(box) - [40, 30, 120, 110]).max() <= 6, box


def test_unknown_option_is_a_type_error(clip: Path) -> None:
    with pytest.raises(TypeError, match="colour"):
        VideoSource(clip, colour=True)
    # the DICOM reader's options are accepted by every reader
    VideoSource(clip, workers=1, prefetch=4, name="cine").close()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_still_image_is_one_frame(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"still{suffix}"
    img = gradient(3, 120, 160)
    Image.fromarray(img).save(path)
    with open_source(path) as src:
        assert isinstance(src, ImageSource)
        frames = list(src)
    info = src.info
    assert (info.kind, info.n_frames, info.width, info.height) == ("image", 1, 160, 120)
    assert len(frames) == 1 and frames[0].timestamp == 0.0 and frames[0].index == 0
    tol = 6 if suffix == ".jpg" else 0
    assert np.abs(frames[0].pixels.astype(float) - img).mean() <= tol
    gray = next(iter(ImageSource(path, luminance=True))).pixels
    assert gray.shape == (120, 160)
    assert np.abs(gray - img.astype(float) @ [0.299, 0.587, 0.114]).mean() < tol + 1


def test_jpeg_still_draft_scale(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.fromarray(gradient(0, 480, 640)).save(path, quality=90)
    frame = next(iter(ImageSource(path, luminance=True, target_size=(60, 80))))
    assert frame.pixels.shape == (60, 80) and frame.scale == 0.125


# -- bad input --------------------------------------------------------------------------------
def _error(path: Path) -> str:
    with pytest.raises(SourceError) as info, open_source(path) as src:
        list(src)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path))
    return text


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    assert "not a readable video file" in _error(path)


def test_zero_byte_files(tmp_path: Path) -> None:
    for name in ("empty.mp4", "empty.png"):
        path = tmp_path / name
        path.touch()
        assert "empty file" in _error(path)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(b"\x00" * 100)
    assert "not an image" in _error(path)


def test_truncated_image(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(gradient(0, 120, 160)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    assert "cannot be decoded" in _error(path)


def test_audio_only_file_has_no_video(tmp_path: Path) -> None:
    path = tmp_path / "tone.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        out.mux(s.encode(frame))
        out.mux(s.encode())
    assert "no video stream" in _error(path)


@pytest.mark.parametrize(
    ("suffix", "codec"), [(".avi", "mpeg4"), (".mkv", "mpeg4"), (".mp4", "libx264")]
)
def test_zero_frame_video(tmp_path: Path, suffix: str, codec: str) -> None:
    path = tmp_path / f"nothing{suffix}"
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        out.start_encoding()  # header (and stream) written, no frame
    assert path.stat().st_size > 0
    problem = _error(path)
    if suffix == ".avi":  # the container keeps its stream: it is the frames that are missing
        assert "zero frames" in problem


def _cut(full: Path, fraction: float) -> Path:
    path = full.with_name(f"cut{full.suffix}")
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def test_truncated_mp4_cut_in_half(tmp_path: Path) -> None:
    """moov atom at the end, cut in half: the index is gone, a clean SourceError."""
    path = _cut(write_clip(tmp_path / "full.mp4", "libx264", n=60), 0.5)
    assert "not a readable video file" in _error(path)


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.7])
def test_truncated_faststart_mp4(tmp_path: Path, fraction: float) -> None:
    """moov atom first: the frames before the cut decode, or the reader says why not."""
    full = write_clip(tmp_path / "full.mp4", "libx264", n=60, options={"movflags": "faststart"})
    path = _cut(full, fraction)
    try:
        with open_source(path) as src:
            frames = list(src)
    except SourceError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
        assert fraction < 0.5  # only a cut inside the first key frame leaves nothing
        return
    assert 0 < len(frames) < 60
    assert any("of 60 declared frames decodable" in w for w in src.info.warnings)


@pytest.mark.parametrize("fraction", [0.5, 0.7])
def test_truncated_avi(tmp_path: Path, fraction: float) -> None:
    path = _cut(write_clip(tmp_path / "full.avi", "mpeg4", n=60), fraction)
    try:
        with open_source(path) as src:
            frames = list(src)
    except SourceError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
        return
    assert 0 < len(frames) < 60
