"""Cardiac planes that are none of the 8 views, for the OTHER class (issue 17).

Through the heart model (``heart.py``), which has the anatomy for them:

* ``rv_inflow``: a parasternal plane through the tricuspid valve to the right of the LV: the RV
  in the near field, the right atrium behind the valve, no LV.
* ``pa_bifurcation``: a parasternal plane tilted up along the RV outflow tract and pulmonary
  artery to where it divides (the model's PA ends short; :func:`pa_branches` adds the right and
  left branches for these cines only).

The suprasternal aortic arch needs an arch the model lacks: it is a 2-D phantom
(:mod:`other_arch`). An apical short axis near the apex is left out: the SAXMID view already
draws apical-level planes (``poses.view_pose``), so such cines would carry both labels.

Example::

    pose, info = cardiac_pose("rv_inflow", heart, rng)
"""

from __future__ import annotations

import numpy as np

from .heart import Heart
from .poses import Pose, _deg, _make, _rotate
from .shapes import Cylinder, Solid, unit

Arr = np.ndarray
HEART_PLANES = ("rv_inflow", "pa_bifurcation")


def pa_branches(heart: Heart, rng: np.random.Generator) -> list[tuple[str, Solid]]:
    """Right and left pulmonary arteries from the end of the model's PA (wall then lumen)."""
    lm = heart.landmarks
    s = heart.p.lv_radius / 2.4
    pv = lm["pulmonary"]
    top = pv + np.array([0.9 * s, -0.7 * s, 2.0])  # the model's PA end (heart._Geometry.pa)
    r = float(rng.uniform(0.65, 0.85)) * s
    rpa = top + float(rng.uniform(3.5, 4.5)) * unit((-0.95, -0.35, 0.15))
    lpa = top + float(rng.uniform(2.5, 3.5)) * unit((0.55, -0.75, 0.35))
    tubes = [Cylinder(tuple(top), tuple(rpa), r), Cylinder(tuple(top), tuple(lpa), r)]
    return [*(("wall", c.grown(0.22)) for c in tubes), *(("blood", c) for c in tubes)]


def cardiac_pose(plane: str, heart: Heart, rng: np.random.Generator) -> tuple[Pose, dict]:
    """A random plane of ``plane`` (one of :data:`HEART_PLANES`) for this heart."""
    lm = heart.landmarks
    roll = _deg(rng, -9, 9)
    info: dict[str, float | str] = {"plane": plane, "roll_deg": float(np.rad2deg(roll))}
    if plane == "rv_inflow":
        tv = lm["tricuspid"]
        spin = _deg(rng, -12, 12)
        normal = _rotate(np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), spin)
        centre = tv + float(rng.uniform(-0.3, 0.5)) * normal + np.array([0.0, 0.0, 0.5])
        v = _rotate(np.array([0.0, -1.0, 0.0]), normal, _deg(rng, -15, 10))
        v = unit(v - v.dot(normal) * normal)
        origin = centre - float(rng.uniform(7.0, 8.5)) * v
        info.update(spin_deg=float(np.rad2deg(spin)))
        return _make(origin, v, np.array([0.0, 0.0, 1.0]), roll), info
    if plane == "pa_bifurcation":
        s = heart.p.lv_radius / 2.4
        top = lm["pulmonary"] + np.array([0.9 * s, -0.7 * s, 2.0])
        probe_dir = unit(np.array([0.25, 1.0, -0.55]) + 0.15 * rng.normal(size=3))
        origin = top + float(rng.uniform(8.5, 10.0)) * probe_dir
        v = unit(top - origin)
        branches = unit((-0.95, -0.35, 0.15)) - unit((0.55, -0.75, 0.35))
        u = unit(branches - branches.dot(v) * v)
        return _make(origin, v, u, roll), info
    raise ValueError(f"unknown cardiac plane {plane!r}; expected one of {HEART_PLANES}")
