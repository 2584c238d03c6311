"""The suprasternal aortic arch for the OTHER class (issue 17): the heart model has no arch, so
it is a 2-D phantom: neck tissue in the near field, the arch as a curved echolucent tube with
bright walls (ascending limb on one side, descending on the other), the three head-and-neck
branches rising from its top towards the probe, the right pulmonary artery in cross-section
under it; the lumen pulses with the heartbeat.

Example::

    arch = Arch(rng, x, y, hr=70.0)
    scene = arch.scene(0.3)
"""

from __future__ import annotations

import numpy as np

from .other_scene import Breath, Scene, Texture, organ_coords, segment_distance, wall_layers

Arr = np.ndarray
BLOOD = 0.003


class Arch:
    """A suprasternal arch phantom on the beam grid ``x``, ``y`` (cm)."""

    def __init__(self, rng: np.random.Generator, x: Arr, y: Arr, *, hr: float) -> None:
        self.x, self.y, self.hr = x, y, hr
        self.wall = float(rng.uniform(1.5, 3.0))
        self.wall_echo = wall_layers(rng, y, self.wall)
        self.breath = Breath.sample(rng, reach=0.3)
        self.tissue = float(rng.uniform(0.25, 0.6))
        self.tex = Texture.sample(rng, float(rng.uniform(2.0, 4.0)))
        self.centre = (float(rng.uniform(-0.8, 0.8)), float(rng.uniform(5.5, 8.0)))
        self.radius = float(rng.uniform(2.2, 3.2))  # the arch's centreline radius
        self.lumen = float(rng.uniform(1.0, 1.4))
        self.tilt = float(rng.uniform(-0.35, 0.35))  # the arch's turn in the picture (rad)
        self.branch_r = rng.uniform(0.3, 0.5, size=3)
        self.branch_len = rng.uniform(1.8, 3.2, size=3)
        self.rpa_r = float(rng.uniform(0.7, 1.0))
        self.lung_side = float(rng.choice([-1.0, 1.0])) if rng.random() < 0.5 else 0.0

    def scene(self, t: float) -> Scene:
        a, b, c = organ_coords(self.x, self.y, self.wall, self.breath, t)
        systole = max(0.0, float(np.sin(2 * np.pi * t * self.hr / 60.0)))
        r_lumen = self.lumen * (1.0 + 0.06 * systole)
        cx, cy = self.centre
        du, dv = a - cx, b - cy
        ang = np.arctan2(du, -dv) - self.tilt  # 0 at the arch's top, ±pi/2 at its limbs
        rho = np.hypot(du, dv)
        limb = np.abs(ang) <= np.pi / 2 + 0.25
        # below the centre the limbs run straight down (ascending and descending aorta)
        straight = (np.abs(np.abs(du) - self.radius) < r_lumen) & (dv > 0) & (dv < 6.0)
        ring = np.abs(rho - self.radius)
        lumen = (limb & (ring < r_lumen)) | straight
        wall = (
            (limb & (ring < r_lumen + 0.2))
            | (np.abs(np.abs(du) - self.radius) < r_lumen + 0.2) & (dv > 0) & (dv < 6.0)
        ) & ~lumen
        for k, offset in enumerate((-0.55, 0.0, 0.55)):  # branches from the arch's top
            base_ang = offset + self.tilt
            bx = cx + self.radius * np.sin(base_ang)
            by = cy - self.radius * np.cos(base_ang)
            tip = (bx + 0.3 * offset * self.branch_len[k], by - self.branch_len[k])
            d = segment_distance(a, b, (bx, by), tip)
            lumen |= d < self.branch_r[k]
            wall |= (d < self.branch_r[k] + 0.15) & ~lumen
        rpa = np.hypot(a - cx, b - (cy + 0.4)) < self.rpa_r  # under the arch, in section
        lumen |= rpa
        echo = self.tissue * self.tex.at(a, b)
        echo = np.where(wall, 4.0 * self.tissue, echo)
        echo = np.where(lumen, BLOOD, echo)
        if self.lung_side:  # lung beside the mediastinum: black
            echo = np.where(self.lung_side * a > self.radius + 2.0, 0.002, echo)
        echo = np.where(self.y < self.wall, self.wall_echo, echo)
        imp = np.where(wall, 1.06, 1.0).astype(np.float32)
        fluid = lumen & (self.y >= self.wall)
        return Scene(echo.astype(np.float32), fluid, imp, a, b, c, None)
