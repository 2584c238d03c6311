"""Render one cine: patient + view + vendor + seed → screen frames with per-frame labels.

Everything random comes from numpy Generators seeded from (seed, patient) for the patient and
(seed, patient, view, sweep) for the cine, so the same spec gives the same pixels.

Example::

    cine = render_cine(CineSpec(seed=1, patient=0, view="A4C", vendor="epiq7g",
                                size=(640, 480), n_frames=8))
    cine.frames[0].shape, cine.fps, cine.labels[:3], cine.region
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from echostream.stream.views import VIEWS

from .body import body_maps
from .cine_extras import APICAL, CineExtras, cine_extras_rng, foreshorten, patient_anatomy
from .display import DISPLAY_KINDS, Display, DisplayMode
from .frames import Breathing, FrameImager, Scanner
from .heart import Heart, HeartParams
from .other_cardiac import cardiac_pose, pa_branches
from .other_families import OtherDraw, draw_other
from .other_probe import Probe, ProbeScreen
from .physics import DEPTH_RANGE, DEPTH_RANGE_DEFAULT, Acquisition, BeamImager
from .poses import OTHER, Pose, blend, valve_depth, view_pose
from .vendors import VENDORS, Screen, ScreenText

Arr = np.ndarray
ALL_VIEWS = (*VIEWS, OTHER)
# What makes the simulator look like real echo; each can be switched off to measure what it
# does (``CineSpec.ablate``, ``echostream simulate --ablate``): the random draws stay the same,
# only the feature's effect is dropped, so ablated and full datasets pair cine for cine.
REALISM_FEATURES = (
    "specular",  # mirror-like echoes at impedance jumps facing the beam (physics.specular)
    "anisotropy",  # walls crossing the beam brighter than walls along it (physics.anisotropy)
    "lung",  # air-filled lung beside/behind the heart: black, bright-edged (body._lung_mask)
    "fat",  # epicardial fat / mediastinal tissue around the heart (heart.Heart)
    "texture",  # blotchy, tissue-attached brightness of the walls (Heart.texture)
    "blotch",  # patches of poor penetration over the sector (body.body_maps)
    "display",  # darker grey map: myocardium mid-grey, specular echoes white (top_db)
    "aim",  # A4C/A5C aimed along the septum so the RV is in the sector (poses.view_pose)
    "framing",  # depth by window (LV-focused apical views, valves kept in), 68-92° sectors
    "pathology",  # pericardial effusions and dilated right ventricles (heart.HeartParams)
    # issue 13, each drawn from its own stream (cine_extras): off leaves other pixels alone
    "moderator_band",  # bright band across the RV's apical third (anatomy_extra)
    "coronary_sinus",  # round echolucent tube in the posterior AV groove (anatomy_extra)
    "descending_aorta",  # round vessel with a bright wall behind the LA (anatomy_extra)
    "fibrous_skeleton",  # bright crux and AV annuli at the septum's base (anatomy_extra)
    "smoke",  # faint swirling clutter moving with the blood, none to moderate (smoke)
    "foreshortening",  # apical probe too high: short, round LV in 30 % of them (cine_extras)
    "letterbox",  # the screen in a black frame of another aspect ratio, 10 % (display)
    "echonet",  # sector cropped to a square, 112×112, no UI, 6 % (display)
    "colour_flow",  # a colour Doppler box with red/blue mosaic, 4 % (colour)
    "surroundings",  # the tissue around the heart as grey as the myocardium, 50 % (body)
    # issue 17: OTHER cines of IVC, lung, other cardiac planes and abdominal textures
    # (other_families); off: every OTHER cine is an off-axis plane, as before
    "other_families",
)
# Sweeps stay inside one acoustic window; SUB4C has no neighbour there and does not sweep.
SWEEP_PARTNER = {
    "A4C": "A5C",
    "A5C": "A4C",
    "A3C": "A2C",
    "A2C": "A3C",
    "SAXMID": "SAXBASAL",
    "SAXBASAL": "SAXMID",
    "PLAX": "SAXBASAL",
}
FIRST = (
    "JANE",
    "JOHN",
    "MARIA",
    "AHMED",
    "LENA",
    "PIOTR",
    "AIKO",
    "CARLOS",
    "NOOR",
    "OLGA",
    "SAMUEL",
    "INGRID",
    "KOFI",
    "MEI",
    "LUCAS",
    "FATIMA",
)
LAST = (
    "DOE",
    "ROE",
    "TESTER",
    "SAMPLE",
    "EXAMPLE",
    "PHANTOM",
    "DUMMY",
    "MOCK",
    "SYNTH",
    "FAKESON",
    "NOBODY",
    "PLACEHOLDER",
)


@dataclass(frozen=True)
class CineSpec:
    seed: int
    patient: int
    view: str
    vendor: str
    size: tuple[int, int] | None = None  # screen (width, height); None: the vendor's own
    n_frames: int | None = None  # None: one heartbeat, 30-60 frames
    sweep: bool = False
    n_samples: int = 384
    n_beams: int = 128
    quality: float | None = None  # acoustic window 0 (poor) … 1 (excellent); None: the patient's
    wobble: float = 0.0  # sweeps: hand-held drift towards the partner view while holding (0–0.45)
    ablate: tuple[str, ...] = ()  # realism features switched off (REALISM_FEATURES), for studies
    display: str = ""  # "": drawn per cine; or one of display.DISPLAY_KINDS

    def __post_init__(self) -> None:
        if self.display and self.display not in DISPLAY_KINDS:
            raise ValueError(
                f"unknown display {self.display!r}; expected one of {', '.join(DISPLAY_KINDS)}"
            )
        if self.quality is not None and not 0.0 <= self.quality <= 1.0:
            raise ValueError(f"quality must be in [0, 1], not {self.quality}")
        if not 0.0 <= self.wobble <= 0.45:
            raise ValueError(f"wobble must be in [0, 0.45] (truth flips at 0.5), not {self.wobble}")
        bad = [f for f in self.ablate if f not in REALISM_FEATURES]
        if bad:
            raise ValueError(
                f"unknown realism feature(s) {', '.join(bad)}; known: {', '.join(REALISM_FEATURES)}"
            )
        if self.view not in ALL_VIEWS:
            raise ValueError(f"unknown view {self.view!r}; expected one of {', '.join(ALL_VIEWS)}")
        if self.vendor not in VENDORS:
            raise ValueError(
                f"unknown vendor {self.vendor!r}; expected one of {', '.join(VENDORS)}"
            )
        if self.n_frames is not None and self.n_frames < 1:
            raise ValueError(f"n_frames must be ≥ 1, not {self.n_frames}")
        if self.size is not None and (self.size[0] < 64 or self.size[1] < 48):
            raise ValueError(f"size {self.size[0]}x{self.size[1]} is too small (min 64x48)")


@dataclass(frozen=True)
class Patient:
    """Per-patient facts: anatomy, heart rate, image quality, fake identity."""

    index: int
    heart: HeartParams
    scale: float
    hr: float
    quality: float
    name: str
    patient_id: str
    birth_date: str
    study_date: str
    study_time: str


def make_patient(seed: int, index: int) -> Patient:
    rng = np.random.default_rng([seed, index, 7919])
    year = int(rng.integers(2012, 2023))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    return Patient(
        index=index,
        heart=HeartParams.sample(rng),
        scale=float(rng.uniform(0.85, 1.15)),
        hr=float(rng.uniform(50, 110)),
        quality=float(rng.beta(2.5, 2.0)),
        name=f"{LAST[int(rng.integers(len(LAST)))]}^{FIRST[int(rng.integers(len(FIRST)))]}",
        patient_id=f"SIM{int(rng.integers(10**6, 10**7))}",
        birth_date=f"{int(rng.integers(1935, 2004))}{int(rng.integers(1, 13)):02d}"
        f"{int(rng.integers(1, 29)):02d}",
        study_date=f"{year}{month:02d}{day:02d}",
        study_time=f"{int(rng.integers(7, 19)):02d}{int(rng.integers(0, 60)):02d}"
        f"{int(rng.integers(0, 60)):02d}",
    )


@dataclass
class Cine:
    frames: list[Arr]  # (H, W, 3) uint8 screens
    fps: float
    labels: list[str]  # ground-truth view per frame
    region: tuple[int, int, int, int]  # sector bounding box x0, y0, x1, y1 (exclusive)
    px_per_cm: float
    apex_y: int
    hr: float
    patient: Patient
    info: Mapping[str, object] = field(default_factory=dict)
    moving: list[bool] = field(default_factory=list)  # per frame: the probe is between views


def sweep_weight(i: int, n: int) -> float:
    """How far a sweep cine's probe is from its view (0) towards the partner view (1).

    The probe holds at the view, moves over 10 % of the cine, holds at the partner, and moves
    back: holds of 25 %, 30 % and 25 %, transits smoothed with a raised cosine. Frames with
    0 < w < 1 are transit frames (no steady view).

    >>> [round(sweep_weight(i, 21), 2) for i in (0, 5, 6, 7, 10, 15, 20)]
    [0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.0]
    """
    p = i / max(n - 1, 1)
    if p < 0.25 or p >= 0.75:
        return 0.0
    if 0.35 <= p < 0.65:
        return 1.0
    s = (p - 0.25) / 0.1 if p < 0.35 else (0.75 - p) / 0.1  # 0 → 1 along the transit
    return round(float(0.5 * (1 - np.cos(np.pi * s))), 9)


def hand_wobble(spec: CineSpec, n: int, fps: float) -> Arr:
    """Per-frame drift (0 … ``spec.wobble``) of a hand-held probe towards the partner view while
    it holds a view: three slow sines (0.2–1.5 Hz) squared, so the plane mostly sits near the
    view and now and then leans towards the neighbour, never past the halfway point (the truth
    stays the held view). Its own random stream: other draws do not change with ``wobble``.

    >>> spec = CineSpec(seed=0, patient=0, view="A4C", vendor="epiq7g", sweep=True, wobble=0.3)
    >>> w = hand_wobble(spec, 200, 50.0)
    >>> bool(w.min() >= 0.0 and w.max() <= 0.3)
    True
    """
    if spec.wobble <= 0:
        return np.zeros(n)
    rng = np.random.default_rng([spec.seed, spec.patient, ALL_VIEWS.index(spec.view) + 1, 77])
    t = np.arange(n) / fps
    f = rng.uniform(0.2, 1.5, size=3)
    ph = rng.uniform(0, 2 * np.pi, size=3)
    s = np.mean(np.sin(2 * np.pi * f[:, None] * t[None] + ph[:, None]), axis=0)  # (n,) in -1…1
    return spec.wobble * ((s + 1) / 2) ** 2


def _cine_rng(spec: CineSpec) -> np.random.Generator:
    return np.random.default_rng(
        [spec.seed, spec.patient, ALL_VIEWS.index(spec.view) + 1, int(spec.sweep)]
    )


def other_draw(spec: CineSpec) -> OtherDraw | None:
    """The family of an OTHER cine (``other_families``); None for the 8 views, and for every
    cine when ``other_families`` is ablated (then OTHER is the first simulator's off-axis)."""
    if spec.view != OTHER or "other_families" in spec.ablate:
        return None
    return draw_other(spec.seed, spec.patient, spec.sweep)


def render_cine(spec: CineSpec) -> Cine:
    """Render all frames of ``spec`` (see the module docstring)."""
    other = other_draw(spec)
    if other is not None and not other.heart_plane:
        from .other_render import render_phantom_cine

        return render_phantom_cine(spec, other)
    patient = make_patient(spec.seed, spec.patient)
    rng = _cine_rng(spec)  # every draw below comes from it, in this order
    off = set(spec.ablate)
    extras = CineExtras.sample(
        cine_extras_rng(spec.seed, spec.patient, ALL_VIEWS.index(spec.view) + 1, spec.sweep)
    )
    heart = Heart(
        patient.heart,
        fat="fat" not in off,
        texture="texture" not in off,
        pathology="pathology" not in off,
        extra=patient_anatomy(spec.seed, spec.patient),
        off=frozenset(off),
    )
    hr = float(np.clip(patient.hr + rng.normal(0, 4), 45, 115))
    fps = float(rng.integers(30, 81))  # scanners report whole frame rates
    n = spec.n_frames or int(np.clip(round(fps * 60 / hr), 30, 60))
    before_scanner = copy.deepcopy(rng)
    scanner, quality = _set_up_scanner(spec, patient, hr, fps, rng, off, extras)
    pose, pose_b, partner, info = _draw_poses(spec, heart, rng, off, other)
    planes = [(spec.view, pose)] + ([(partner, pose_b)] if partner and pose_b is not None else [])
    # the valves' depth before foreshortening (it pivots about them), in scanner cm
    need_cm = 0.0 if "framing" in off else valve_depth(heart, *planes) * patient.scale
    if need_cm > scanner.acq.depth_cm:  # too shallow: the same draws, the depth's range raised
        scanner, quality = _set_up_scanner(spec, patient, hr, fps, before_scanner, off, extras,
                                           min_depth_cm=need_cm)  # fmt: skip
    short = extras.foreshorten_deg if "foreshortening" not in off else 0.0
    if spec.view in APICAL:  # the probe too high for the whole cine (sweeps stay apical)
        pose = foreshorten(pose, heart, short)
        pose_b = foreshorten(pose_b, heart, short) if pose_b is not None else None
    t0 = rng.uniform(0, 60.0 / hr)
    breathing = Breathing.sample(rng)
    frame_rng = np.random.default_rng(rng.integers(2**63))
    imager = FrameImager(heart, patient.scale, hr, scanner, breathing, frame_rng, off, extras)

    frames: list[Arr] = []
    labels: list[str] = []
    moving: list[bool] = []
    wobble = hand_wobble(spec, n, fps)
    for i in range(n):
        w = sweep_weight(i, n) if pose_b is not None else 0.0  # 0: at the view, 1: the partner
        cur = pose if pose_b is None else blend(pose, pose_b, _hand_weight(w, wobble[i]))
        labels.append(spec.view if w <= 0.5 else str(partner))
        moving.append(0.0 < w < 1.0)
        frames.append(imager.frame(cur, t0 + i / fps))
    acq, display = scanner.acq, scanner.display
    info.update(
        depth_cm=acq.depth_cm,
        sector_deg=acq.sector_deg,
        quality=quality,
        f0_mhz=acq.f0_mhz,
        dynamic_range_db=acq.dynamic_range_db,
        sweep_partner=partner or "",
        display=display.mode.kind,
        foreshorten_deg=short if spec.view in APICAL else 0.0,
        valve_depth_cm=need_cm,
        smoke_level=imager.smoke.p.level if imager.smoke is not None else 0.0,
        colour_flow=imager.colour is not None,
    )
    return Cine(
        frames,
        fps,
        labels,
        display.region,
        display.px_per_cm,
        int(display.apex_y),
        hr,
        patient,
        info,
        moving,
    )


def _draw_poses(
    spec: CineSpec,
    heart: Heart,
    rng: np.random.Generator,
    off: set[str],
    other: OtherDraw | None,
) -> tuple[Pose, Pose | None, str | None, dict[str, float | str]]:
    """The cine's plane, its sweep partner's plane and view (None: no sweep), and the drawn
    parameters."""
    if other is not None and other.kind != "off_axis":  # RV inflow, PA bifurcation
        if other.kind == "pa_bifurcation":
            heart.structures.extend(pa_branches(heart, np.random.default_rng(other.detail)))
        pose, info = cardiac_pose(other.kind, heart, rng)
    else:
        pose, info = view_pose(spec.view, heart, rng, aim="aim" not in off)
    if other is not None:
        info.update(other_family=other.family, other_kind=other.kind)
    partner = SWEEP_PARTNER.get(spec.view) if spec.sweep else None
    pose_b = view_pose(partner, heart, rng, aim="aim" not in off)[0] if partner else None
    return pose, pose_b, partner, info


def _hand_weight(w: float, drift: float) -> float:
    """The sweep weight with the hand's drift: holding a view (``w`` 0 or 1), the hand drifts
    ``drift`` towards the other one; transits are left alone."""
    return w + drift if w == 0.0 else w - drift if w == 1.0 else w


def _set_up_scanner(
    spec: CineSpec,
    patient: Patient,
    hr: float,
    fps: float,
    rng: np.random.Generator,
    off: set[str],
    extras: CineExtras,
    probe: Probe | None = None,
    *,
    min_depth_cm: float = 0.0,
) -> tuple[Scanner, float]:
    """The cine's acquisition, beam imager, body maps and screen, and its window quality;
    ``probe``: an OTHER family's probe (its depths, fan and frequency; no lung mask);
    ``min_depth_cm``: the least depth that shows the view's valves."""
    style = VENDORS[spec.vendor]
    acq = Acquisition.sample(
        rng,
        depth_range=probe.depth_range if probe else DEPTH_RANGE.get(spec.view, DEPTH_RANGE_DEFAULT),
        min_depth_cm=min_depth_cm,
        n_samples=spec.n_samples,
        n_beams=spec.n_beams,
    )
    if probe is None:
        acq = _ablate_acquisition(acq, off)
    else:  # the framing ablation is about the views' depths and sectors
        acq = probe.acquisition(_ablate_acquisition(acq, off - {"framing"}))
    imager = BeamImager(acq, rng)
    quality = float(np.clip(patient.quality + rng.normal(0, 0.1), 0, 1))  # drawn either way
    if spec.quality is not None:  # same random stream, only the window quality overridden
        quality = float(spec.quality)
    lung = "lung" not in off and probe is None  # the phantoms draw their own lung
    surround = extras.surround if "surroundings" not in off and probe is None else 0.0
    body = body_maps(
        acq, spec.view, rng, quality, lung=lung, blotch="blotch" not in off, surround=surround
    )
    text = ScreenText(
        institution=str(rng.choice(["ECHOSTREAM GENERAL", "SIM HEART CENTRE", "TEST CLINIC"])),
        patient=patient.name.replace("^", ", "),
        patient_id=patient.patient_id,
        date=f"{patient.study_date[6:]}/{patient.study_date[4:6]}/{patient.study_date[:4]}",
        time=f"{patient.study_time[:2]}:{patient.study_time[2:4]}:{patient.study_time[4:]}",
        probe=str(rng.choice(style.probes)),
        fps=fps,
        gain_pct=int(50 + 3 * acq.gain_db + rng.integers(-5, 6)),
        power=str(rng.choice(["Low", "Med", "Gen", "Pen"])),
        preset=str(rng.choice(["Adult Echo", "Adult Cardiac", "Cardiac"])),
    )
    mode = _display_mode(spec, extras.display, off)
    outer = spec.size or style.size
    size = mode.screen_size(outer)
    screen = (
        Screen(style, acq, text, size=size, hr=hr)
        if probe is None
        else ProbeScreen(style, acq, text, probe=probe, size=size, hr=hr)
    )
    return Scanner(acq, imager, body, screen, Display(mode, screen, outer)), quality


def _display_mode(spec: CineSpec, drawn: DisplayMode, off: set[str]) -> DisplayMode:
    """The drawn display mode, or the one ``spec.display`` asks for; an ablated kind shows
    the plain screen."""
    from dataclasses import replace

    mode = replace(drawn, kind=spec.display) if spec.display else drawn
    return replace(mode, kind="screen") if mode.kind in off else mode


def _ablate_acquisition(acq: Acquisition, off: set[str]) -> Acquisition:
    """The settings without the ablated features: the first simulator's display (white at
    22 dB) and framing (13-19 cm, 75-90°, mapped from the same random draws)."""
    from dataclasses import replace

    if "display" in off:
        acq = replace(acq, top_db=22.0)
    if "framing" in off:
        lo, hi = DEPTH_RANGE_DEFAULT
        u = (acq.depth_cm - lo) / (hi - lo) if acq.depth_cm <= hi else 1.0
        acq = replace(
            acq,
            depth_cm=13.0 + 6.0 * float(np.clip(u, 0, 1)),
            sector_deg=75.0 + 15.0 * (acq.sector_deg - 68.0) / 24.0,
        )
    return acq
