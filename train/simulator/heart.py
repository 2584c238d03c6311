"""One 3-D heart model: chambers, myocardium, valves, great vessels, and its motion.

Model coordinates (cm, before the patient's size scale): z runs along the LV long axis from the
apex (z≈0) to the base, x towards the LV lateral wall (patient's left), y anterior. Views are
planes through this model (``poses.py``); the echogenicity of a plane comes from :meth:`Heart.paint`
evaluated at the *reference* (end-diastolic) position of each point, so the anatomy and the
speckle attached to it move together.

Example::

    heart = Heart(HeartParams())
    echo, tissue, inside, impedance = heart.paint(x, y, z, cardiac_state(0.1, 70))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .anatomy_extra import ExtraAnatomy, extra_layers
from .cycle import CardiacState
from .shapes import Cylinder, Difference, Ellipsoid, Solid, Valve, frame_from_axis, unit

Arr = np.ndarray

# Materials, in painting order of importance; echogenicity values come from ``HeartParams``.
MATERIALS = ("fat", "peri", "myo", "wall", "blood", "valve")
# Acoustic impedance relative to blood (MRayl ≈ 1.6): specular echoes come from its jumps
# (``physics.specular``); fibrous pericardium and valves stand out, fat is a little lower.
IMPEDANCE = {"fat": 0.95, "peri": 1.12, "myo": 1.05, "wall": 1.06, "blood": 1.0, "valve": 1.12}


@dataclass(frozen=True)
class HeartParams:
    """Per-patient anatomy and function (model units, cm)."""

    lv_radius: float = 2.4  # endocardial radius at the equator, end-diastole
    lv_length: float = 5.2  # half length of the LV cavity ellipsoid
    wall: float = 1.0  # LV wall thickness, end-diastole
    rv_scale: float = 1.0
    la_scale: float = 1.0
    contraction: float = 0.55  # radial contraction strength (fractional shortening ≈ 30 %)
    shortening: float = 1.1  # systolic descent of the base, cm
    echo_myo: float = 1.0
    echo_peri: float = 4.0
    echo_wall: float = 1.3
    echo_valve: float = 2.5
    echo_blood: float = 0.003
    fat: float = 0.6  # epicardial fat / mediastinal tissue around the heart, cm
    echo_fat: float = 0.3
    texture_db: float = 3.0  # slow brightness variation of the tissue (std, dB)
    texture_seed: int = 0
    effusion: float = 0.0  # pericardial fluid between pericardium and heart, cm (0: none)
    rv_dilation: float = 1.0  # RV size factor beyond rv_scale (pressure overload > 1)

    @staticmethod
    def sample(rng: np.random.Generator) -> HeartParams:
        """A random but plausible adult heart."""
        return HeartParams(
            lv_radius=rng.uniform(2.15, 2.7),
            lv_length=rng.uniform(4.8, 5.6),
            wall=rng.uniform(0.7, 1.2),
            rv_scale=rng.uniform(0.85, 1.15),
            la_scale=rng.uniform(0.85, 1.3),
            contraction=rng.uniform(0.35, 0.65),
            shortening=rng.uniform(0.7, 1.4),
            echo_myo=rng.uniform(0.6, 1.4),
            echo_peri=rng.uniform(2.0, 8.0),
            echo_wall=rng.uniform(0.15, 0.7),  # thin atrial and aortic walls: greyer than myo
            echo_valve=rng.uniform(2.0, 8.0),
            echo_blood=rng.uniform(0.0005, 0.01),
            fat=rng.uniform(0.1, 0.9),
            echo_fat=rng.uniform(0.05, 0.6),
            texture_db=rng.uniform(2.0, 7.0),
            texture_seed=int(rng.integers(2**31)),
            # point-of-care echo sees sick hearts: an effusion in 1 of 8, a dilated RV in 1 of 10
            effusion=float(rng.uniform(0.4, 2.2)) if rng.random() < 0.125 else 0.0,
            rv_dilation=float(rng.uniform(1.2, 1.5)) if rng.random() < 0.1 else 1.0,
        )


@dataclass(frozen=True)
class _Geometry:
    """One patient's shapes and points (model cm) that the heart's layers are made of."""

    s: float  # lateral scale of everything around the LV
    zc: float  # LV centre height
    zb: float  # mitral annulus plane
    lv_cav: Ellipsoid
    lv_out: Ellipsoid
    rv_out: Ellipsoid
    rv_cav: Difference
    la_cav: Ellipsoid
    ra_cav: Ellipsoid
    c_mv: tuple[float, float, float]  # valve centres
    c_tv: tuple[float, float, float]
    c_av: Arr
    c_pv: tuple[float, float, float]
    a_dir: Arr  # the aorta's axis
    r_ao: float
    ao: Cylinder
    sinus: Ellipsoid
    lvot: Cylinder
    rvot: Cylinder
    pa: Cylinder
    mv_ring: Cylinder
    tv_ring: Cylinder
    papillary: tuple[Ellipsoid, Ellipsoid]

    @staticmethod
    def of(p: HeartParams) -> _Geometry:
        a, c, w = p.lv_radius, p.lv_length, p.wall
        s = a / 2.4
        z_apex = 0.8 * w
        zc = z_apex + c
        zb = zc + 0.42 * c
        rv = p.rv_scale * p.rv_dilation
        la = p.la_scale
        lv_out = Ellipsoid((0, 0, zc), (a + w, a + w, c + 0.8 * w), zmax=zb + 0.15)
        rv_ell = Ellipsoid((-2.0 * s, 0.5 * s, zc - 1.0), (4.4 * s * rv, 3.3 * s * rv, 4.6))
        c_mv = (0.2 * s, -0.7 * s, zb)
        c_tv = (-4.1 * s, 0.0, zb - 0.5)
        c_av = np.array([-1.3 * s, 1.4 * s, zb + 0.35])
        a_dir = unit((-0.3, 0.5, 1.0))
        c_pv = (1.0 * s, 3.6 * s, zb + 1.4)
        r_ao = 1.15 * s
        return _Geometry(
            s=s,
            zc=zc,
            zb=zb,
            lv_cav=Ellipsoid((0, 0, zc), (a, a, c), zmax=zb),
            lv_out=lv_out,
            rv_out=rv_ell.grown(0.4, zmax=zb - 0.2),
            rv_cav=Difference(Ellipsoid(rv_ell.centre, rv_ell.radii, zmax=zb - 0.3), lv_out),
            # the atria lie behind and beside the aortic root, close enough that the planes
            # tilted through the LV outflow tract (A5C) still cut both, as real ones do
            la_cav=Ellipsoid(
                (0.2 * s, -0.6 * s, zb + 2.3 * la),
                (2.2 * s * la, 2.0 * s * la, 2.5 * la),
                zmin=zb + 0.25,
            ),
            ra_cav=Ellipsoid((-4.3 * s, 0.0, zb + 1.8), (1.9 * s, 1.9 * s, 2.3), zmin=zb - 0.3),
            c_mv=c_mv,
            c_tv=c_tv,
            c_av=c_av,
            c_pv=c_pv,
            a_dir=a_dir,
            r_ao=r_ao,
            ao=Cylinder(tuple(c_av - 0.1 * a_dir), tuple(c_av + 5.0 * a_dir), r_ao),
            sinus=Ellipsoid(
                tuple(c_av + 0.7 * a_dir),
                (1.4 * s, 1.4 * s, 0.8),
                axes=np.stack(frame_from_axis(a_dir)),
            ),
            lvot=Cylinder(tuple(c_av - 2.3 * a_dir), tuple(c_av + 0.05 * a_dir), 1.0 * s),
            rvot=Cylinder((-1.8 * s, 3.8 * s, zb - 1.5), c_pv, 1.1 * s),
            pa=Cylinder(c_pv, (1.9 * s, 2.9 * s, zb + 3.4), 1.05 * s),
            mv_ring=Cylinder((c_mv[0], c_mv[1], zb - 0.4), (c_mv[0], c_mv[1], zb + 0.45), 1.45 * s),
            tv_ring=Cylinder((c_tv[0], c_tv[1], zb - 0.9), (c_tv[0], c_tv[1], zb + 0.1), 1.3 * s),
            papillary=(
                Ellipsoid((1.45 * s, 1.2 * s, zc - 1.4), (0.5, 0.5, 1.3)),
                Ellipsoid((1.05 * s, -1.6 * s, zc - 1.4), (0.5, 0.5, 1.3)),
            ),
        )


def _layers(g: _Geometry, p: HeartParams, fat: bool) -> list[tuple[str, Solid]]:
    """(material, shape) in painting order: a later shape paints over an earlier one."""
    zb, f = g.zb, p.fat
    fat_shells: list[tuple[str, Solid]] = [
        ("fat", g.lv_out.grown(0.2 + f, zmax=zb + 0.3 + f)),
        ("fat", g.rv_out.grown(0.2 + f)),
        ("fat", g.la_cav.grown(0.2 + 0.4 * f, zmin=zb - 0.1)),
        ("fat", g.ra_cav.grown(0.2 + 0.4 * f, zmin=zb - 0.6)),
    ]
    return [
        *(fat_shells if fat else []),
        ("peri", g.lv_out.grown(0.2 + p.effusion, zmax=zb + 0.3)),
        ("peri", g.rv_out.grown(0.2 + p.effusion)),
        *(
            [
                ("blood", g.lv_out.grown(p.effusion, zmax=zb)),
                ("blood", g.rv_out.grown(p.effusion)),
            ]
            if p.effusion > 0
            else []
        ),  # the effusion: dark fluid in the pericardial sac
        ("myo", g.lv_out),
        ("myo", g.rv_out),
        ("wall", g.la_cav.grown(0.2, zmin=zb - 0.1)),
        ("wall", g.ra_cav.grown(0.2, zmin=zb - 0.6)),
        ("wall", g.ao.grown(0.3)),
        ("wall", g.sinus.grown(0.3)),
        ("wall", g.rvot.grown(0.3)),
        ("wall", g.pa.grown(0.25)),
        ("blood", g.lv_cav),
        ("blood", g.rv_cav),
        ("blood", g.mv_ring),
        ("blood", g.tv_ring),
        *(("blood", _outside_aortic_root(g, atrium)) for atrium in (g.la_cav, g.ra_cav)),
        ("blood", g.lvot),
        ("blood", g.ao),
        ("blood", g.sinus),
        ("blood", g.rvot),
        ("blood", g.pa),
        *(("myo", pap) for pap in g.papillary),
    ]


def _outside_aortic_root(g: _Geometry, cavity: Solid) -> Solid:
    """``cavity`` where it does not cut into the aortic root's wall (the atria wrap around
    the root; their blood must not open it)."""
    return Difference(Difference(cavity, g.ao.grown(0.3)), g.sinus.grown(0.3))


def _valves(g: _Geometry) -> list[tuple[str, Valve]]:
    """The four valves, each tagged with the cycle timing it follows (mitral or aortic)."""
    s, r_ao = g.s, g.r_ao
    return [
        ("mitral", Valve(g.c_mv, (0, 0, -1), (1.55 * s, 1.2 * s), length=1.05)),
        ("mitral", Valve(g.c_tv, (0.15, 0, -1), (1.35 * s, 1.25 * s), length=1.05)),
        (
            "aortic",
            Valve(
                tuple(g.c_av),
                tuple(g.a_dir),
                (r_ao, r_ao),
                closed=-0.3,
                open=1.3,
                length=1.0,
                cusps=3,
            ),
        ),
        (
            "aortic",
            Valve(
                g.c_pv,
                tuple(unit(np.subtract(g.pa.p1, g.c_pv))),
                (1.05 * s, 1.05 * s),
                closed=-0.3,
                open=1.3,
                length=1.0,
            ),
        ),
    ]


def _texture_waves(seed: int) -> tuple[Arr, Arr]:
    """Six random plane waves (wave vectors, phases) for :meth:`Heart.texture`."""
    wave_rng = np.random.default_rng(seed)
    k = wave_rng.normal(size=(6, 3))
    k *= (2 * np.pi / wave_rng.uniform(0.8, 3.0, size=6) / np.linalg.norm(k, axis=1))[:, None]
    return k.astype(np.float32), wave_rng.uniform(0, 2 * np.pi, 6).astype(np.float32)


class Heart:
    """The heart of one patient; ``landmarks`` hold the points views aim at."""

    def __init__(
        self,
        p: HeartParams,
        *,
        fat: bool = True,
        texture: bool = True,
        pathology: bool = True,
        extra: ExtraAnatomy | None = None,
        off: frozenset[str] = frozenset(),
    ) -> None:
        """``extra``: the moderator band, coronary sinus and descending aorta
        (``anatomy_extra``), each left out when named in ``off``; None: none of them."""
        if not pathology:
            p = replace(p, effusion=0.0, rv_dilation=1.0)
        self.p = p
        self._textured = texture
        g = _Geometry.of(p)
        self.z_base = g.zb
        self.z_top = g.zb + 5.5
        under, over = extra_layers(g, p, extra, off) if extra is not None else ([], [])
        self.structures: list[tuple[str, Solid]] = [*under, *_layers(g, p, fat), *over]
        self.valves: list[tuple[str, Valve]] = _valves(g)
        self.landmarks = {
            "apex": np.array([0.0, 0.0, 0.0]),
            "mitral": np.array(g.c_mv),
            "tricuspid": np.array(g.c_tv),
            "aortic": g.c_av,
            "aortic_dir": g.a_dir,
            "pulmonary": np.array(g.c_pv),
            "centre": np.array([-1.0 * g.s, 0.0, g.zc]),
        }
        self._echo = {material: getattr(p, f"echo_{material}") for material in MATERIALS}
        self._waves = _texture_waves(p.texture_seed)

    def texture(self, x: Arr, y: Arr, z: Arr) -> Arr:
        """A slow, tissue-attached brightness factor (log-normal, ``texture_db`` std): real
        myocardium is blotchy grey, not a uniform band. Evaluated at reference points."""
        k, phase = self._waves
        acc = np.zeros(x.shape, dtype=np.float32)
        for i in range(len(phase)):
            acc += np.sin(k[i, 0] * x + k[i, 1] * y + k[i, 2] * z + phase[i])
        sigma = self.p.texture_db / 20.0 * np.log(10.0) / np.sqrt(len(phase) / 2.0)
        return np.exp(sigma * acc).astype(np.float32)

    def to_reference(self, x: Arr, y: Arr, z: Arr, st: CardiacState) -> tuple[Arr, Arr, Arr]:
        """Map current positions to end-diastolic ones (inverse of the heart's motion).

        Long axis: the base descends towards the fixed apex in systole (atria stretch).
        Radial: area-preserving contraction around the LV axis, so walls thicken.
        """
        zb, zt = self.z_base, self.z_top
        a = self.p.shortening * st.contraction
        lower = z <= zb - a
        z0 = np.where(
            lower,
            z * (zb / (zb - a)),
            np.where(z <= zt, zb + (z - (zb - a)) * ((zt - zb) / (zt - zb + a)), z),
        )
        k = self.p.contraction * st.contraction * self.p.lv_radius**2
        weight = np.clip((zb + 1.0 - z0) / 2.0, 0.0, 1.0)
        rho2 = x * x + y * y
        rho02 = rho2 + k * weight * np.exp(-rho2 / 36.0)
        f = np.sqrt(rho02 / np.maximum(rho2, 1e-6))
        return (x * f).astype(np.float32), (y * f).astype(np.float32), z0.astype(np.float32)

    def cull(self, x: Arr, y: Arr, z: Arr, margin: float = 2.2) -> list[Arr | None]:
        """For each structure then valve, the flat indices of the points (current positions)
        that can reach it while the heart moves ``margin`` cm; painting only visits those."""
        out: list[Arr | None] = []
        xf, yf, zf = x.ravel(), y.ravel(), z.ravel()
        shapes: list[Solid] = [s for _, s in self.structures] + [v for _, v in self.valves]
        for shape in shapes:
            lo, hi = shape.bounds()
            lo, hi = lo - margin, hi + margin
            m = (xf >= lo[0]) & (xf <= hi[0]) & (yf >= lo[1]) & (yf <= hi[1])
            m &= (zf >= lo[2]) & (zf <= hi[2])
            out.append(np.flatnonzero(m))
        return out

    def paint(
        self, x: Arr, y: Arr, z: Arr, st: CardiacState, cull: list[Arr | None] | None = None
    ) -> tuple[Arr, Arr, Arr, Arr]:
        """Echogenicity (myocardium ≈ 1, 0 outside the heart), a tissue mask (False in blood),
        the heart mask and the acoustic impedance (0 outside the heart) at reference points;
        ``cull`` from :meth:`cull` skips far points."""
        shape0 = x.shape
        xf, yf, zf = x.ravel(), y.ravel(), z.ravel()
        echo = np.zeros(xf.shape, dtype=np.float32)
        imp = np.zeros(xf.shape, dtype=np.float32)
        tissue = np.ones(xf.shape, dtype=bool)
        heart = np.zeros(xf.shape, dtype=bool)
        items: list[tuple[str, Solid]] = list(self.structures)
        for kind, valve in self.valves:
            items.append(("valve", valve.at(st.mitral if kind == "mitral" else st.aortic)))
        for k, (material, shape) in enumerate(items):
            idx = cull[k] if cull is not None else None
            if idx is None:
                m = np.flatnonzero(shape.inside(xf, yf, zf))
            elif idx.size == 0:
                continue
            else:
                m = idx[shape.inside(xf[idx], yf[idx], zf[idx])]
            echo[m] = self._echo[material]
            imp[m] = IMPEDANCE[material]
            tissue[m] = material != "blood"
            heart[m] = True
        if self._textured:
            solid = tissue & heart
            echo[solid] *= self.texture(xf[solid], yf[solid], zf[solid])
        return (
            echo.reshape(shape0),
            tissue.reshape(shape0),
            heart.reshape(shape0),
            imp.reshape(shape0),
        )
