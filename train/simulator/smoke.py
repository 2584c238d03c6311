"""Blood "smoke": spontaneous echo contrast, the faint swirling clutter in real blood pools.

Real chambers are dark but not empty: at high gain, with slow flow or harmonic imaging, blood
shows wisps of low-level speckle that drift and swirl with the flow. Here a blotchy density
(log-normal, a few random plane waves) and its speckle are attached to the *moving blood*: the
reference points of the chambers turn about an axis through the heart's middle (a slow vortex
with a beat-to-beat surge), so the pattern streams across frames instead of flickering.

Example::

    smoke = Smoke(SmokeParams.sample(rng), heart.landmarks["centre"], hr=70)
    echo, a, b, c = smoke.plane((x0, y0, z0), blood, t, pose)   # coarse (ns/2, nb) grids
    z += smoke_field(echo_full, (a_full, b_full, c_full), imager.table)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .physics import cell_hash
from .poses import Pose

Arr = np.ndarray


@dataclass(frozen=True)
class SmokeParams:
    """One cine's smoke: ``level`` (echogenicity, myocardium ≈ 1; 0 = none), blotch size,
    vortex axis and speed, and the random waves of its density."""

    level: float = 0.0
    wavelength_cm: float = 1.2
    blotch_db: float = 6.0
    axis: tuple[float, float, float] = (0.0, 1.0, 0.0)
    omega: float = 1.0  # rad/s
    surge: float = 0.3  # rad, beat-to-beat swing of the vortex
    seed: int = 0

    @staticmethod
    def sample(rng: np.random.Generator) -> SmokeParams:
        """None in about 45 % of cines; otherwise -40 … -16 dB under myocardium."""
        none = rng.random() < 0.45
        level_db = rng.uniform(-40.0, -16.0)
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        return SmokeParams(
            level=0.0 if none else float(10.0 ** (level_db / 10.0)),
            wavelength_cm=float(rng.uniform(0.8, 2.5)),
            blotch_db=float(rng.uniform(8.0, 14.0)),
            axis=(float(axis[0]), float(axis[1]), float(axis[2])),
            omega=float(rng.uniform(0.4, 1.5) * rng.choice([-1.0, 1.0])),
            surge=float(rng.uniform(0.05, 0.2)),
            seed=int(rng.integers(2**31)),
        )


def _rotate_points(x: Arr, y: Arr, z: Arr, centre: Arr, axis: Arr, angle: float) -> list[Arr]:
    """Rodrigues rotation of the points about ``axis`` through ``centre``."""
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    px, py, pz = x - centre[0], y - centre[1], z - centre[2]
    ax, ay, az = (np.float32(a) for a in axis)
    dot = (px * ax + py * ay + pz * az) * (1 - c)
    cx, cy, cz = ay * pz - az * py, az * px - ax * pz, ax * py - ay * px
    return [
        px * c + cx * s + ax * dot + centre[0],
        py * c + cy * s + ay * dot + centre[1],
        pz * c + cz * s + az * dot + centre[2],
    ]


class Smoke:
    """Speckle of the smoke in one cine's blood, frame by frame (no random draws per frame)."""

    def __init__(self, p: SmokeParams, centre: Arr, hr: float) -> None:
        self.p, self.centre, self.hr = p, np.asarray(centre, dtype=np.float32), hr
        wave_rng = np.random.default_rng(p.seed)
        k = wave_rng.normal(size=(5, 3))
        k *= (2 * np.pi / p.wavelength_cm / np.linalg.norm(k, axis=1))[:, None]
        self.k = k.astype(np.float32)
        self.phase = wave_rng.uniform(0, 2 * np.pi, 5).astype(np.float32)
        self.sigma = np.float32(p.blotch_db / 10.0 * np.log(10.0) / np.sqrt(5 / 2.0) / 2.0)

    def angle(self, t: float) -> float:
        """The vortex's turn (rad) at time ``t``: steady spin plus a surge each beat."""
        return self.p.omega * t + self.p.surge * np.sin(2 * np.pi * t * self.hr / 60.0)

    def density(self, x: Arr, y: Arr, z: Arr) -> Arr:
        """Echogenicity of the smoke at blood points that have been carried back to t = 0."""
        acc = np.zeros(x.shape, dtype=np.float32)
        for i in range(len(self.phase)):
            k = self.k[i]
            acc += np.sin(k[0] * x + k[1] * y + k[2] * z + self.phase[i])
        return (self.p.level * np.exp(self.sigma * acc - self.sigma**2)).astype(np.float32)

    def plane(
        self, ref: tuple[Arr, Arr, Arr], blood: Arr, t: float, pose: Pose
    ) -> tuple[Arr, Arr, Arr, Arr]:
        """Coarse-grid smoke echogenicity (0 outside ``blood``) and the (a, b, c) plane
        coordinates, on the coarse grid, of the moving blood its speckle is attached to."""
        pts = _rotate_points(*ref, self.centre, np.asarray(self.p.axis), -self.angle(t))
        echo = np.zeros(blood.shape, dtype=np.float32)
        echo[blood] = self.density(pts[0][blood], pts[1][blood], pts[2][blood])
        u, v, nrm = pose.u, pose.v, pose.n
        a = pts[0] * u[0] + pts[1] * u[1] + pts[2] * u[2]
        b = pts[0] * v[0] + pts[1] * v[1] + pts[2] * v[2]
        c = pts[0] * nrm[0] + pts[1] * nrm[1] + pts[2] * nrm[2]
        return echo, a, b, c


def smoke_field(echo: Arr, abc: tuple[Arr, Arr, Arr], table: Arr) -> Arr:
    """Complex scatterers of the smoke (full grid): the tissue table hashed at the moving
    blood's cells (offset so they differ from the tissue's), times sqrt(echo)."""
    cells = cell_hash(abc[0] + 517.0, abc[1] - 311.0, abc[2] + 97.0)
    return table[cells] * np.sqrt(echo).astype(np.float32)
