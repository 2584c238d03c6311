"""Implicit 3-D shapes evaluated on point clouds given as three coordinate arrays (cm).

Every shape has ``inside(x, y, z) -> bool array``; they are the bricks of the heart model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

Arr = np.ndarray


class Solid(Protocol):
    """Anything with a bounding box and an inside test (every shape here)."""

    def bounds(self) -> tuple[Arr, Arr]: ...

    def inside(self, x: Arr, y: Arr, z: Arr) -> Arr: ...


def unit(v: tuple[float, float, float] | Arr) -> Arr:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def frame_from_axis(axis: Arr) -> tuple[Arr, Arr, Arr]:
    """Two unit vectors perpendicular to ``axis`` (and to each other), then the axis."""
    a = unit(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = unit(helper - helper.dot(a) * a)
    return e1, np.cross(a, e1), a


@dataclass
class Ellipsoid:
    """Points with sum(((p - centre)·axis_k / radius_k)^2) < 1, optionally clipped in z."""

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    zmin: float = -np.inf
    zmax: float = np.inf
    axes: Arr | None = None  # rows: unit axes; None = x, y, z

    def q(self, x: Arr, y: Arr, z: Arr) -> Arr:
        cx, cy, cz = self.centre
        dx, dy, dz = x - cx, y - cy, z - cz
        rx, ry, rz = self.radii
        if self.axes is None:
            return (dx / rx) ** 2 + (dy / ry) ** 2 + (dz / rz) ** 2
        a = self.axes
        l0 = a[0, 0] * dx + a[0, 1] * dy + a[0, 2] * dz
        l1 = a[1, 0] * dx + a[1, 1] * dy + a[1, 2] * dz
        l2 = a[2, 0] * dx + a[2, 1] * dy + a[2, 2] * dz
        return (l0 / rx) ** 2 + (l1 / ry) ** 2 + (l2 / rz) ** 2

    def bounds(self) -> tuple[Arr, Arr]:
        c = np.asarray(self.centre, dtype=np.float64)
        r = (
            np.asarray(self.radii, dtype=np.float64)
            if self.axes is None
            else np.full(3, max(self.radii))
        )
        lo, hi = c - r, c + r
        lo[2], hi[2] = max(lo[2], self.zmin), min(hi[2], self.zmax)
        return lo, hi

    def inside(self, x: Arr, y: Arr, z: Arr) -> Arr:
        m = self.q(x, y, z) < 1.0
        if np.isfinite(self.zmin):
            m &= z >= self.zmin
        if np.isfinite(self.zmax):
            m &= z <= self.zmax
        return m

    def grown(self, d: float, **kw: float) -> Ellipsoid:
        """The same ellipsoid with every radius ``d`` larger (clips from ``kw``)."""
        r = tuple(ri + d for ri in self.radii)
        args = {"zmin": self.zmin, "zmax": self.zmax, **kw}
        return Ellipsoid(self.centre, r, axes=self.axes, **args)  # type: ignore[arg-type]


@dataclass
class Cylinder:
    """A finite cylinder from ``p0`` to ``p1`` with ``radius``."""

    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    radius: float

    def bounds(self) -> tuple[Arr, Arr]:
        p0, p1 = np.asarray(self.p0, dtype=np.float64), np.asarray(self.p1, dtype=np.float64)
        return np.minimum(p0, p1) - self.radius, np.maximum(p0, p1) + self.radius

    def inside(self, x: Arr, y: Arr, z: Arr) -> Arr:
        p0 = np.asarray(self.p0)
        d = np.asarray(self.p1) - p0
        length = float(np.linalg.norm(d))
        d = d / length
        dx, dy, dz = x - p0[0], y - p0[1], z - p0[2]
        t = dx * d[0] + dy * d[1] + dz * d[2]
        r2 = dx * dx + dy * dy + dz * dz - t * t
        return (t >= 0) & (t <= length) & (r2 < self.radius**2)

    def grown(self, d: float) -> Cylinder:
        return Cylinder(self.p0, self.p1, self.radius + d)


@dataclass
class Difference:
    """Points inside ``a`` and not inside ``b``."""

    a: Solid
    b: Solid

    def bounds(self) -> tuple[Arr, Arr]:
        return self.a.bounds()

    def inside(self, x: Arr, y: Arr, z: Arr) -> Arr:
        return self.a.inside(x, y, z) & ~self.b.inside(x, y, z)


@dataclass
class Valve:
    """Leaflets hinged on an elliptic annulus, swinging along ``axis`` as they open.

    A leaflet point at normalised length s from the hinge sits at radius (1 - s·cos φ) and height
    s·sin φ·R along ``axis``; φ goes from ``closed`` to ``open`` (radians) with the opening
    0…1. With ``cusps`` > 0 the closed valve also shows its coaptation lines (the "Mercedes" sign
    of the aortic valve in short axis).
    """

    centre: tuple[float, float, float]
    axis: tuple[float, float, float]
    radii: tuple[float, float]
    thickness: float = 0.14
    length: float = 1.05
    closed: float = 0.12
    open: float = 1.25
    cusps: int = 0
    opening: float = 0.0
    _frame: tuple[Arr, Arr, Arr] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._frame = frame_from_axis(np.asarray(self.axis))

    def bounds(self) -> tuple[Arr, Arr]:
        c = np.asarray(self.centre, dtype=np.float64)
        r = 1.35 * max(self.radii) + self.thickness
        return c - r, c + r

    def at(self, opening: float) -> Valve:
        return Valve(
            self.centre,
            self.axis,
            self.radii,
            self.thickness,
            self.length,
            self.closed,
            self.open,
            self.cusps,
            float(np.clip(opening, 0, 1)),
        )

    def inside(self, x: Arr, y: Arr, z: Arr) -> Arr:
        e1, e2, a = self._frame
        c = self.centre
        dx, dy, dz = x - c[0], y - c[1], z - c[2]
        h = dx * a[0] + dy * a[1] + dz * a[2]
        u1 = (dx * e1[0] + dy * e1[1] + dz * e1[2]) / self.radii[0]
        u2 = (dx * e2[0] + dy * e2[1] + dz * e2[2]) / self.radii[1]
        rho = np.sqrt(u1 * u1 + u2 * u2)
        r_mean = 0.5 * (self.radii[0] + self.radii[1])
        phi = self.closed + (self.open - self.closed) * self.opening
        one_minus = 1.0 - rho
        m = (one_minus >= 0) & (one_minus <= self.length * np.cos(phi))
        m &= np.abs(h - one_minus * np.tan(phi) * r_mean) * np.cos(phi) < self.thickness / 2
        if self.cusps and self.opening < 0.5:
            height = 0.3 * r_mean * (1 - 2 * self.opening)
            psi = np.arctan2(u2, u1)
            line = np.zeros_like(m)
            for k in range(self.cusps):
                ang = np.pi / 2 + 2 * np.pi * k / self.cusps
                along = np.cos(psi - ang)
                across = rho * r_mean * np.abs(np.sin(psi - ang))
                line |= (along > 0) & (across < self.thickness / 2)
            m |= line & (rho <= 1) & (np.abs(h) < height)
        return m
