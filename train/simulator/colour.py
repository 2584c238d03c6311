"""Colour-flow Doppler: a box over part of the sector where blood is painted red (towards the
probe) and blue (away), with yellow/cyan aliasing mosaic where flow is fast or turbulent, the
box's outline and a colour bar beside the fan. Rare (a few % of cines): runtime policy reports
colour frames, but real studies mix them in.

Example::

    box = ColourBox.sample(rng)                      # box.on in about 4 % of cines
    flow = ColourFlow(box, acq, screen)
    paint = flow.overlay(blood_polar, t)             # a function (H, W, 3) uint8 → None
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter

from .physics import Acquisition

if TYPE_CHECKING:
    from collections.abc import Callable

    from .vendors import Screen

Arr = np.ndarray


@dataclass(frozen=True)
class ColourBox:
    """One cine's colour box (fractions of the sector's width and depth) and flow pattern."""

    on: bool = False
    centre: float = 0.0  # across the sector, -0.5 … 0.5
    width: float = 0.4
    top: float = 0.3  # depth fractions
    bottom: float = 0.75
    speed: float = 1.5  # peak velocity / Nyquist velocity (> 1 aliases)
    seed: int = 0

    @staticmethod
    def sample(rng: np.random.Generator, p: float = 0.04) -> ColourBox:
        top = rng.uniform(0.15, 0.55)
        return ColourBox(
            on=bool(rng.random() < p),
            centre=float(rng.uniform(-0.3, 0.3)),
            width=float(rng.uniform(0.25, 0.5)),
            top=float(top),
            bottom=float(min(0.95, top + rng.uniform(0.2, 0.45))),
            speed=float(rng.uniform(0.8, 2.2)),
            seed=int(rng.integers(2**31)),
        )


def colour_map(v: Arr) -> Arr:
    """Velocity in Nyquist units (aliased to -1 … 1) → RGB uint8: dark red … yellow towards
    the probe, dark blue … cyan away."""
    a = np.abs(v)
    red = np.stack([80 + 175 * np.clip(2 * a, 0, 1), 230 * np.clip(2 * a - 1, 0, 1), 0 * a], -1)
    blue = np.stack([0 * a, 230 * np.clip(2 * a - 1, 0, 1), 90 + 165 * np.clip(2 * a, 0, 1)], -1)
    return np.where((v >= 0)[..., None], red, blue).astype(np.uint8)


class ColourFlow:
    """The colour overlay of one cine (no draws from the cine's frame generator)."""

    def __init__(self, box: ColourBox, acq: Acquisition, screen: Screen) -> None:
        self.box, self.screen = box, screen
        ns, nb = acq.n_samples, acq.n_beams
        r = np.linspace(0, 1, ns)[:, None]
        u = np.linspace(-0.5, 0.5, nb)[None, :]
        self.inside = (np.abs(u - box.centre) <= box.width / 2) & (r >= box.top) & (r <= box.bottom)
        edge_r = np.abs(r - box.top) < 0.6 / ns * 2
        edge_r |= np.abs(r - box.bottom) < 0.6 / ns * 2
        edge_u = np.abs(np.abs(u - box.centre) - box.width / 2) < 0.6 / nb * 2
        within_r = (r >= box.top) & (r <= box.bottom)
        within_u = np.abs(u - box.centre) <= box.width / 2
        edge = (edge_r & within_u) | (edge_u & within_r)
        self.edge_pixels = screen.scan.pixels[screen.scan.values(edge.astype(np.float32)) > 0.35]
        rng = np.random.default_rng(box.seed)
        fields = gaussian_filter(rng.standard_normal((2, ns, nb)), (0, ns / 22, nb / 16))
        self.fields = (fields / fields.std(axis=(1, 2), keepdims=True)).astype(np.float32)
        self.bar = _colour_bar(screen)

    def velocity(self, t: float) -> Arr:
        """Velocity / Nyquist on the beam grid at time ``t``: smooth lobes of flow turning
        over with the beat, with turbulent jitter that grows where flow is fast (mosaic)."""
        phase = 2 * np.pi * 1.1 * t
        base = np.cos(phase) * self.fields[0] + np.sin(phase) * self.fields[1]
        v = self.box.speed * (0.6 + 0.4 * np.sin(phase + 1.0)) * base
        jitter = np.random.default_rng([self.box.seed, int(t * 1000)]).normal(0, 1, v.shape)
        return (v + (0.08 + 0.3 * np.abs(v)) * jitter).astype(np.float32)

    def overlay(self, blood: Arr, t: float) -> Callable[[Arr], None]:
        """A painter for the screen of this frame: colour where ``blood`` (beam grid) is in
        the box and moves faster than the wall filter, then the box outline and colour bar."""
        v = self.velocity(t)
        shown = self.inside & blood & (np.abs(v) > 0.12)
        aliased = (v + 1.0) % 2.0 - 1.0
        scan = self.screen.scan

        def paint(rgb: Arr) -> None:
            flat = rgb.reshape(-1, 3)
            hit = scan.values(shown.astype(np.float32)) > 0.5
            px = scan.pixels[hit]
            if px.size:
                vals = aliased.ravel()[scan.idx[0][hit]]  # nearest beam sample
                flat[px] = colour_map(vals)
            flat[self.edge_pixels] = (170, 170, 170)
            if self.bar is not None:
                (y0, y1, x0, x1), colours = self.bar
                rgb[y0:y1, x0:x1] = colours[:, None, :]

        return paint


def _colour_bar(screen: Screen) -> tuple[tuple[int, int, int, int], Arr] | None:
    """Where the colour scale goes (in the text column, under the grey bar) and its colours."""
    w, h = screen.width, screen.height
    bx = int(0.02 * w) if screen.style.side == "left" else int(0.845 * w)
    by0, by1 = int(0.62 * h), int(0.8 * h)
    if by1 - by0 < 8:
        return None
    colours = colour_map(np.linspace(1.0, -1.0, by1 - by0))
    return (by0, by1, bx, bx + max(3, int(0.012 * w))), colours
