"""What the 2-D OTHER families (issue 17: IVC, lung, abdomen, aortic arch) paint in the image
plane, and the shapes and motions they share.

A family is a :class:`Phantom`: drawn once per cine on the probe's beam grid (``x`` lateral,
``y`` depth below the probe face, cm), it gives one :class:`Scene` per frame time: the
echogenicity of every beam sample (myocardium ≈ 1, liver ≈ 0.5, blood ≈ 0.003), which samples
are moving fluid (fresh speckle every frame), the acoustic impedance (specular echoes come from
its jumps) and the tissue coordinates the speckle is attached to (so it moves with breathing).

Example::

    scene = phantom.scene(0.4)
    scene.echo.shape == x.shape
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

Arr = np.ndarray


@dataclass(frozen=True)
class Scene:
    """One frame of a phantom, every array (n_samples, n_beams)."""

    echo: Arr  # echogenicity (float32)
    fluid: Arr  # bool: fresh speckle every frame (flowing blood, a sliding lung's shimmer)
    imp: Arr  # acoustic impedance relative to blood (air ≈ 0.3)
    a: Arr  # tissue coordinates (cm) the speckle is attached to: lateral …
    b: Arr  # … depth …
    c: Arr  # … and elevation (through-plane motion decorrelates speckle)
    gain: Arr | None = None  # amplitude factor: acoustic shadows behind bone and air


class Phantom(Protocol):
    def scene(self, t: float) -> Scene: ...


@dataclass(frozen=True)
class Breath:
    """Breathing: period (s), phase (rad) and the organ's drift (cm) lateral, in depth and
    through the plane at full inspiration."""

    period: float
    phase: float
    drift: tuple[float, float, float]

    @staticmethod
    def sample(rng: np.random.Generator, reach: float = 1.2) -> Breath:
        period, phase = rng.uniform(3.0, 5.0), rng.uniform(0, 2 * np.pi)
        dx, dy, dz = rng.uniform(0.3, 1.0) * reach, rng.uniform(-0.3, 0.3), rng.uniform(0.1, 0.4)
        return Breath(float(period), float(phase), (float(dx), float(dy), float(dz)))

    def inspiration(self, t: float) -> float:
        """0 at end-expiration … 1 at full inspiration."""
        return float(0.5 - 0.5 * np.cos(2 * np.pi * t / self.period + self.phase))


def wall_layers(rng: np.random.Generator, y: Arr, depth: float) -> Arr:
    """Skin, fat and muscle above ``depth`` cm: bands of grey; 0 below."""
    period, phase = rng.uniform(0.3, 0.7), rng.uniform(0, 6.3)
    level = rng.uniform(0.25, 0.6)
    bands = level * (0.5 + np.sin(2 * np.pi * y / period + phase) ** 2)
    return np.where(y < depth, bands, 0.0).astype(np.float32)


@dataclass(frozen=True)
class Texture:
    """A slow, log-normal brightness factor over tissue coordinates (``db`` std)."""

    k: Arr
    phase: Arr
    db: float

    @staticmethod
    def sample(rng: np.random.Generator, db: float, scale: float = 1.5) -> Texture:
        k = rng.normal(size=(6, 2))
        k *= (2 * np.pi / rng.uniform(0.6, 2.5, size=6) / np.linalg.norm(k, axis=1))[:, None]
        return Texture(k / scale, rng.uniform(0, 2 * np.pi, 6), float(db))

    def at(self, a: Arr, b: Arr) -> Arr:
        k, ph = self.k, self.phase
        acc = sum(np.sin(k[i, 0] * a + k[i, 1] * b + ph[i]) for i in range(len(ph)))
        return np.exp(self.db / 20.0 * np.log(10.0) / np.sqrt(3.0) * acc).astype(np.float32)


def segment_distance(x: Arr, y: Arr, p0: tuple[float, float], p1: tuple[float, float]) -> Arr:
    """Distance (cm) of every point to the segment p0–p1."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    s = np.clip(((x - p0[0]) * dx + (y - p0[1]) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    return np.hypot(x - p0[0] - s * dx, y - p0[1] - s * dy)


@dataclass(frozen=True)
class Dots:
    """Small round specks (portal triads, fascia) at fixed tissue positions: (n, 3) rows of
    centre x, centre y, radius (cm)."""

    xyr: Arr

    @staticmethod
    def sample(rng: np.random.Generator, n: int, box: tuple[float, float, float, float]) -> Dots:
        """``n`` dots inside ``box`` (x0, y0, x1, y1, cm)."""
        xs, ys = rng.uniform(box[0], box[2], n), rng.uniform(box[1], box[3], n)
        return Dots(np.stack([xs, ys, rng.uniform(0.06, 0.16, n)], axis=1))

    def mask(self, a: Arr, b: Arr) -> Arr:
        out = np.zeros(a.shape, dtype=bool)
        for cx, cy, r in self.xyr:
            out |= (a - cx) ** 2 + (b - cy) ** 2 < r * r
        return out


def ellipse_q(a: Arr, b: Arr, centre: tuple[float, float], radii: tuple[float, float], angle=0.0):
    """(distance / radius)² of every point from an ellipse's centre: < 1 inside."""
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = a - centre[0], b - centre[1]
    return ((ca * u + sa * v) / radii[0]) ** 2 + ((-sa * u + ca * v) / radii[1]) ** 2


def organ_coords(x: Arr, y: Arr, wall: float, breath: Breath, t: float) -> tuple[Arr, Arr, Arr]:
    """Tissue coordinates of the beam samples at ``t``: below the wall the organs drift with
    breathing, the wall stays with the probe."""
    w = np.clip((y - wall) / 1.5, 0.0, 1.0)
    s = breath.inspiration(t)
    dx, dy, dz = breath.drift
    a, b = (x - dx * s * w).astype(np.float32), (y - dy * s * w).astype(np.float32)
    return a, b, (dz * s * w).astype(np.float32)
