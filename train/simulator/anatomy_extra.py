"""Anatomy around the chambers that real echo shows and the first heart model lacked: the RV
moderator band, the coronary sinus in the posterior AV groove, the descending aorta behind the
left atrium, the fibrous skeleton at the crux and the AV valves' annuli.

Each is a list of (material, shape) layers painted after the heart's own (``heart._layers``),
sized per patient by :class:`ExtraAnatomy` (drawn from its own random stream, so the first
model's draws, and its pixels where these structures are absent, stay the same).

Example::

    extra = ExtraAnatomy.sample(np.random.default_rng(0))
    layers = extra_layers(geometry, params, extra, off={"coronary_sinus"})
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .shapes import Cylinder, Difference, Ellipsoid, Solid, unit

if TYPE_CHECKING:
    from .heart import HeartParams, _Geometry

Arr = np.ndarray
# the realism switches (``cine.REALISM_FEATURES``) this module answers to
ANATOMY_FEATURES = ("moderator_band", "coronary_sinus", "descending_aorta", "fibrous_skeleton")


@dataclass(frozen=True)
class ExtraAnatomy:
    """Per-patient sizes and places (model cm, degrees) of the extra structures."""

    band_level: float = 0.55  # height on the RV from its apex, fraction of its half length
    band_rise: float = 0.3  # free-wall end higher (towards the base) than the septal end, cm
    band_thickness: float = 0.3  # in-plane half thickness, cm
    band_offset: float = 0.1  # elevation (anterior) offset of the band's middle, cm
    sinus_radius: float = 0.45  # coronary sinus lumen radius, cm (dilated up to ~1)
    sinus_start_deg: float = 10.0  # where it begins (lateral AV groove), azimuth about the LV
    aorta_radius: float = 1.1  # descending aorta lumen radius, cm
    aorta_height: float = 1.0  # above the mitral annulus plane, cm
    aorta_gap: float = 0.5  # tissue between the LA wall and the aortic wall, cm
    aorta_skew_deg: float = 10.0  # its axis leaning out of the PLAX plane's normal
    crux_size: float = 0.45  # half width of the bright fibrous crux, cm
    annulus_half: float = 0.15  # half height (and half radial width) of the AV annuli, cm

    @staticmethod
    def sample(rng: np.random.Generator) -> ExtraAnatomy:
        dilated = rng.random() < 0.08  # a persistent left SVC or raised right pressures
        return ExtraAnatomy(
            band_level=float(rng.uniform(0.4, 0.65)),
            band_rise=float(rng.uniform(-0.3, 0.8)),
            band_thickness=float(rng.uniform(0.2, 0.38)),
            band_offset=float(rng.uniform(-0.4, 0.4)),
            sinus_radius=float(rng.uniform(0.75, 1.0) if dilated else rng.uniform(0.3, 0.55)),
            sinus_start_deg=float(rng.uniform(-10.0, 25.0)),
            aorta_radius=float(rng.uniform(0.9, 1.35)),
            aorta_height=float(rng.uniform(0.4, 1.6)),
            aorta_gap=float(rng.uniform(0.25, 0.9)),
            aorta_skew_deg=float(rng.uniform(-15.0, 15.0)),
            crux_size=float(rng.uniform(0.4, 0.75)),
            # a thick, calcified mitral annulus in about 1 in 10 (older patients)
            annulus_half=float(
                rng.uniform(0.25, 0.4) if rng.random() < 0.1 else rng.uniform(0.1, 0.22)
            ),
        )


@dataclass
class ArcTube:
    """A tube of radius ``r`` along a horizontal circular arc (centre ``c`` (x, y), radius
    ``big_r``, height ``z0``) from azimuth ``a0`` down to ``a1`` (radians, ``a1`` < ``a0``)."""

    c: tuple[float, float]
    big_r: float
    z0: float
    r: float
    a0: float
    a1: float

    def bounds(self) -> tuple[Arr, Arr]:
        reach = self.big_r + self.r
        lo = np.array([self.c[0] - reach, self.c[1] - reach, self.z0 - self.r])
        hi = np.array([self.c[0] + reach, self.c[1] + reach, self.z0 + self.r])
        return lo, hi

    def inside(self, x: Arr, y: Arr, z: Arr) -> Arr:
        dx, dy = x - self.c[0], y - self.c[1]
        rho = np.sqrt(dx * dx + dy * dy)
        near = (rho - self.big_r) ** 2 + (z - self.z0) ** 2 < self.r**2
        ang = np.arctan2(dy, dx)  # (-pi, pi]: the arc may run past -pi
        lo = self.a1
        within = (ang <= self.a0) & (ang >= lo)
        if lo < -np.pi:
            within |= ang >= lo + 2 * np.pi
        return near & within

    def grown(self, d: float) -> ArcTube:
        return ArcTube(self.c, self.big_r, self.z0, self.r + d, self.a0, self.a1)


@dataclass
class Ribbon:
    """A flat muscle band from ``p1`` to ``p2``: half thickness ``thick`` across it (in the
    plane holding the band and ``x`` ... ``elev`` is the other), half width ``width`` along
    ``elev``; a little thicker at both ends where it inserts."""

    p1: tuple[float, float, float]
    p2: tuple[float, float, float]
    thick: float
    width: float
    elev: tuple[float, float, float] = (0.0, 1.0, 0.0)

    def bounds(self) -> tuple[Arr, Arr]:
        a, b = np.asarray(self.p1), np.asarray(self.p2)
        pad = 1.6 * self.thick + self.width
        return np.minimum(a, b) - pad, np.maximum(a, b) + pad

    def inside(self, x: Arr, y: Arr, z: Arr) -> Arr:
        p1 = np.asarray(self.p1)
        d = np.asarray(self.p2) - p1
        length = float(np.linalg.norm(d))
        along = d / length
        elev = unit(np.asarray(self.elev) - np.dot(self.elev, along) * along)
        across = np.cross(along, elev)
        dx, dy, dz = x - p1[0], y - p1[1], z - p1[2]
        t = dx * along[0] + dy * along[1] + dz * along[2]
        e = dx * elev[0] + dy * elev[1] + dz * elev[2]
        c = dx * across[0] + dy * across[1] + dz * across[2]
        ends = np.clip(1.0 - np.minimum(t, length - t) / (0.3 * length), 0.0, 1.0)
        half = (
            self.thick * (1.0 + 0.6 * ends**2) * np.sqrt(np.clip(1 - (e / self.width) ** 2, 0, 1))
        )
        return (t >= 0) & (t <= length) & (np.abs(c) < half)


def _lv_outer_radius(g: _Geometry, z: float) -> float:
    """Radius of the LV's epicardial ellipsoid at height ``z`` (0 outside it)."""
    e = g.lv_out
    q = 1.0 - ((z - e.centre[2]) / e.radii[2]) ** 2
    return float(e.radii[0] * np.sqrt(max(q, 0.0)))


def moderator_band(g: _Geometry, extra: ExtraAnatomy) -> list[tuple[str, Solid]]:
    """A myocardial ribbon across the RV's apical third, septum to free wall."""
    rv = g.rv_out  # the RV's epicardial ellipsoid; its cavity is 0.4 cm inside
    cz, half_len = rv.centre[2], rv.radii[2] - 0.4
    z1 = cz - half_len * extra.band_level
    y = -0.5 + extra.band_offset  # where standard four-chamber planes cross the RV apex
    x1 = -_lv_outer_radius(g, z1) + 0.15  # just inside the septum's RV surface
    z2 = z1 + extra.band_rise
    q = 1.0 - ((y - rv.centre[1]) / (rv.radii[1] - 0.4)) ** 2 - ((z2 - cz) / half_len) ** 2
    x2 = rv.centre[0] - (rv.radii[0] - 0.4) * np.sqrt(max(q, 0.05)) - 0.15  # into the free wall
    return [("myo", Ribbon((x1 + 0.25, y, z1), (x2 - 0.25, y, z2), extra.band_thickness, 1.4))]


def coronary_sinus(g: _Geometry, extra: ExtraAnatomy) -> list[tuple[str, Solid]]:
    """A round echolucent tube in the posterior AV groove, lateral wall to the right atrium."""
    r = extra.sinus_radius
    z0 = g.zb + 0.1 + 0.6 * r
    big_r = _lv_outer_radius(g, g.zb) - 0.1
    ra = g.ra_cav.centre
    a1 = float(np.arctan2(ra[1], ra[0]))  # the right atrium's azimuth (near ±pi)
    a1 = a1 - 2 * np.pi if a1 > 0 else a1  # reached going posterior: below -pi/2
    tube = ArcTube((0.0, 0.0), big_r, z0, r, float(np.deg2rad(extra.sinus_start_deg)), a1 + 0.25)
    return [("wall", tube.grown(0.12)), ("blood", tube)]


def descending_aorta(g: _Geometry, p: HeartParams, extra: ExtraAnatomy) -> Cylinder:
    """A round vessel with a bright wall behind the left atrium, near the AV groove; its axis
    crosses the parasternal long-axis plane, so PLAX shows it in cross-section."""
    phi = float(np.arctan2(g.c_av[1], g.c_av[0]))  # the PLAX plane holds the LV axis and this
    normal = np.array([-np.sin(phi), np.cos(phi), 0.0])
    back = np.array([-np.cos(phi), -np.sin(phi), 0.0])  # away from the parasternal probe
    la = g.la_cav
    z = g.zb + extra.aorta_height
    q = max(1.0 - ((z - la.centre[2]) / la.radii[2]) ** 2, 0.05)
    reach = 1.0 / np.sqrt((back[0] / la.radii[0]) ** 2 + (back[1] / la.radii[1]) ** 2)
    dist = reach * np.sqrt(q) + 0.2 + 0.2 + p.fat * 0.4 + extra.aorta_gap + extra.aorta_radius
    centre = np.array([la.centre[0], la.centre[1], z]) + dist * back
    skew = np.deg2rad(extra.aorta_skew_deg)
    axis = unit(np.cos(skew) * normal + np.sin(skew) * np.array([0.0, 0.0, 1.0]))
    return Cylinder(tuple(centre - 4.0 * axis), tuple(centre + 4.0 * axis), extra.aorta_radius)


def fibrous_skeleton(g: _Geometry, extra: ExtraAnatomy) -> list[tuple[str, Solid]]:
    """The brightest tissue of real four-chamber views: the crux, where the ventricular and
    atrial septa meet the mitral and (lower) tricuspid annuli, and the two annuli at the
    leaflets' hinges. Fibrous, so painted as valve tissue; kept out of every cavity but the
    hinge points it overhangs."""
    s, h = g.s, extra.annulus_half
    mv_edge, tv_edge = g.c_mv[0] - g.mv_ring.radius, g.c_tv[0] + g.tv_ring.radius  # septal hinges
    r = extra.crux_size
    crux_z = 0.5 * (g.zb + g.c_tv[2])
    crux: Solid = Ellipsoid((0.5 * (mv_edge + tv_edge), -0.5 * s, crux_z), (r, 1.2 * s, r))
    for cavity in (g.lv_cav, g.rv_cav, g.la_cav, g.ra_cav, g.mv_ring, g.tv_ring):
        crux = Difference(crux, cavity)
    layers: list[tuple[str, Solid]] = [("valve", crux)]
    for (cx, cy, cz), ring in ((g.c_mv, g.mv_ring), (g.c_tv, g.tv_ring)):
        band = Cylinder((cx, cy, cz - h), (cx, cy, cz + h), ring.radius + 2 * h)
        layers.append(("valve", Difference(band, ring)))
    return layers


def extra_layers(
    g: _Geometry, p: HeartParams, extra: ExtraAnatomy, off: Collection[str] = ()
) -> tuple[list[tuple[str, Solid]], list[tuple[str, Solid]]]:
    """The layers of the structures not switched ``off`` (names in :data:`ANATOMY_FEATURES`):
    those painted before the heart's own (the tissue around the aorta, which the heart's
    layers cover where they meet) and those painted after (lumens, walls, the band)."""
    under: list[tuple[str, Solid]] = []
    over: list[tuple[str, Solid]] = []
    if "descending_aorta" not in off:
        tube = descending_aorta(g, p, extra)
        under.append(("fat", tube.grown(0.9)))
        over += [("wall", tube.grown(0.22)), ("blood", tube)]
    if "coronary_sinus" not in off:
        over += coronary_sinus(g, extra)
    if "moderator_band" not in off:
        over += moderator_band(g, extra)
    if "fibrous_skeleton" not in off:
        over += fibrous_skeleton(g, extra)
    return under, over
