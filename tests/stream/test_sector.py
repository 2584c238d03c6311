"""The scan-sector detector on drawn screens: fan geometry, box, and what it must ignore."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from echostream.stream.frame import Region
from echostream.stream.sources import open_source
from echostream.stream.sources.sector import detect_fan, detect_region

H, W = 360, 480


def fan_mask(
    apex: tuple[float, float], half_deg: float, radius: float, r_min: float = 0.0, tilt: float = 0.0
) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    dx, dy = xx + 0.5 - apex[0], yy + 0.5 - apex[1]
    r = np.hypot(dx, dy)
    theta = np.degrees(np.arctan2(dx, dy)) - tilt
    return (r <= radius) & (r >= r_min) & (np.abs(theta) <= half_deg) & (dy > 0)


def screen(
    fan: np.ndarray,
    rng: np.random.Generator,
    *,
    dark_left: float = 0.0,
    clutter: bool = True,
) -> np.ndarray:
    """An RGB screen: speckled fan with dark chambers, text, ECG, grey bar, scale dots."""
    img = np.zeros((H, W), np.float32)
    speckle = rng.rayleigh(40.0, size=(H, W)).astype(np.float32)
    img[fan] = speckle[fan]
    yy, xx = np.mgrid[0:H, 0:W]
    img[(xx - W / 2) ** 2 / 50**2 + (yy - 200) ** 2 / 70**2 < 1] *= 0.08  # a chamber
    if dark_left:
        cut = xx < np.nonzero(fan.any(axis=0))[0].min() + dark_left * fan.any(axis=0).sum()
        img[cut & fan] *= 0.03  # lung / rib shadow: the fan's side drawn black
    rgb = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if clutter:
        pil = Image.fromarray(rgb)
        d = ImageDraw.Draw(pil)
        d.text((6, 4), "ECHO CLINIC  DOE^JANE  ID 123456", fill=(230, 230, 230))
        d.text((6, 40), "FR 52Hz\n16cm\n2D 55%", fill=(200, 200, 120))
        d.line(
            [(20 + 4 * i, H - 20 - (25 if i % 9 == 0 else 0)) for i in range(100)], (60, 230, 80), 2
        )
        d.rectangle([W - 14, 60, W - 6, 200], fill=(180, 180, 180))  # grey bar
        for k in range(12):  # depth scale dots beside the right edge
            d.ellipse([W - 60 + 2, 40 + 22 * k, W - 60 + 5, 43 + 22 * k], fill=(255, 255, 255))
        rgb = np.array(pil)
    return rgb


def true_box(fan: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(fan)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def assert_box(region: Region | None, truth: tuple[int, int, int, int], tol: float = 10) -> None:
    assert region is not None
    got = (region.x0, region.y0, region.x1, region.y1)
    assert all(abs(g - t) <= tol for g, t in zip(got, truth, strict=True)), (got, truth)


def test_fan_in_a_cluttered_screen_over_frames() -> None:
    rng = np.random.default_rng(0)
    fan = fan_mask((W / 2, 30), 42, 300)
    frames = [screen(fan, rng) for _ in range(6)]
    found = detect_fan(frames)
    assert found is not None and found.kind == "sector"
    assert_box(found.region, true_box(fan))
    assert found.region.origin == "detected"
    assert found.apex is not None and abs(found.apex[0] - W / 2) < 6 and abs(found.apex[1] - 30) < 8
    assert found.sector_deg == pytest.approx(84, abs=4)
    assert found.radius == pytest.approx(300, abs=12)


def test_one_still_at_reduced_scale() -> None:
    fan = fan_mask((W / 2, 20), 38, 320)
    still = screen(fan, np.random.default_rng(1))
    small = np.asarray(Image.fromarray(still).reduce(2))
    region = detect_region([small], scale=0.5, full_size=(H, W))
    assert_box(region, true_box(fan), tol=12)


def test_a_dark_side_does_not_cut_the_fan() -> None:
    """Lung or a rib shadow blackens one side: the box still holds the whole (symmetric) fan."""
    fan = fan_mask((W / 2, 25), 42, 300)
    found = detect_fan([screen(fan, np.random.default_rng(2), dark_left=0.3)])
    assert found is not None
    assert_box(found.region, true_box(fan), tol=14)


def test_truncated_apex_box_starts_at_the_drawn_top() -> None:
    fan = fan_mask((W / 2, -40), 40, 380, r_min=80)
    found = detect_fan([screen(fan, np.random.default_rng(3))])
    assert found is not None and found.kind == "sector"
    assert_box(found.region, true_box(fan), tol=12)
    assert found.apex is not None and found.apex[1] < 0  # the apex lies above the image


def test_fan_wider_than_the_image() -> None:
    """Cropped stills (the fan's sides cut by the image border) give the whole width."""
    fan = fan_mask((W / 2, 5), 50, 420)
    found = detect_fan([screen(fan, np.random.default_rng(4), clutter=False)])
    assert found is not None
    assert found.region.x0 <= 2 and found.region.x1 >= W - 2


def test_linear_probe_rectangle_is_a_box() -> None:
    rect = np.zeros((H, W), bool)
    rect[40:320, 60:420] = True
    found = detect_fan([screen(rect, np.random.default_rng(5))])
    assert found is not None and found.kind == "box" and found.apex is None
    assert_box(found.region, (60, 40, 420, 320), tol=6)


def test_nothing_on_black_or_tiny_content() -> None:
    assert detect_fan([np.zeros((120, 160), np.uint8)] * 3) is None
    img = np.zeros((120, 160), np.uint8)
    img[5:12, 5:40] = 255  # text only
    assert detect_fan([img]) is None


def test_within_limits_the_search() -> None:
    fan = fan_mask((W / 2, 30), 42, 300)
    rgb = screen(fan, np.random.default_rng(6)).copy()
    rgb[300:350, 10:470] = 200  # a big bright block below the searched box
    within = Region(0, 0, W, 300)
    found = detect_fan([rgb], within=within)
    assert found is not None and found.region.y1 <= 300
    assert found.region.x0 <= true_box(fan)[0] + 10


def test_video_and_image_sources_crop_to_the_detected_fan(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import av

    fan = fan_mask((W / 2, 30), 42, 300)
    rng = np.random.default_rng(7)
    png = tmp_path / "still.png"
    Image.fromarray(screen(fan, rng)).save(png)
    mp4 = tmp_path / "clip.mp4"
    with av.open(str(mp4), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(screen(fan, rng), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    for path in (png, mp4):
        with open_source(path, luminance=True) as src:
            assert src.info.region is not None and src.info.region.origin == "detected"
            assert src.info.fan is not None and src.info.fan["kind"] == "sector"
            assert_box(src.info.region, true_box(fan), tol=12)
        with open_source(path, estimate_region=False) as src:
            assert src.info.region is None and src.info.fan is None
