"""Video DICOM (MPEG-2, H.264, HEVC bitstreams in encapsulated pixel data, PS3.5 8.2.5-8.2.8):
decoded lazily by the DICOM reader like any cine (frames in order, header timing or the
stream's rate), broken streams one-line errors while a batch goes on, memory bounded on a long
cine, and ``classify`` giving a clear simulated cine the same view as its raw frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from echostream.stream.dicom_writer import UltrasoundRegion, write_cine
from echostream.stream.errors import SourceError
from echostream.stream.sources import open_source

from .conftest import synthetic_frames
from .video_dicom import (
    H264_HP41,
    HEVC_MP51,
    MPEG2_MPML,
    VIDEO_ENDOSCOPIC,
    encode_video,
    write_video_cine,
)

pytestmark = pytest.mark.timeout(180)
REGION = [UltrasoundRegion(10, 8, 150, 112)]


def _marked_frames(n: int) -> list[np.ndarray]:
    """Synthetic frames with a bright bar moving right, so each frame is unlike the others."""
    frames = synthetic_frames(n)
    for i, frame in enumerate(frames):
        frame[:, 4 + 7 * i : 10 + 7 * i] = 250
    return frames


FRAMES = _marked_frames(20)


def _gray(frames: list[np.ndarray]) -> np.ndarray:
    return np.asarray([f[..., 0] for f in frames], dtype=np.float64)


@pytest.mark.parametrize(
    ("tsyntax", "container", "codec"),
    [
        (H264_HP41, "mpegts", "h264"),  # the container PS3.5 8.2.7 names
        (H264_HP41, "h264", "h264"),  # a bare elementary stream, as some scanners write
        (MPEG2_MPML, "mpegts", "mpeg2video"),
        (MPEG2_MPML, "vob", "mpeg2video"),  # MPEG-2 program stream
        (HEVC_MP51, "hevc", "hevc"),
    ],
)
def test_video_dicom_decodes_like_its_frames(tmp_path, tsyntax, container, codec) -> None:
    path = write_video_cine(tmp_path / "v.dcm", FRAMES, fps=25, tsyntax=tsyntax,
                            container=container, regions=REGION)  # fmt: skip
    with open_source(path, luminance=True) as src:
        info = src.info
        got = [f for f in src]
    assert (info.n_frames, info.fps, info.fps_origin, info.codec) == (20, 25.0, "FrameTime", codec)
    assert info.kind == "dicom" and info.region is not None and not info.warnings
    assert [f.index for f in got] == list(range(20))
    assert [round(f.timestamp, 3) for f in got[:3]] == [0.0, 0.04, 0.08]
    decoded, source = _gray([f.pixels[..., None] for f in got]), _gray(FRAMES)
    assert np.abs(decoded - source).mean() < 12  # lossy, but the same pictures
    # each frame is closest to its own source frame: none dropped, repeated or out of order
    dist = np.abs(decoded[:, None] - source[None]).mean(axis=(2, 3))
    assert list(dist.argmin(axis=1)) == list(range(20))
    with open_source(path, workers=2) as src:  # colour, two decode threads: the same frames
        colour = [f.pixels for f in src]
    assert colour[0].shape == (120, 160, 3) and len(colour) == 20
    assert np.abs(_gray([c for c in colour]) - source).mean() < 12


def test_frame_rate_from_the_stream_and_frame_count_from_the_data(tmp_path) -> None:
    path = write_video_cine(tmp_path / "v.dcm", FRAMES, fps=30, timing=False, regions=REGION)
    with open_source(path) as src:
        assert (src.info.fps, src.info.fps_origin) == (30.0, "video stream")
        assert not any("assuming" in w for w in src.info.warnings)
    ds = pydicom.dcmread(path)
    del ds.NumberOfFrames
    ds.save_as(tmp_path / "uncounted.dcm")
    with open_source(tmp_path / "uncounted.dcm") as src:
        assert src.info.n_frames == 20 and len(list(src)) == 20
        assert "NumberOfFrames is missing; 20 frames found in the video stream" in src.info.warnings


def _broken(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Broken video DICOMs and a word of the error each must give."""
    good = encode_video(FRAMES, "libx264")
    cases: dict[str, tuple[Path, str]] = {}

    def add(name: str, word: str, **kwargs: Any) -> None:
        path = write_video_cine(tmp_path / f"{name}.dcm", FRAMES, regions=REGION, **kwargs)
        cases[name] = (path, word)

    add("cut-stream", "ends after", bitstream=good[: len(good) * 2 // 5])
    add(
        "garbage",
        "decod",
        bitstream=bytes(np.random.default_rng(3).integers(0, 256, 20000, np.uint8)),
    )
    add("wrong-codec", "holds a mpeg2video stream", container="mpeg2video",
        bitstream=encode_video(FRAMES, "mpeg2video", container="mpeg2video"))  # fmt: skip
    path = write_video_cine(tmp_path / "more-declared.dcm", FRAMES, regions=REGION)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 40
    ds.save_as(path)
    cases["more-declared"] = (path, "ends after 20 of 40 frames")
    ds.NumberOfFrames, ds.Rows, ds.Columns = 20, 240, 320
    ds.save_as(tmp_path / "wrong-size.dcm")
    cases["wrong-size"] = (tmp_path / "wrong-size.dcm", "video stream is 120x160")
    data = cases["more-declared"][0].read_bytes()
    (tmp_path / "cut-file.dcm").write_bytes(data[: len(data) - 3000])
    cases["cut-file"] = (tmp_path / "cut-file.dcm", "truncated")
    return cases


def test_broken_video_streams_are_one_line_errors(tmp_path) -> None:
    for name, (path, word) in _broken(tmp_path).items():
        with pytest.raises(SourceError) as info, open_source(path, luminance=True) as src:
            list(src)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and word in message, (name, message)
        assert "\n" not in message and message.count("/tmp") == 1, message


def test_classify_batch_goes_on_past_a_broken_video(tmp_path, stream_model) -> None:
    from .test_classify_cli import run

    cases = _broken(tmp_path / "bad")
    good = write_video_cine(tmp_path / "good.dcm", FRAMES, regions=REGION,
                            sop_class=VIDEO_ENDOSCOPIC)  # fmt: skip
    files = [good, cases["cut-stream"][0], cases["garbage"][0]]
    result = run("--model", stream_model, "--json", *files)
    assert result.exit_code == 1, result.output
    rows = {Path(r["path"]).name: r for r in json.loads(result.stdout)["cines"]}
    assert rows["good.dcm"]["status"] == "ok" and rows["good.dcm"]["frames"] == 20
    assert rows["good.dcm"]["transfer_syntax"] == "MPEG-4 AVC/H.264 High Profile / Level 4.1"
    for bad in ("cut-stream.dcm", "garbage.dcm"):
        assert rows[bad]["status"] == "error" and "\n" not in rows[bad]["error"]


_PEAK = textwrap.dedent(
    """
    import sys
    import av, numpy, pydicom, PIL.Image
    from echostream.stream.sources import open_source
    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    before = hwm()
    with open_source(sys.argv[1], luminance=True) as src:
        n = sum(1 for _ in src)
    print(n, before, hwm())
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_long_video_is_decoded_in_bounded_memory(tmp_path) -> None:
    """300 frames of 480x640 decoded are 276 MB as RGB; the reader holds a few at a time."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    frames = [np.roll(base, 4 * i, axis=1) for i in range(30)] * 10
    path = write_video_cine(tmp_path / "long.dcm", frames, fps=50, container="h264",
                            regions=[UltrasoundRegion(40, 30, 600, 450)])  # fmt: skip
    del frames, base
    env = {k: v for k, v in os.environ.items() if k != "ECHOSTREAM_PATH_KEY"}
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True,
                         text=True, timeout=120, env=env, check=True)  # fmt: skip
    n, before, after = out.stdout.split()
    assert int(n) == 300
    print(f"300 frames 480x640 H.264: peak RSS {before} MB after imports, {after} MB at the end")
    assert float(after) - float(before) < 80, out.stdout  # MB: open (sampling) + every frame


def test_classify_gives_a_simulated_cine_the_view_of_its_raw_frames(tmp_path) -> None:
    """A clear simulated A4C / PLAX cine (simulated data, the shipped model): the H.264 DICOM
    gets the view its native RGB DICOM gets (lossy coding may move the confidence a little)."""
    pytest.importorskip("torch")
    from echostream.stream.classify import classify_file
    from echostream.stream.defaults import default_model_path, load_stream_config
    from echostream.stream.pipeline import Engine
    from echostream.train.simulator.cine import CineSpec, render_cine

    if not default_model_path().is_file():
        pytest.skip("the shipped model is missing")
    engine = Engine.load(default_model_path(), "onnxruntime", threads=1, spin=False)
    smoother = load_stream_config()["smoother"]
    for seed, view in ((11, "A4C"), (12, "PLAX")):
        cine = render_cine(CineSpec(seed=seed, patient=0, view=view, vendor="epiq7g",
                                    size=(320, 240), n_frames=24, quality=1.0))  # fmt: skip
        x0, y0, x1, y1 = cine.region
        regions = [UltrasoundRegion(x0, y0, x1, y1)]
        raw = write_cine(tmp_path / f"{view}-raw.dcm", cine.frames, fps=cine.fps,
                         encoding="rgb", regions=regions)  # fmt: skip
        video = write_video_cine(tmp_path / f"{view}-h264.dcm", cine.frames, fps=cine.fps,
                                 regions=regions)  # fmt: skip
        a = classify_file(engine, raw, smoother, workers=1)
        b = classify_file(engine, video, smoother, workers=1)
        assert a.status == b.status == "ok", (a.error, b.error)
        assert a.view == view, f"the model does not see this {view} cine clearly: {a.view}"
        assert b.view == a.view and abs(b.confidence - a.confidence) < 0.15, (a, b)
