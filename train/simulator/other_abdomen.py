"""Subcostal IVC views and abdominal textures for the OTHER class (issue 17).

* ``ivc_long``: liver filling the near and mid field (fine homogeneous speckle, bright portal
  specks), the IVC as an echolucent tube entering the right atrium at one side, a hepatic vein
  joining it, the bright diaphragm around the atrium; the IVC narrows on inspiration.
* ``ivc_short``: the IVC as an oval in the liver, the aorta beside it (round, bright wall,
  pulsing), the vertebral body's bright arc and its shadow below.
* ``liver_kidney``: liver over a kidney (dark cortex, bright sinus fat, bright capsule).
* ``soft_tissue``: striated muscle with bright fascial planes, a bone line and its shadow.

Example::

    phantom = abdomen_phantom("ivc_long", rng, x, y, depth_cm=16.0, hr=70.0)
    scene = phantom.scene(0.2)
"""

from __future__ import annotations

import numpy as np

from .other_scene import (
    Breath,
    Dots,
    Scene,
    Texture,
    ellipse_q,
    organ_coords,
    segment_distance,
    wall_layers,
)

Arr = np.ndarray
ABDOMEN_KINDS = ("ivc_long", "ivc_short", "liver_kidney", "soft_tissue")
BLOOD = 0.003


class Abdomen:
    """One abdominal phantom on the beam grid ``x``, ``y`` (cm); see the module docstring."""

    def __init__(
        self, kind: str, rng: np.random.Generator, x: Arr, y: Arr, depth_cm: float, hr: float
    ) -> None:
        if kind not in ABDOMEN_KINDS:
            raise ValueError(f"unknown abdomen kind {kind!r}; expected one of {ABDOMEN_KINDS}")
        self.kind, self.x, self.y, self.hr, self.depth = kind, x, y, hr, depth_cm
        self.wall = float(rng.uniform(1.0, 2.6))
        self.wall_echo = wall_layers(rng, y, self.wall)
        self.breath = Breath.sample(rng)
        self.liver_echo = float(rng.uniform(0.35, 0.75))
        self.tex = Texture.sample(rng, float(rng.uniform(1.0, 2.5)))
        half = float(np.abs(x).max())
        self.specks = Dots.sample(
            rng, int(rng.integers(15, 45)), (-half, self.wall, half, depth_cm)
        )
        self.side = float(rng.choice([-1.0, 1.0]))  # where the heart / aorta is on screen
        self.p = self._draw(rng, half)

    def _draw(self, rng: np.random.Generator, half: float) -> dict[str, float]:
        """The kind's own sizes and positions (cm); every number drawn for every kind."""
        d = self.depth
        return {
            "ivc_r": float(rng.uniform(0.55, 1.25)),  # IVC radius at end-expiration
            "collapse": float(rng.choice([rng.uniform(0.02, 0.2), rng.uniform(0.35, 0.8)])),
            "ivc_y": float(rng.uniform(0.42, 0.62) * d),
            "ivc_slope": float(rng.uniform(-0.05, 0.25)),  # rising towards the atrium
            "ra_x": float(rng.uniform(0.3, 0.6) * half),
            "ra_r": float(rng.uniform(1.8, 2.8)),
            "hv_len": float(rng.uniform(2.0, 4.5)),
            "hv_angle": float(rng.uniform(0.5, 1.2)),
            "hv_r": float(rng.uniform(0.2, 0.45)),
            "ivc_x": float(rng.uniform(-0.25, 0.15) * half),
            "ivc_aspect": float(rng.uniform(0.5, 0.9)),
            "ao_gap": float(rng.uniform(1.8, 3.2)),
            "ao_r": float(rng.uniform(0.75, 1.15)),
            "spine_gap": float(rng.uniform(1.5, 3.0)),
            "spine_r": float(rng.uniform(1.8, 2.8)),
            "kid_y": float(rng.uniform(0.5, 0.7) * d),
            "kid_x": float(rng.uniform(-0.2, 0.2) * half),
            "kid_a": float(rng.uniform(3.8, 5.5)),
            "kid_b": float(rng.uniform(1.9, 2.7)),
            "kid_angle": float(rng.uniform(-0.5, 0.5)),
            "fibre": float(rng.uniform(0.25, 0.6)),  # muscle: fascia spacing
            "fibre_tilt": float(rng.uniform(-0.25, 0.25)),
            "bone_y": float(rng.uniform(0.6, 0.9) * d),
        }

    def scene(self, t: float) -> Scene:
        a, b, c = organ_coords(self.x, self.y, self.wall, self.breath, t)
        inside = self.y >= self.wall
        echo = np.where(inside, self.liver_echo * self.tex.at(a, b), self.wall_echo)
        echo = np.where(inside & self.specks.mask(a, b), 3.0 * self.liver_echo, echo)
        fluid = np.zeros(a.shape, dtype=bool)
        imp = np.ones(a.shape, dtype=np.float32)
        parts = (echo.astype(np.float32), fluid, imp)
        paint = {
            "ivc_long": self._ivc_long,
            "ivc_short": self._ivc_short,
            "liver_kidney": self._kidney,
            "soft_tissue": self._muscle,
        }[self.kind]
        echo, fluid, imp, gain = paint(a, b, t, *parts)
        echo = np.where(inside, echo, self.wall_echo)
        return Scene(echo.astype(np.float32), fluid & inside, imp, a, b, c, gain)

    def _ivc_radius(self, t: float) -> float:
        p = self.p
        pulse = 1.0 + 0.05 * np.cos(2 * np.pi * t * self.hr / 60.0)
        return float(p["ivc_r"] * (1.0 - p["collapse"] * self.breath.inspiration(t)) * pulse)

    def _ivc_long(self, a: Arr, b: Arr, t: float, echo: Arr, fluid: Arr, imp: Arr):
        p, s, liver = self.p, self.side, self.liver_echo
        r = self._ivc_radius(t)
        ra_x = s * p["ra_x"]
        centre = p["ivc_y"] - p["ivc_slope"] * s * a  # the tube's depth along it
        along = s * a < p["ra_x"] + 0.5
        dist = np.abs(b - centre) / np.sqrt(1 + p["ivc_slope"] ** 2)
        ra_c = (ra_x + s * 0.8 * p["ra_r"], centre_at(p, ra_x, s) - 0.6 * r)
        q = ellipse_q(a, b, ra_c, (p["ra_r"], 0.8 * p["ra_r"]))
        # the diaphragm: a bright band deep to the IVC, curving up around the atrium
        floor = centre + r + p["spine_gap"] + 0.03 * (s * a - p["ra_x"]) ** 2
        band = (np.abs(b - floor) < 0.3) & (s * a < p["ra_x"] + 0.3 * p["ra_r"])
        band |= (q > 1.5) & (q < 2.0)
        echo = np.where(b > floor, 0.7 * echo, echo)  # retroperitoneum: darker, coarser
        echo = np.where(band, 5.0 * liver, echo)
        echo = np.where((q >= 1.0) & (q <= 1.5), 1.0, echo)  # atrial wall / myocardium
        ha = p["hv_angle"]
        join = (ra_x - s * 0.6, centre_at(p, ra_x - s * 0.6, s) - 0.5 * r)
        mid = (
            join[0] - s * 0.5 * p["hv_len"] * np.cos(ha),
            join[1] - 0.5 * p["hv_len"] * np.sin(ha),
        )
        tip = (join[0] - s * p["hv_len"] * np.cos(ha), join[1] - p["hv_len"] * np.sin(ha))
        hv = segment_distance(a, b, join, mid) < 1.5 * p["hv_r"]
        hv |= segment_distance(a, b, mid, tip) < 0.8 * p["hv_r"]
        wall = along & (dist < r + 0.22)
        lumen = (along & (dist < r)) | (q < 1.0) | hv
        echo = np.where(wall & ~lumen, 3.0 * liver, echo)
        echo = np.where(lumen, BLOOD, echo)
        imp = np.where(band, 1.5, np.where(lumen, 1.0, imp)).astype(np.float32)
        return echo, fluid | lumen, imp, None

    def _ivc_short(self, a: Arr, b: Arr, t: float, echo: Arr, fluid: Arr, imp: Arr):
        p, s = self.p, self.side
        rw = p["ivc_r"] * 1.25
        rh = max(self._ivc_radius(t) * p["ivc_aspect"], 0.12)
        ivc_c = (p["ivc_x"], p["ivc_y"])
        ivc = ellipse_q(a, b, ivc_c, (rw, rh)) < 1.0
        systole = max(0.0, np.sin(2 * np.pi * t * self.hr / 60.0))
        ao_r = p["ao_r"] * (1.0 + 0.08 * systole)
        ao_c = (ivc_c[0] + s * p["ao_gap"], ivc_c[1] + 0.4)
        d_ao = np.hypot(a - ao_c[0], b - ao_c[1])
        echo = np.where((d_ao >= ao_r) & (d_ao < ao_r + 0.18), 3.0 * self.liver_echo, echo)
        sp_c = (ivc_c[0] + s * 0.5 * p["ao_gap"], ivc_c[1] + rw + p["spine_gap"] + p["spine_r"])
        d_sp = np.hypot(a - sp_c[0], b - sp_c[1])
        top = (d_sp < p["spine_r"]) & (d_sp > p["spine_r"] - 0.35) & (b < sp_c[1])
        echo = np.where(top, 5.0 * self.liver_echo, echo)
        shadow = np.where(
            (d_sp < p["spine_r"] - 0.35) | ((b > sp_c[1]) & (d_sp < 2 * p["spine_r"])), 0.08, 1.0
        )
        lumen = ivc | (d_ao < ao_r)
        echo = np.where(lumen, BLOOD, echo)
        imp = np.where(top, 1.8, np.where(lumen, 1.0, imp))
        return echo, fluid | lumen, imp.astype(np.float32), shadow.astype(np.float32)

    def _kidney(self, a: Arr, b: Arr, t: float, echo: Arr, fluid: Arr, imp: Arr):
        p = self.p
        c, radii, ang = (p["kid_x"], p["kid_y"]), (p["kid_a"], p["kid_b"]), p["kid_angle"]
        q = ellipse_q(a, b, c, radii, ang)
        sinus = ellipse_q(a, b, c, (0.55 * radii[0], 0.4 * radii[1]), ang)
        below = b > c[1] + radii[1]  # muscle behind the kidney
        echo = np.where(below, 0.6 * echo, echo)
        echo = np.where((q >= 1.0) & (q < 1.18), 3.0 * self.liver_echo, echo)  # capsule
        echo = np.where(q < 1.0, 0.35 * self.liver_echo * self.tex.at(b, a), echo)  # cortex
        echo = np.where(sinus < 1.0, 2.4 * self.liver_echo * self.tex.at(a, b), echo)
        return echo, fluid, np.where(q < 1.18, 1.03, imp), None

    def _muscle(self, a: Arr, b: Arr, t: float, echo: Arr, fluid: Arr, imp: Arr):
        p = self.p
        along = b - p["fibre_tilt"] * a  # depth across the fibres
        phase = (along % p["fibre"]) / p["fibre"]
        fascia = phase < 0.12
        echo = np.where(fascia, 2.2 * self.liver_echo, 0.45 * echo)
        bone = np.abs(self.y - p["bone_y"]) < 0.15
        echo = np.where(bone, 6.0 * self.liver_echo, echo)
        shadow = np.where(self.y > p["bone_y"] + 0.15, 0.05, 1.0).astype(np.float32)
        return echo, fluid, np.where(bone, 1.8, imp).astype(np.float32), shadow


def centre_at(p: dict[str, float], x: float, side: float) -> float:
    """Depth (cm) of the IVC's axis at lateral position ``x``."""
    return float(p["ivc_y"] - p["ivc_slope"] * side * x)
