"""The issue-13 realism features: moderator band, coronary sinus, descending aorta, fibrous
skeleton (crux and AV annuli), blood smoke, foreshortened apex, letterbox / EchoNet-style
display, colour flow and grey tissue around the heart. Each is drawn per cine (or patient)
from its own random stream, deterministic per seed, can be switched off without touching other
pixels, and shows where real echo shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from echostream.train.simulator import cine as cine_module
from echostream.train.simulator.cine import ALL_VIEWS, Cine, CineSpec, make_patient, render_cine
from echostream.train.simulator.cine_extras import (
    CineExtras,
    cine_extras_rng,
    foreshorten,
    patient_anatomy,
)
from echostream.train.simulator.heart import Heart, HeartParams
from echostream.train.simulator.physics import DEPTH_RANGE_DEFAULT, Acquisition
from echostream.train.simulator.poses import VIEW_VALVES, Pose, valve_depth, view_pose

SEED, SIZE = 4, (240, 180)
NEW = (
    "moderator_band",
    "coronary_sinus",
    "descending_aorta",
    "fibrous_skeleton",
    "smoke",
    "foreshortening",
    "letterbox",
    "echonet",
    "colour_flow",
    "surroundings",
)
# where each shows: a view, and which cines draw it (None: every patient has the structure)
CASES: dict[str, tuple[str, Callable[[CineExtras], bool] | None]] = {
    "moderator_band": ("A4C", None),
    "coronary_sinus": ("A4C", None),
    "descending_aorta": ("PLAX", None),
    "fibrous_skeleton": ("A4C", None),
    "smoke": ("A4C", lambda e: e.smoke.level > 0.005),
    "foreshortening": ("A2C", lambda e: e.foreshorten_deg != 0.0),
    "letterbox": ("A4C", lambda e: e.display.kind == "letterbox"),
    "echonet": ("A4C", lambda e: e.display.kind == "echonet"),
    "colour_flow": ("A4C", lambda e: e.colour.on),
    "surroundings": ("A4C", lambda e: e.surround > 0),
}


def extras(patient: int, view: str, seed: int = SEED) -> CineExtras:
    return CineExtras.sample(cine_extras_rng(seed, patient, ALL_VIEWS.index(view) + 1, False))


def drawn(feature: str, n: int = 3) -> list[int]:
    """The first ``n`` patients whose cine of the feature's view draws it."""
    view, wanted = CASES[feature]
    out = [p for p in range(400) if wanted is None or wanted(extras(p, view))]
    return out[:n]


def spec(patient: int, view: str, **kw: object) -> CineSpec:
    base = dict(seed=SEED, patient=patient, view=view, vendor="epiq7g", size=SIZE, n_frames=3)
    return CineSpec(**{**base, "display": "screen", **kw})


def pair(feature: str, patient: int, **kw: object) -> tuple[np.ndarray, np.ndarray, Cine]:
    """(frame with the feature, frame without it, the full cine) of the feature's view."""
    s = spec(patient, CASES[feature][0], **kw)
    full = render_cine(s)
    off = render_cine(replace(s, ablate=(feature,)))
    assert (off.fps, off.hr, off.labels, off.patient) == (
        full.fps,
        full.hr,
        full.labels,
        full.patient,
    )
    return full.frames[2].astype(int), off.frames[2].astype(int), full


@pytest.mark.parametrize("feature", NEW)
def test_switching_a_feature_off_changes_only_what_it_does(feature: str) -> None:
    """Off: the same cine otherwise (same draws); the feature's pixels change in some of the
    cines that draw it; outside the fan (text, ECG) nothing changes unless it is a display
    mode or colour flow (whose colour bar sits in the text column)."""
    display = "" if feature in ("letterbox", "echonet") else "screen"
    changed = []
    for patient in drawn(feature):
        on, off, full = pair(feature, patient, display=display)
        if on.shape == off.shape:
            changed.append(int((np.abs(on - off).sum(-1) > 30).sum()))
        else:
            changed.append(on.size)
        if feature not in ("letterbox", "echonet", "colour_flow"):
            x0, y0, x1, y1 = full.region
            outside = np.ones(on.shape[:2], bool)
            outside[y0:y1, x0:x1] = False
            assert np.array_equal(on[outside], off[outside])
    assert max(changed) > 40, (feature, changed)


def test_new_features_draw_from_their_own_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every issue-13 feature off, the pixels do not depend on their draws (the first
    simulator's cines are unchanged); with them on, the same spec gives the same pixels."""
    s = replace(spec(drawn("smoke")[0], "A4C"), ablate=NEW)
    before = render_cine(s).frames
    monkeypatch.setattr(
        cine_module, "cine_extras_rng", lambda *a: np.random.default_rng([99, *map(int, a)])
    )
    monkeypatch.setattr(
        cine_module, "patient_anatomy", lambda seed, p: patient_anatomy(seed + 9, p)
    )
    after = render_cine(s).frames
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    monkeypatch.undo()
    full = replace(s, ablate=())
    assert all(
        np.array_equal(a, b)
        for a, b in zip(render_cine(full).frames, render_cine(full).frames, strict=True)
    )
    assert extras(5, "A4C") == extras(5, "A4C") != extras(5, "A4C", seed=SEED + 1)


def _component(mask: np.ndarray) -> np.ndarray:
    """The largest connected part of ``mask`` after a small opening."""
    mask = ndimage.binary_opening(mask, iterations=1)
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    return labels == 1 + int(np.argmax(sizes))


def test_descending_aorta_is_a_dark_circle_behind_the_left_atrium_in_plax() -> None:
    """Where the aorta appears (the pixels it changes: lumen, bright wall, tissue around it),
    the middle of that disc is darker than its rim, and it lies deep in the sector on the
    atrial (right) side of a parasternal long-axis screen."""
    seen = 0
    for patient in range(6):
        on, off, full = pair("descending_aorta", patient)
        vessel = _component(ndimage.binary_closing(np.abs(on - off).sum(-1) > 60, iterations=2))
        r_px = patient_anatomy(SEED, patient).aorta_radius * make_patient(SEED, patient).scale
        r_px *= full.px_per_cm
        if vessel.sum() < 0.5 * np.pi * r_px**2:
            continue
        cy, cx = ndimage.center_of_mass(vessel)
        x0, y0, x1, y1 = full.region
        if np.hypot(cy - full.apex_y, cx - 0.5 * (x0 + x1)) + 1.8 * r_px > y1 - full.apex_y:
            continue  # cut by the sector's far edge
        seen += 1
        yy, xx = np.mgrid[0 : on.shape[0], 0 : on.shape[1]]
        dist = np.hypot(yy - cy, xx - cx)
        grey = on.mean(-1)
        lumen, rim = dist < 0.5 * r_px, (dist > 1.15 * r_px) & (dist < 1.8 * r_px)
        assert grey[lumen].mean() < 0.6 * grey[rim].mean(), patient
        assert cy > y0 + 0.45 * (y1 - y0), patient  # deep: behind the heart
        assert cx > 0.5 * (x0 + x1) - 0.1 * (x1 - x0), patient  # the atrial side
    assert seen >= 3


def test_moderator_band_crosses_the_right_ventricle_near_the_apex() -> None:
    """A4C: the band brightens the RV cavity (screen left) in the upper part of the sector."""
    seen = 0
    for patient in range(6):
        on, off, full = pair("moderator_band", patient)
        band = _component((on - off).sum(-1) > 60)
        if band.sum() < 30:
            continue
        seen += 1
        ys, xs = np.nonzero(band)
        x0, y0, x1, y1 = full.region
        assert xs.mean() < 0.5 * (x0 + x1), patient  # the RV side
        assert ys.mean() < y0 + 0.6 * (y1 - y0), patient  # the apical part
    assert seen >= 3


def test_coronary_sinus_is_a_small_dark_tube_at_the_av_groove() -> None:
    seen = 0
    for view in ("A4C", "A2C"):
        for patient in range(4):
            s = spec(patient, view)
            on = render_cine(s).frames[2].astype(int)
            off_cine = render_cine(replace(s, ablate=("coronary_sinus",)))
            lumen = _component((off_cine.frames[2].astype(int) - on).sum(-1) > 60)
            if lumen.sum() < 15:
                continue
            seen += 1
            x0, y0, x1, y1 = off_cine.region
            assert lumen.sum() < 0.03 * (x1 - x0) * (y1 - y0)  # small
            ys, _ = np.nonzero(lumen)
            assert y0 + 0.35 * (y1 - y0) < ys.mean() < y1, (view, patient)  # the valves' level
    assert seen >= 2


def test_fibrous_crux_brightens_the_septums_base_in_four_chamber_views() -> None:
    """A4C: the crux and annuli only brighten (never darken) the frame, as a band at the
    valves' level, mid-depth, away from the sector's edges (where the septum meets
    the AV plane), not near the apex."""
    seen = 0
    for patient in range(4):
        on, off, full = pair("fibrous_skeleton", patient)
        diff = (on - off).sum(-1)
        bright = _component(diff > 60)
        if bright.sum() < 30:
            continue
        seen += 1
        assert (diff > 60).sum() > 10 * (diff < -60).sum(), patient
        ys, xs = np.nonzero(bright)
        x0, y0, x1, y1 = full.region
        assert y0 + 0.35 * (y1 - y0) < ys.mean() < y1, patient
        assert abs(xs.mean() - 0.5 * (x0 + x1)) < 0.35 * (x1 - x0), patient
    assert seen >= 3


def test_smoke_fills_the_blood_faintly_and_moves_with_it() -> None:
    """Smoke brightens the chambers but stays far below the myocardium, and its pattern
    persists from frame to frame (attached to moving blood), unlike blood's own speckle."""
    patient = drawn("smoke")[0]
    s = spec(patient, "A4C", n_frames=4)
    on = np.stack(render_cine(s).frames).astype(float).mean(-1)
    off = np.stack(render_cine(replace(s, ablate=("smoke",))).frames).astype(float).mean(-1)
    blood = (np.abs(on - off).mean(0) > 4) & (off.mean(0) < 60)
    assert blood.sum() > 200
    assert on[:, blood].mean() > off[:, blood].mean() + 5
    assert on[:, blood].mean() < 140

    smoke = on - off
    lag1 = float(np.corrcoef(smoke[1][blood], smoke[2][blood])[0, 1])
    assert 0.15 < lag1 < 0.95  # carried along by the blood: neither fresh noise nor frozen
    levels = [extras(p, "A4C").smoke.level for p in range(300)]
    none = np.mean([lv == 0 for lv in levels])
    assert 0.3 < none < 0.6 and max(levels) <= 10 ** (-16 / 10) + 1e-9  # none … moderate


def test_foreshortened_apical_plane_shows_a_shorter_rounder_lv() -> None:
    """Turning the plane about its mitral-level point makes the LV cavity in it shorter
    along the beam, its tip further from the probe: the "probe too high" look."""
    acq = Acquisition(n_samples=160, n_beams=96, depth_cm=16.0, sector_deg=80.0)
    shorter = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        heart = Heart(HeartParams.sample(rng))
        pose, _ = view_pose("A4C", heart, rng)
        lv = next(s for m, s in heart.structures if m == "blood")  # the LV cavity
        spans = []
        for p in (pose, foreshorten(pose, heart, 12.0)):
            inside = lv.inside(*p.points(acq.radii, acq.angles))
            rows = np.flatnonzero(inside.any(axis=1))
            spans.append((acq.radii[rows[0]], acq.radii[rows[-1]] - acq.radii[rows[0]]))
        (tip, length), (tip_short, length_short) = spans
        shorter += length_short < 0.9 * length and tip_short > tip + 0.2
    assert shorter >= 5


def test_valve_depth_is_the_valves_distance_in_the_plane_plus_what_lies_beyond() -> None:
    heart = Heart(HeartParams.sample(np.random.default_rng(0)))
    av = np.asarray(heart.landmarks["aortic"], dtype=float)
    beam = Pose(av - np.array([0.0, 0.0, 7.0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))
    assert valve_depth(heart, ("A5C", beam)) == pytest.approx(7.0 + VIEW_VALVES["A5C"][1])
    assert valve_depth(heart, ("PLAX", beam)) == 0.0  # no rule for the parasternal views
    assert valve_depth(heart, ("PLAX", beam), ("A5C", beam)) == pytest.approx(9.0)


def test_apical_sectors_are_deep_enough_to_show_the_views_valves() -> None:
    """LV-focused framings used to cut off the LV outflow tract (an A5C that no model could
    tell from the other apical views): now every apical sector reaches past the view's
    valves, and the rule binds (the window's shallowest depth, 10 cm, is too shallow)."""
    needs = []
    for patient in range(6):
        for view in ("A5C", "A4C", "A2C"):
            info = render_cine(spec(patient, view, n_frames=1)).info
            assert info["depth_cm"] >= info["valve_depth_cm"], (patient, view)
            needs.append(info["valve_depth_cm"])
    assert min(needs) > 8.0 and max(needs) > DEPTH_RANGE_DEFAULT[0]


def test_apical_framings_range_from_lv_focused_to_whole_heart() -> None:
    """Real apical stills often show the whole heart, the valves near mid-depth (20-23 cm
    sectors); the simulator's apical depths reach there as well as the LV-focused framings
    with the valves deep in the sector."""
    at = []  # where the valves sit, as a fraction of the sector's depth
    for patient in range(16):
        small = dict(size=(96, 72), n_frames=1, n_samples=96, n_beams=32, vendor="epiq7g")
        cine = render_cine(CineSpec(seed=SEED, patient=patient, view="A4C", **small))
        beyond = VIEW_VALVES["A4C"][1] * cine.patient.scale
        at.append((cine.info["valve_depth_cm"] - beyond) / cine.info["depth_cm"])
    at = np.asarray(at)  # (with sectors up to 18 cm, 1 of these 16 had them above 0.6)
    assert (at < 0.6).sum() >= 4 and (at > 0.8).sum() >= 3, np.round(at, 2)


def test_letterbox_puts_the_screen_in_an_exactly_black_frame() -> None:
    for patient in range(3):
        cine = render_cine(spec(patient, "A4C", display="letterbox"))
        frame = cine.frames[1]
        assert frame.shape == (SIZE[1], SIZE[0], 3)
        lit = np.nonzero(frame.any(-1))
        top, bottom = lit[0].min(), lit[0].max() + 1
        left, right = lit[1].min(), lit[1].max() + 1
        bars = np.ones(frame.shape[:2], bool)
        bars[top:bottom, left:right] = False
        assert bars.any() and not frame[bars].any()  # the bars exist and are exactly black
        x0, y0, x1, y1 = cine.region
        assert top <= y0 < y1 <= bottom and left <= x0 < x1 <= right


def test_echonet_style_cines_are_112_square_without_ui() -> None:
    for patient in range(3):
        cine = render_cine(spec(patient, "A4C", display="echonet", vendor="ie33"))
        for frame in cine.frames:
            assert frame.shape == (112, 112, 3)
            green = (frame[..., 1] > 150) & (frame[..., 0] < 120) & (frame[..., 2] < 120)
            assert not green.any()  # no ECG trace
            assert not frame[:3, :3].any() and not frame[:3, -3:].any()  # beside the apex
        x0, y0, x1, y1 = cine.region
        assert 0 <= x0 < x1 <= 112 and 0 <= y0 < y1 <= 112
        assert x1 - x0 > 100 and y1 - y0 > 90  # the fan fills the square, its sides cut


def test_colour_flow_is_rare_and_paints_red_and_blue_inside_the_fan() -> None:
    on_rate = np.mean([extras(p, "A4C").colour.on for p in range(600)])
    assert 0.01 < on_rate < 0.08
    found = 0
    for patient in drawn("colour_flow", n=2):
        on, off, full = pair("colour_flow", patient)
        colour = np.abs(on[..., 0] - on[..., 2]) > 80  # red or blue, not grey
        grey_before = np.abs(off[..., 0] - off[..., 2]) <= 80  # (the marker is blue anyway)
        x0, y0, x1, y1 = full.region
        assert (colour & grey_before)[y0:y1, x0:x1].sum() > 100
        changed = np.abs(on - off).sum(-1) > 0
        assert np.array_equal(changed, changed & (colour | ~grey_before | (on.sum(-1) > 0)))
        found += 1
    assert found == 2


def test_display_must_be_known() -> None:
    with pytest.raises(ValueError, match="unknown display"):
        spec(0, "A4C", display="poster")


def test_grey_surroundings_in_half_the_cines_brighten_the_fan_around_the_heart() -> None:
    """Real echo often shows the heart's cavities in grey tissue, not bright rings on black:
    about half of the cines draw tissue (and lung haze) around the heart at 0.15-1 of the
    myocardium's echogenicity; where the fan shows it, it gets brighter, and blood stays dark."""
    levels = [extras(p, "A4C").surround for p in range(600)]
    assert 0.4 < np.mean([v > 0 for v in levels]) < 0.6
    assert min(v for v in levels if v > 0) >= 0.15 and max(levels) <= 1.0
    shares = []
    for patient in [p for p in range(40) if extras(p, "A4C").surround > 0.4][:3]:
        on, off, full = pair("surroundings", patient)
        x0, y0, x1, y1 = full.region
        grey_on, grey_off = on[y0:y1, x0:x1].mean(-1), off[y0:y1, x0:x1].mean(-1)
        fan = grey_off > 0  # (outside the fan both are black)
        changed = np.abs(grey_on - grey_off)[fan] > 10
        assert ((grey_on - grey_off)[fan][changed] > 0).mean() > 0.9  # brighter, not darker
        assert np.percentile(grey_on[fan], 10) < np.percentile(grey_off[fan], 10) + 25
        shares.append(changed.mean())
    assert max(shares) > 0.05, shares  # (a heart that fills the fan leaves little to change)
