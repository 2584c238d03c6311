"""Scanner screens of spectral Doppler and M-mode studies, drawn for the pixel detector's tests.

Each screen is what an exported clip or a screenshot of such a study shows: a small 2D sector
thumbnail at the top (with the Doppler gate or the M-mode cursor line on it), below it a wide
strip whose x axis is time, and the usual screen furniture: header text, a depth or velocity
scale with numbers, time marks, an ECG trace, a grey bar. Everything varies with the seed
(heart rate, sweep speed, strip size and place, envelope shape, flow direction, tint, noise), so
a test sees a family of screens, not one picture. ``scroll`` moves the strip's content left, as
a scrolling display does between the frames of a video.

Example::

    rgb = doppler_screen(np.random.default_rng(3))          # H×W×3 uint8
    frames = mmode_frames(np.random.default_rng(4), n=8)    # a scrolling sweep
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

H, W = 480, 640


def _thumbnail(rng: np.random.Generator, img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """A small speckled sector in ``box`` (x0, y0, x1, y1) of the gray ``img``; its apex x."""
    x0, y0, x1, y1 = box
    apex_x, radius = (x0 + x1) / 2, float(y1 - y0)
    half = np.deg2rad(rng.uniform(35, 45))
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx, dy = xx - apex_x, yy - y0 + 1e-3
    inside = (np.hypot(dx, dy) <= radius) & (np.abs(np.arctan2(dx, dy)) <= half)
    speckle = rng.rayleigh(rng.uniform(30, 50), size=inside.shape)
    cavity = ((dx / (0.25 * radius)) ** 2 + ((dy - 0.55 * radius) / (0.3 * radius)) ** 2) < 1
    speckle[cavity] *= 0.1
    img[y0:y1, x0:x1] = np.where(inside, speckle, img[y0:y1, x0:x1])
    return apex_x


def _furniture(
    rng: np.random.Generator, rgb: np.ndarray, strip: tuple[int, int, int, int], mode: str
) -> np.ndarray:
    """Header text, the strip's scale with numbers, time marks, an ECG trace and a grey bar."""
    x0, y0, x1, y1 = strip
    pil = Image.fromarray(rgb)
    d = ImageDraw.Draw(pil)
    d.text((8, 6), f"ECHO LAB  {'PW' if mode == 'doppler' else 'M'} 2.5MHz", fill=(220, 220, 220))
    text = "PW Vel\nGn 5\nWF 100Hz\n0.0 m/s" if mode == "doppler" else "M-MODE\n100mm/s\nGn 62"
    d.multiline_text((8, 30), text, fill=(200, 200, 140))
    d.text((W - 90, 6), f"HR {int(rng.integers(55, 110))} bpm", fill=(230, 230, 230))
    d.rectangle([W - 16, 40, W - 8, y0 - 20], fill=(170, 170, 170))  # grey bar
    for k in range(7):  # the strip's scale, numbered
        y = y0 + (y1 - y0) * k // 6
        d.line([(x1 + 2, y), (x1 + 8, y)], fill=(230, 230, 230))
        label = f"{(3 - k) * 40}" if mode == "doppler" else f"{2 * k}"
        d.text((x1 + 11, y - 5), label, fill=(230, 230, 230))
    step = int(rng.integers(55, 90))
    for x in range(x0, x1, step):  # time marks above and below the strip
        d.line([(x, y0 - 5), (x, y0 - 2)], fill=(200, 200, 200))
        d.ellipse([x - 1, y1 + 3, x + 1, y1 + 5], fill=(200, 200, 200))
    ecg = [(x, y1 + 20 - (14 if (x - x0) % 80 < 3 else 0)) for x in range(x0, x1, 2)]
    d.line(ecg, fill=(60, 220, 90), width=2)
    d.text((x0, H - 14), "cm/s" if mode == "doppler" else "cm", fill=(220, 220, 220))
    return np.asarray(pil)


def _strip_box(rng: np.random.Generator) -> tuple[int, int, int, int]:
    x0 = int(rng.integers(20, 70))
    x1 = W - int(rng.integers(60, 90))
    y0 = int(rng.integers(int(0.38 * H), int(0.5 * H)))
    y1 = H - int(rng.integers(40, 60))
    return x0, y0, x1, y1


TINTS = ((1.0, 1.0, 1.0), (1.0, 0.9, 0.75), (0.85, 0.92, 1.0))  # gray, sepia, blue-gray


def _screens(
    rng: np.random.Generator, grays: list[np.ndarray], strip: tuple[int, int, int, int], mode: str
) -> list[np.ndarray]:
    """The gray pictures tinted (one vendor tint for all) with the same furniture drawn on."""
    tint = np.array(TINTS[int(rng.integers(0, len(TINTS)))], np.float32)
    seed = int(rng.integers(0, 2**31))
    return [
        _furniture(
            np.random.default_rng(seed),
            np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8),
            strip,
            mode,
        )
        for gray in grays
    ]


def _envelope(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Peak velocity (0..1 of the scale) over time ``t`` in beats: E and A waves, or one
    systolic ejection hump."""
    phase = t % 1.0
    if rng.random() < 0.5:  # mitral inflow: E then A
        e = np.clip(1 - np.abs(phase - 0.45) / 0.12, 0, None) * rng.uniform(0.55, 0.85)
        a = np.clip(1 - np.abs(phase - 0.8) / 0.09, 0, None) * rng.uniform(0.35, 0.6)
        return np.maximum(e, a)
    hump = np.sin(np.clip((phase - 0.1) / 0.35, 0, 1) * np.pi) ** 0.8
    return hump * rng.uniform(0.5, 0.9)


def doppler_frames(rng: np.random.Generator, n: int = 1, scroll: int = 6) -> list[np.ndarray]:
    """``n`` RGB screens of a spectral (PW) Doppler study, the spectrum scrolling ``scroll``
    pixels left per frame."""
    x0, y0, x1, y1 = strip = _strip_box(rng)
    width, height = x1 - x0, y1 - y0
    beats_per_px = rng.uniform(2.5, 5.0) / width
    base = y0 + int(height * rng.uniform(0.35, 0.7))  # the baseline row
    sign = 1 if rng.random() < 0.6 else -1  # flow towards (up) or away (down)
    room = (base - y0) if sign > 0 else (y1 - base)
    shape = _envelope(rng, np.arange(width + scroll * n) * beats_per_px)
    back = np.zeros((H, W), np.float32)
    _thumbnail(rng, back, (W // 2 - 90, 8, W // 2 + 90, y0 - 30))
    gate_x = W // 2 + int(rng.integers(-30, 30))
    back[20 : y0 - 30, gate_x] = 200.0  # the Doppler cursor line
    back[(y0 - 30) // 2 : (y0 - 30) // 2 + 3, gate_x - 4 : gate_x + 5] = 230.0  # the gate
    frames = []
    for i in range(n):
        img = back.copy()
        env = shape[i * scroll : i * scroll + width]  # (width,)
        rows = np.arange(room)[:, None] / max(room, 1)  # 0 at the baseline
        fill = rows <= env[None, :]
        modal = np.exp(-(((rows - 0.7 * env[None, :]) / (0.25 * env[None, :] + 0.03)) ** 2))
        noise = rng.rayleigh(1.0, size=fill.shape)
        spec = np.where(fill, 60 + 150 * modal * noise, rng.rayleigh(6, size=fill.shape))
        spec = np.clip(spec, 0, 255)
        if sign > 0:
            img[base - room : base, x0:x1] = spec[::-1]
        else:
            img[base + 1 : base + 1 + room, x0:x1] = spec
        other = slice(base + 1, y1) if sign > 0 else slice(y0, base)
        img[other, x0:x1] = rng.rayleigh(5, size=img[other, x0:x1].shape)
        img[base, x0:x1] = 190.0  # the baseline
        frames.append(img)
    return _screens(rng, frames, strip, "doppler")


def _mmode_strip(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An M-mode sweep, ``height`` depth rows × ``width`` time columns: static chest-wall bands,
    the septum and posterior wall moving with the beat, a dark cavity, bright pericardium."""
    t = np.arange(width) * rng.uniform(2.5, 5.0) / width
    beat = np.sin(2 * np.pi * t) ** 2  # 0 (diastole) .. 1 (systole)
    depth = np.arange(height)[:, None] / height
    img = np.zeros((height, width), np.float32)
    # bands: (top, thickness, brightness, motion): depth fractions, motion towards the centre
    bands = [
        (0.02, 0.08, 150, 0.0),
        (0.12, 0.05, 110, 0.01),
        (0.30, 0.09, 140, 0.06),
        (0.72, 0.10, 150, -0.07),
        (0.84, 0.05, 220, -0.02),
    ]
    for top, thick, bright, move in bands:
        top = top + rng.uniform(-0.02, 0.02)
        y0 = top + move * beat
        inside = (depth >= y0[None, :]) & (depth <= y0[None, :] + thick)
        img = np.where(inside, bright * rng.uniform(0.8, 1.2), img)
    img[depth[:, 0] < 0.3] += 35  # near-field tissue
    streaks = rng.rayleigh(1.0, size=(height, max(2, width // 24)))  # speckle, smeared by time
    streaks = np.asarray(Image.fromarray(streaks.astype(np.float32)).resize((width, height)))
    img = img * (0.55 + 0.45 * streaks) + rng.normal(0, 6, size=img.shape)
    return np.clip(img, 0, 255)


def mmode_frames(rng: np.random.Generator, n: int = 1, scroll: int = 6) -> list[np.ndarray]:
    """``n`` RGB screens of an M-mode study, the sweep scrolling ``scroll`` pixels left per
    frame."""
    x0, y0, x1, y1 = strip = _strip_box(rng)
    width = x1 - x0
    sweep = _mmode_strip(rng, width + scroll * n, y1 - y0)
    back = np.zeros((H, W), np.float32)
    apex_x = _thumbnail(rng, back, (W // 2 - 90, 8, W // 2 + 90, y0 - 30))
    back[12 : y0 - 30, int(apex_x)] = 210.0  # the M-mode cursor line
    frames = []
    for i in range(n):
        img = back.copy()
        img[y0:y1, x0:x1] = sweep[:, i * scroll : i * scroll + width]
        frames.append(img)
    return _screens(rng, frames, strip, "mmode")


def doppler_screen(rng: np.random.Generator) -> np.ndarray:
    """One spectral Doppler screen (RGB uint8)."""
    return doppler_frames(rng, 1)[0]


def mmode_screen(rng: np.random.Generator) -> np.ndarray:
    """One M-mode screen (RGB uint8)."""
    return mmode_frames(rng, 1)[0]
