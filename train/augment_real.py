"""Augmentation for the gap between simulated and real echo, on stored uint8 crops.

The simulator cannot match every scanner's grey map, resolution, noise, compression, framing
or the marks drawn on a screen, so training varies them at random and the classifier has to
rely on what they leave alone: the anatomy's layout. Each op has a probability (config
``augment.realism: {op: p}``); ops run in the order of :data:`OPS` on a ``(1, H, W)`` uint8
tensor and return one.

* ``box``: the crop box's edges move by up to ``augment.box_jitter`` of its size, in or out
  (the runtime sector detector's error; zoomed-in crops that cut the fan's sides, as
  EchoNet-style cines; wider ones with black margins).
* ``gamma``: a random grey curve (gamma 0.45–2.2), gain and offset (vendors' grey maps).
* ``lowres``: down- and up-sampling (a coarse scanner, a small export).
* ``blur``: Gaussian blur (worse lateral resolution, heavy smoothing presets).
* ``noise``: multiplicative speckle and additive noise.
* ``shadow``: a dark wedge from the fan's top or a dark band (rib shadow, drop-out).
* ``marks``: bright dots, ticks, a caliper cross or a letter on the picture (depth scales,
  orientation markers and measurements burned into real screens).
* ``jpeg``: JPEG compression at quality 10–60 (exports, video codecs).

Example::

    aug = RealismAugment({"gamma": 0.8, "blur": 0.3, "jpeg": 0.3}, box_jitter=0.1)
    out = aug(torch.zeros(1, 60, 80, dtype=torch.uint8))   # (1, 60, 80) uint8
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

OPS = ("box", "gamma", "lowres", "blur", "noise", "shadow", "marks", "jpeg")


class RealismAugment:
    """Callable ``(1, H, W)`` uint8 tensor → augmented ``(1, H, W)`` uint8 tensor."""

    def __init__(self, probs: Mapping[str, float], *, box_jitter: float = 0.1) -> None:
        unknown = set(probs) - set(OPS)
        if unknown:
            raise ValueError(f"unknown realism op(s) {sorted(unknown)}; known: {', '.join(OPS)}")
        bad = {k: v for k, v in probs.items() if not 0.0 <= float(v) <= 1.0}
        if bad:
            raise ValueError(f"realism probabilities must be in [0, 1], got {bad}")
        self.probs = {op: float(probs.get(op, 0.0)) for op in OPS}
        self.box_jitter = float(box_jitter)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        arr = img[0].numpy()
        for op in OPS:
            if self.probs[op] and rng.random() < self.probs[op]:
                arr = getattr(self, f"_{op}")(arr, rng)
        return torch.from_numpy(np.array(arr, dtype=np.uint8))[None]  # a writable copy

    def __repr__(self) -> str:
        ops = ", ".join(f"{k}={v:g}" for k, v in self.probs.items() if v)
        return f"RealismAugment({ops}, box_jitter={self.box_jitter:g})"

    # -- the ops: (H, W) uint8 → (H, W) uint8 -----------------------------------------------
    def _box(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = a.shape
        j = self.box_jitter
        x0, x1 = w * rng.uniform(-j, j), w * (1 + rng.uniform(-j, j))
        y0, y1 = h * rng.uniform(-j, j), h * (1 + rng.uniform(-j, j))
        im = Image.fromarray(a)
        return np.asarray(
            im.transform(
                (w, h), Image.Transform.EXTENT, (x0, y0, x1, y1), Image.Resampling.BILINEAR
            )
        )

    def _gamma(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = float(np.exp(rng.uniform(np.log(0.45), np.log(2.2))))
        gain, offset = rng.uniform(0.7, 1.4), rng.uniform(-0.08, 0.08)
        x = (a.astype(np.float32) / 255.0) ** g * gain + offset
        return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def _lowres(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = a.shape
        f = rng.uniform(0.3, 0.75)
        im = Image.fromarray(a).resize(
            (max(4, round(w * f)), max(4, round(h * f))), Image.Resampling.BOX
        )
        return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))

    def _blur(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        radius = rng.uniform(0.4, 1.6) * max(a.shape) / 160.0
        return np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(radius)))

    def _noise(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = rng.uniform(2.0, 12.0)  # gamma shape: small k = strong multiplicative speckle
        x = a.astype(np.float32) * rng.gamma(k, 1.0 / k, size=a.shape)
        x += rng.normal(0.0, rng.uniform(1.0, 10.0), size=a.shape)
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)

    def _shadow(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = a.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        if rng.random() < 0.7:  # a wedge from the fan's top
            theta = np.degrees(np.arctan2(xx - w / 2, yy + 0.05 * h))
            centre, half = rng.uniform(-40, 40), rng.uniform(3, 15)
            mask = np.abs(theta - centre) < half
            mask &= yy > rng.uniform(0.05, 0.4) * h
        else:  # a band across
            y0 = rng.uniform(0.1, 0.9) * h
            mask = np.abs(yy - y0) < rng.uniform(0.03, 0.12) * h
        x = a.astype(np.float32)
        x[mask] *= rng.uniform(0.1, 0.6)
        return x.astype(np.uint8)

    def _marks(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = a.shape
        im = Image.fromarray(a)
        d = ImageDraw.Draw(im)
        grey = int(rng.uniform(150, 255))
        if rng.random() < 0.6:  # a depth scale: ticks down one side of the fan
            x = rng.uniform(0.02, 0.2) * w if rng.random() < 0.5 else rng.uniform(0.8, 0.98) * w
            for k in range(int(rng.integers(3, 9))):
                y = (0.1 + 0.11 * k) * h
                d.line([(x, y), (x + 0.025 * w, y)], fill=grey, width=1)
        for _ in range(int(rng.integers(0, 4))):  # dots, caliper crosses
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), max(1.0, 0.008 * w)
            if rng.random() < 0.5:
                d.ellipse([x - r, y - r, x + r, y + r], fill=grey)
            else:
                d.line([(x - 2 * r, y), (x + 2 * r, y)], fill=grey)
                d.line([(x, y - 2 * r), (x, y + 2 * r)], fill=grey)
        if rng.random() < 0.4:  # an orientation marker or a letter near the top
            d.text((rng.uniform(0.3, 0.7) * w, rng.uniform(0, 0.08) * h), "V", fill=grey)
        return np.asarray(im)

    def _jpeg(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(rng.integers(10, 61)))
        buf.seek(0)
        return np.asarray(Image.open(buf).convert("L"))
