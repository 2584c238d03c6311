"""Lung ultrasound for the OTHER class (issue 17): chest wall, ribs with their shadows either
side of the bright pleural line (the "bat sign"), and below it the air artefacts: A-lines
(horizontal reverberations at multiples of the pleural depth) or B-lines (bright comet tails
along the beam from the pleura to the bottom, erasing the A-lines); lung sliding (a shimmer
below the pleura that changes every frame, B-lines drifting with it) or none (pneumothorax:
everything still).

Example::

    lung = Lung(rng, x, y, beam=theta, b_lines=True, sliding=True)
    scene = lung.scene(0.1)
"""

from __future__ import annotations

import numpy as np

from .other_scene import Breath, Scene, wall_layers

Arr = np.ndarray
AIR_IMPEDANCE = 0.3


class Lung:
    """A lung phantom on the beam grid ``x``, ``y`` (cm); ``beam`` is each sample's beam
    angle (rad) about the probe's (virtual) apex, along which the artefacts run."""

    def __init__(
        self,
        rng: np.random.Generator,
        x: Arr,
        y: Arr,
        *,
        beam: Arr,
        b_lines: bool,
        sliding: bool,
        radius_cm: float = 0.0,
    ) -> None:
        """``radius_cm``: the probe face's radius of curvature (a linear probe's is large:
        a shallow pleura)."""
        self.x, self.y, self.beam, self.sliding = x, y, beam, sliding
        self.breath = Breath.sample(rng, reach=0.5)
        lo, hi = (1.8, 3.5) if radius_cm < 100 else (0.9, 2.4)
        self.radius = radius_cm
        self.pleura = float(rng.uniform(lo, hi))  # depth of the pleural line at the centre
        self.tilt = float(rng.uniform(-0.06, 0.06))
        self.wall = wall_layers(rng, y, self.pleura + 1.0)
        self.soft = float(rng.uniform(0.25, 0.6))  # intercostal muscle echo
        self.pleura_echo = float(rng.uniform(4.0, 10.0))
        self.thick = float(rng.uniform(0.08, 0.18))
        self.a_decay = float(rng.uniform(0.35, 0.65))  # each A-line this much of the one before
        self.haze = float(rng.uniform(0.003, 0.03))  # lung below the pleura: air scatter
        spacing = float(rng.uniform(2.8, 4.0))  # ribs: centre to centre (cm)
        offset = float(rng.uniform(-0.25, 0.25) * spacing)
        p_ribs = 0.9 if radius_cm > 0 else 0.35  # a phased probe sits between two ribs
        self.ribs = [offset - spacing / 2, offset + spacing / 2] if rng.random() < p_ribs else []
        self.rib_half = float(rng.uniform(0.5, 0.8))
        half = float(np.abs(beam).max())
        n_b = int(rng.integers(1, 7)) if b_lines else 0
        self.b_at = rng.uniform(-0.85, 0.85, size=n_b) * half  # B-line beam angles (rad)
        self.b_width = rng.uniform(0.06, 0.2, size=n_b) * half
        self.b_echo = rng.uniform(3.0, 8.0, size=n_b)
        self.half = half

    def _slide(self, t: float) -> float:
        """Lateral shift (cm) of the visceral pleura and lung against the chest wall."""
        if not self.sliding:
            return 0.0
        return self.breath.drift[0] * self.breath.inspiration(t)

    def _rib(self, c: float, p: float) -> tuple[Arr, Arr]:
        """A rib at lateral ``c`` just above the pleura ``p``: its bright curved surface and
        the shadow behind it (both masks)."""
        u = (self.x - c) / self.rib_half
        surface = p - 0.45 - 0.35 * np.sqrt(np.clip(1 - u * u, 0, 1))  # a half ellipse
        over = np.abs(u) < 1
        return over & (np.abs(self.y - surface) < 0.1), over & (self.y > surface + 0.1)

    def scene(self, t: float) -> Scene:
        x, y = self.x, self.y
        p = self.pleura + self.tilt * x
        rib_top = np.zeros(x.shape, dtype=bool)
        shadow = np.ones(x.shape, dtype=np.float32)
        for rib_x in self.ribs:
            top, behind = self._rib(rib_x, float(self.pleura + self.tilt * rib_x))
            rib_top |= top
            shadow = np.where(behind, 0.04, shadow).astype(np.float32)
        below = y > p + self.thick / 2
        line = np.abs(y - p) <= self.thick / 2
        depth_ratio = y / np.maximum(p, 0.5)  # reverberations sit at multiples of the depth
        k = np.round(depth_ratio)
        a_lines = (k >= 2) & (np.abs(y - k * p) < self.thick * 0.8)
        echo = np.where(y < p, np.maximum(self.wall, self.soft * (y > self.pleura * 0.5)), 0.0)
        echo = np.where(below, self.haze, echo)
        echo = np.where(below & a_lines, self.pleura_echo * self.a_decay ** (k - 1), echo)
        shift = self._slide(t) / (self.radius + self.pleura)  # cm at the pleura → rad
        for at, width, level in zip(self.b_at, self.b_width, self.b_echo, strict=True):
            b = np.exp(-0.5 * ((self.beam - at - shift) / (0.5 * width)) ** 2)
            fade = 1.0 - 0.5 * np.clip((y - p) / max(float(y.max()) - self.pleura, 1.0), 0, 1)
            echo = np.where(below, np.maximum(echo * (1 - b), level * b * fade), echo)
        echo = np.where(line, self.pleura_echo, echo)
        echo = np.where(rib_top, 1.5 * self.pleura_echo, echo)
        imp = np.where(y > p, AIR_IMPEDANCE, 1.0).astype(np.float32)
        imp = np.where(rib_top, 1.8, imp).astype(np.float32)
        a = np.where(below, x - self._slide(t), x).astype(np.float32)
        c = np.zeros(x.shape, dtype=np.float32)
        fluid = below & self.sliding  # the shimmer of a sliding lung: new speckle every frame
        return Scene(echo.astype(np.float32), fluid, imp, a, y.astype(np.float32), c, shadow)
