"""Imaging planes ("poses") of the 8 standard views through the heart model, plus off-axis ones.

A pose is a probe position ``origin`` with a depth direction ``v`` and a lateral (screen-right)
direction ``u``, in model coordinates (cm). Each view draws its continuous plane parameters
(tilt, rotation, level, probe distance, in-plane roll) from its own range; A4C and A5C share
one tilt axis (anterior tilt brings the LV outflow tract and aortic valve into the plane), A2C
and A3C one rotation axis about the LV long axis.

Example::

    pose, params = view_pose("A5C", heart, rng)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .heart import Heart
from .shapes import unit

Arr = np.ndarray
OTHER = "OTHER"


@dataclass(frozen=True)
class Pose:
    origin: Arr
    u: Arr  # lateral, screen right
    v: Arr  # depth

    @property
    def n(self) -> Arr:
        return np.cross(self.u, self.v)

    def points(self, r: Arr, theta: Arr) -> tuple[Arr, Arr, Arr]:
        """Model coordinates of beam-space samples: r (ns,) cm and theta (nb,) rad → (ns, nb)."""
        lat = (r[:, None] * np.sin(theta)[None, :]).astype(np.float32)
        dep = (r[:, None] * np.cos(theta)[None, :]).astype(np.float32)
        o, u, v = self.origin, self.u, self.v
        x, y, z = ((o[k] + lat * u[k] + dep * v[k]).astype(np.float32) for k in range(3))
        return x, y, z

    def scaled(self, s: float) -> Pose:
        return Pose(self.origin * s, self.u, self.v)


def _rotate(vec: Arr, axis: Arr, angle: float) -> Arr:
    """Rodrigues rotation of ``vec`` about unit ``axis``."""
    axis = unit(axis)
    return (
        vec * np.cos(angle)
        + np.cross(axis, vec) * np.sin(angle)
        + axis * axis.dot(vec) * (1 - np.cos(angle))
    )


def _make(origin: Arr, v: Arr, u_hint: Arr, roll: float) -> Pose:
    v = unit(v)
    u = unit(u_hint - u_hint.dot(v) * v)
    # in-plane probe angulation: rotate the beam direction within the plane about the probe
    v2 = np.cos(roll) * v + np.sin(roll) * u
    u2 = np.cos(roll) * u - np.sin(roll) * v
    return Pose(np.asarray(origin, dtype=np.float64), unit(u2), unit(v2))


def _apical(heart: Heart, phi: float, tilt: float, dist: float, roll: float) -> Pose:
    z = np.array([0.0, 0.0, 1.0])
    u0 = np.array([np.cos(phi), np.sin(phi), 0.0])
    n0 = np.cross(z, u0)
    v = np.cos(tilt) * z + np.sin(tilt) * n0
    origin = heart.landmarks["apex"] - dist * z - 0.3 * n0
    return _make(origin, v, u0, roll)


def _deg(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.deg2rad(rng.uniform(lo, hi)))


# Anterior tilt (degrees) relative to the tilt aiming at the aortic valve: A5C cuts the valve
# and LV outflow tract; A4C stays behind it, the nearest ones only a few degrees short of it.
# A5C leans to the valve's posterior half, where real five-chamber views show the atria on
# both sides of the root (through its middle the plane passed in front of both atria).
TILT_A4C = (-17.0, -7.0)
TILT_A5C = (-6.0, 1.0)


# What must stay inside an apical sector for the view to be that view (issue 13: LV-focused
# framings deeper than the valves cut off the LV outflow tract, and with it the difference
# between A5C and the other apical views): the valves' centres and the depth (model cm) shown
# beyond them (the aortic root; the leaflets and part of the atria).
VIEW_VALVES = {
    "A5C": (("aortic",), 2.0),
    "A3C": (("aortic", "mitral"), 1.5),
    "A4C": (("mitral", "tricuspid"), 1.5),
    "A2C": (("mitral",), 1.5),
}


def valve_depth(heart: Heart, *planes: tuple[str, Pose]) -> float:
    """Depth (model cm from the probe, in the plane) a sector needs so that each (view,
    plane)'s valves and what lies just beyond them are in it; 0 for views without such a
    rule. (Foreshortening pivots about the valves: the depth is taken before it.)"""
    depth = 0.0
    for view, pose in planes:
        names, beyond = VIEW_VALVES.get(view, ((), 0.0))
        for name in names:
            d = np.asarray(heart.landmarks[name], dtype=np.float64) - pose.origin
            depth = max(depth, float(np.hypot(d @ pose.v, d @ pose.u)) + beyond)
    return depth


def view_pose(
    view: str,
    heart: Heart,
    rng: np.random.Generator,
    tilt: float | None = None,
    *,
    aim: bool = True,
) -> tuple[Pose, dict[str, float | str]]:
    """A random plane of ``view`` (or ``OTHER``) for this heart, and the parameters drawn.

    ``tilt`` (degrees) overrides the apical anterior tilt (absolute, about the LV axis);
    ``aim=False`` aims A4C/A5C down the LV's middle (the first simulator's planes).
    """
    lm = heart.landmarks
    roll = _deg(rng, -9, 9)
    phi_av = float(np.arctan2(lm["aortic"][1], lm["aortic"][0]))
    info: dict[str, float | str] = {"roll_deg": float(np.rad2deg(roll))}
    if view in ("A4C", "A5C", "A2C", "A3C"):
        dist = rng.uniform(1.6, 3.0)
        if view in ("A4C", "A5C"):
            # framings range from LV-focused (the beam down the LV's middle, the RV half in
            # view: CAMUS- and EchoNet-style studies) to both ventricles (aimed along the
            # septum, the beam turned up to 14° towards the RV)
            shift = float(rng.uniform(-2.0, 14.0))  # drawn either way (ablation pairs)
            roll -= np.deg2rad(shift if aim else 0.0)
            info["roll_deg"] = float(np.rad2deg(roll))
            phi = _deg(rng, -7, 7)
            # the tilt that aims the plane at the aortic valve of this heart
            av = lm["aortic"]
            n_av = -av[0] * np.sin(phi) + av[1] * np.cos(phi) + 0.3
            av_tilt = float(np.arctan2(n_av, av[2] + dist))
            lo, hi = TILT_A4C if view == "A4C" else TILT_A5C
            t = np.deg2rad(tilt) if tilt is not None else av_tilt + _deg(rng, lo, hi)
        elif view == "A2C":
            phi, t = _deg(rng, 48, 60), _deg(rng, -4, 4)
        else:
            phi, t = phi_av + _deg(rng, -6, 6), _deg(rng, -3, 4)
        info.update(rotation_deg=float(np.rad2deg(phi)), tilt_deg=float(np.rad2deg(t)))
        return _apical(heart, phi, t, dist, roll), info
    if view == "PLAX":
        phi = phi_av + _deg(rng, -6, 6)
        u3 = np.array([np.cos(phi), np.sin(phi), 0.0])
        centre = np.array([0.0, 0.0, heart.z_base - rng.uniform(1.6, 2.8)])
        origin = centre + rng.uniform(7.5, 9.0) * u3
        v = _rotate(-u3, np.array([0.0, 0.0, 1.0]), _deg(rng, -4, 4))
        return _make(origin, v, np.array([0.0, 0.0, 1.0]), roll), info
    if view == "SAXMID":
        level = str(rng.choice(["mitral", "papillary", "apical"]))
        zl = {
            "mitral": heart.z_base - 0.9 - heart.p.shortening,  # below the systolic annulus
            "papillary": heart.z_base - 3.6,
            "apical": 0.8 * heart.p.wall + 1.6,
        }[level] + rng.uniform(-0.3, 0.3)
        info["level"] = level
        return _sax(np.array([-0.4, 0.0, zl]), np.array([0.0, 0.0, 1.0]), rng, roll), info
    if view == "SAXBASAL":
        a = lm["aortic_dir"]
        centre = lm["aortic"] + rng.uniform(0.1, 0.5) * a + np.array([0.4, -0.6, 0.0])
        return _sax(centre, a, rng, roll), info
    if view == "SUB4C":
        beta = _deg(rng, 12, 30)
        tilt_s = _deg(rng, -6, 6)
        y = np.array([0.0, 1.0, 0.0])
        v = np.array([np.cos(beta), 0.0, np.sin(beta)])
        v = np.cos(tilt_s) * v + np.sin(tilt_s) * y
        u_hint = np.cross(y, v)
        origin = lm["centre"] + np.array([0.0, -0.3, 0.0]) - rng.uniform(10.0, 11.5) * unit(v)
        return _make(origin, v, u_hint, roll), info
    if view == OTHER:
        base = str(rng.choice(["A4C", "A2C", "PLAX", "SAXMID", "SUB4C"]))
        pose, _ = view_pose(base, heart, rng)
        axis = unit(rng.normal(size=3))
        angle = _deg(rng, 28, 50) * rng.choice([-1, 1])
        target = lm["centre"]
        origin = target + _rotate(pose.origin - target, axis, angle)
        info.update(base=base, off_axis_deg=float(np.rad2deg(angle)))
        return Pose(
            origin, unit(_rotate(pose.u, axis, angle)), unit(_rotate(pose.v, axis, angle))
        ), info
    raise ValueError(f"unknown view {view!r}")


def _sax(centre: Arr, axis: Arr, rng: np.random.Generator, roll: float) -> Pose:
    """A short-axis plane through ``centre`` perpendicular to ``axis`` (± a few degrees)."""
    axis = _rotate(unit(axis), np.array([1.0, 0.0, 0.0]), _deg(rng, -7, 7))
    ant = np.array([0.0, 1.0, 0.0])
    ant = unit(ant - ant.dot(axis) * axis)
    v = -ant
    u = np.cross(axis, v)
    origin = centre - rng.uniform(7.0, 8.5) * v
    return _make(origin, v, u, roll)


def blend(a: Pose, b: Pose, w: float) -> Pose:
    """A plane ``w`` of the way from ``a`` to ``b`` (probe sweep)."""
    v = unit((1 - w) * a.v + w * b.v)
    u = (1 - w) * a.u + w * b.u
    u = unit(u - u.dot(v) * v)
    return Pose((1 - w) * a.origin + w * b.origin, u, v)
