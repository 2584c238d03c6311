"""Annotated output shows the ultrasound picture only: a patient name burned into the scanner's
banner never reaches ``live --out`` frames or the live view page (unless ``--keep-screen``)."""

from __future__ import annotations

import json
import urllib.request
from io import BytesIO
from pathlib import Path

import av
import numpy as np
import pytest
import typer
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from echostream.stream import cli_stream
from echostream.stream.dicom_writer import Identity, UltrasoundRegion, write_cine
from echostream.stream.frame import Frame, Region, SourceInfo
from echostream.stream.overlay import NOTHING, ScreenMask, blank_outside
from echostream.stream.pipeline import Engine
from echostream.stream.pipeline_live import run_live
from echostream.stream.sinks import MjpegServer
from echostream.stream.sources import open_source
from echostream.stream.temporal import TemporalChain

pytestmark = pytest.mark.timeout(180)

H, W = 192, 256
REGION = (32, 48, 224, 176)  # x0, y0, x1, y1: where the picture is
NAME_BOX = (140, 0, 256, 26)  # the banner's name, right of the label panel
PANEL = (0, 0, 136, 80)  # the label panel drawn top-left (at this frame height)


def screen_frames(name: str, n: int = 16, seed: int = 0) -> list[np.ndarray]:
    """A scanner screen: moving speckle in REGION, the patient's name in the banner, a static
    ruler beside the picture. The speckle is the same for every name (same seed)."""
    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=16)
    out = []
    for _ in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        x0, y0, x1, y1 = REGION
        img[y0:y1, x0:x1] = rng.integers(30, 220, (y1 - y0, x1 - x0, 1), dtype=np.uint8)
        pil = Image.fromarray(img)
        draw = ImageDraw.Draw(pil)
        draw.text((NAME_BOX[0] + 4, 4), name, fill=(255, 255, 255), font=font)
        for y in range(y0, y1, 16):  # depth ruler left of the picture
            draw.line([(20, y), (28, y)], fill=(200, 200, 200))
        out.append(np.asarray(pil))
    return out


def banner_cine(path: Path, name: str, *, regions: bool = True) -> Path:
    return write_cine(
        path, screen_frames(name), fps=25, quality=95,
        regions=[UltrasoundRegion(*REGION)] if regions else (),
        identity=Identity(patient_name=name.replace(" ", "^")),
    )  # fmt: skip


def crop(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    return rgb[box[1] : box[3], box[0] : box[2]]


def outside(rgb: np.ndarray, margin: int = 8) -> np.ndarray:
    """Pixels away from the region (by ``margin``, codec blur) and from the label panel."""
    mask = np.ones(rgb.shape[:2], bool)
    x0, y0, x1, y1 = REGION
    mask[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = False
    mask[PANEL[1] : PANEL[3], PANEL[0] : PANEL[2]] = False
    return rgb[mask]


def live(*args: str | Path):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_stream.register(app, bench)
    return CliRunner().invoke(app, ["live", *(str(a) for a in args)])


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_name_in_the_banner_never_reaches_live_out(tmp_path, stream_model) -> None:
    outputs: dict[tuple[str, bool], list[np.ndarray]] = {}
    for name in ("DOE JOHN", "ROE JANE"):
        cine = banner_cine(tmp_path / f"{name.split()[0]}.dcm", name)
        for keep in (False, True):
            out, report = tmp_path / f"{name[:3]}{keep}.mp4", tmp_path / f"{name[:3]}{keep}.json"
            args = [cine, "--out", out, "--json", report, "--model", stream_model, "--fast", "-q"]
            res = live(*args, *(["--keep-screen"] if keep else []))
            assert res.exit_code == 0, res.output
            data = json.loads(report.read_text())
            assert data["screen"]["screen"] == ("kept" if keep else "region")
            outputs[name, keep] = decode(out)
            assert len(outputs[name, keep]) == data["frames_written"] > 0
    for name in ("DOE JOHN", "ROE JANE"):
        for rgb in outputs[name, False]:
            assert outside(rgb).max() <= 12  # black: the banner, ruler, everything
            assert crop(rgb, REGION).mean() > 60  # the picture itself is there
        # Control: the same cine with --keep-screen shows the name (the check can see it).
        assert crop(outputs[name, True][-1], NAME_BOX).max() > 200
    john, jane = outputs["DOE JOHN", False][-1], outputs["ROE JANE", False][-1]
    np.testing.assert_array_equal(crop(john, NAME_BOX), crop(jane, NAME_BOX))
    kept_diff = crop(outputs["DOE JOHN", True][-1], NAME_BOX).astype(int) - crop(
        outputs["ROE JANE", True][-1], NAME_BOX
    )
    assert np.abs(kept_diff).mean() > 5  # with the screen kept, the names differ


class Recorder:
    """A sink that keeps every annotated frame; ``fetch`` also reads the live view page's
    current frame right after the page got this one (sinks are written in order)."""

    def __init__(self, fetch: str | None = None) -> None:
        self.frames: list[np.ndarray] = []
        self.served: list[np.ndarray] = []
        self.fetch = fetch

    def write(self, rgb, result) -> None:  # noqa: ANN001
        self.frames.append(rgb.copy())
        if self.fetch:
            with urllib.request.urlopen(self.fetch + "frame.jpg", timeout=10) as r:
                self.served.append(np.asarray(Image.open(BytesIO(r.read())).convert("RGB")))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def engine(stream_model) -> Engine:
    return Engine.load(stream_model, "onnxruntime", threads=1)


def test_live_view_page_serves_blanked_frames(tmp_path, engine) -> None:
    cine = banner_cine(tmp_path / "named.dcm", "DOE JOHN")
    server = MjpegServer(port=0)
    rec = Recorder(fetch=server.url)
    with open_source(cine) as src:
        report = run_live(engine, src, TemporalChain(), sinks=[server, rec])
    assert report.error is None and len(rec.served) == len(rec.frames) > 0
    for rgb in rec.served:  # what a browser got (JPEG)
        assert crop(rgb, NAME_BOX).max() <= 24 and outside(rgb).max() <= 24
    for rgb in rec.frames:  # what every sink got: exactly black outside region and panel
        assert crop(rgb, NAME_BOX).max() == 0 and outside(rgb, margin=0).max() == 0


def _write_mp4(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode(None))
    return path


@pytest.mark.parametrize("kind", ["dicom-without-regions", "mp4", "mp4-mask-estimates"])
def test_region_is_detected_when_the_source_has_none(tmp_path, engine, kind) -> None:
    """A DICOM file without regions and a video: the reader detects the scan sector. With the
    reader's detector off, the mask finds it from the frames it sees (until then the whole
    picture is blanked)."""
    if kind.startswith("mp4"):
        path = _write_mp4(tmp_path / "screen.mp4", screen_frames("DOE JOHN", n=24))
    else:
        path = banner_cine(tmp_path / "screen.dcm", "DOE JOHN", regions=False)
    rec = Recorder()
    mask = ScreenMask()
    with open_source(path, estimate_region=kind != "mp4-mask-estimates") as src:
        report = run_live(engine, src, TemporalChain(), sinks=[rec], screen=mask)
    assert report.error is None and rec.frames
    assert report.screen == {"screen": "region", "region": "detected",
                             "blanked_frames": mask.blanked_frames}  # fmt: skip
    for rgb in rec.frames:
        assert crop(rgb, NAME_BOX).max() <= 12 and outside(rgb, margin=24).max() <= 12
    assert crop(rec.frames[-1], REGION).mean() > 60
    if kind == "mp4-mask-estimates":
        assert mask.blanked_frames == 7  # frames 1-7 wait for the estimate at frame 8
        assert crop(rec.frames[0], REGION).max() == 0
    else:
        assert mask.blanked_frames == 0


def info(region: Region | None) -> SourceInfo:
    return SourceInfo("x", "video", 40, 25.0, 200, 100, region=region)


def test_screen_mask_boxes() -> None:
    px = np.zeros((50, 100), np.uint8)
    region = Region(40, 20, 200, 80, origin="dicom")
    assert ScreenMask(keep_screen=True).box(Frame(px, 0, 0.0, info(region), 0.5)) is None
    assert ScreenMask().box(Frame(px, 0, 0.0, info(region), 0.5)) == (20, 10, 100, 40)
    calls: list[int] = []

    def never(frames, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(len(frames))

    mask = ScreenMask(estimator=never)
    whole = Region(0, 0, 200, 100, origin="full")  # "no region found" is not a region
    boxes = [mask.box(Frame(px, i, i / 25, info(whole), 0.5)) for i in range(40)]
    assert boxes == [NOTHING] * 40 and calls == [8, 8, 8]  # tried at frames 8, 16 and 32
    assert mask.describe() == {"screen": "blanked", "region": None, "blanked_frames": 40}
    rgb = np.full((4, 6, 3), 255, np.uint8)
    blank_outside(rgb, (1, 1, 3, 2))
    assert rgb.sum(axis=2).astype(bool).tolist() == [
        [False] * 6,
        [False, True, True, False, False, False],
        [False] * 6,
        [False] * 6,
    ]
