"""The OTHER class's families (issue 17): IVC, lung, other cardiac planes, textures and the
first simulator's off-axis planes — drawn per cine, deterministic, plausible, and leaving the
8 views' pixels alone."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from echostream.train.simulator.cine import CineSpec, render_cine
from echostream.train.simulator.other_families import FAMILY_MIX, KINDS, draw_other
from echostream.train.simulator.other_render import make_phantom
from echostream.train.simulator.physics import Acquisition, BeamImager, cell_hash

SMALL = {"size": (240, 180), "n_samples": 192, "n_beams": 64}


def _patient(kind: str, seed: int = 0, **want: object) -> int:
    for p in range(3000):
        d = draw_other(seed, p)
        if d.kind == kind and all(getattr(d, k) == v for k, v in want.items()):
            return p
    raise AssertionError(f"no patient draws {kind} {want}")


def _polar(kind: str, seed: int = 0, t: float = 0.0, **want: object):
    """The phantom's display values on the beam grid (the views' physics), its scene and grid."""
    d = draw_other(seed, _patient(kind, seed, **want))
    rng = np.random.default_rng(1)
    acq = d.probe.acquisition(Acquisition.sample(rng, depth_range=d.probe.depth_range))
    phantom = make_phantom(d, acq, 70.0)
    imager = BeamImager(acq, rng)
    scene = phantom.scene(t)
    spc = (acq.n_samples - 1) / acq.depth_cm
    echo = scene.echo + imager.specular(scene.imp, spc)
    frame_rng = np.random.default_rng(int(t * 1000) + 7)  # per frame, as FrameImager's
    cells = cell_hash(scene.a, scene.b, scene.c)
    z = imager.scatterers(echo, ~scene.fluid, cells, frame_rng)
    env = imager.envelope(z, frame_rng, scene.gain)
    x, y = d.probe.grid(acq)
    return imager.log_compress(env), scene, x, y, phantom


def test_family_mix_is_as_documented_and_deterministic() -> None:
    draws = [draw_other(3, p) for p in range(3000)]
    for family, share in FAMILY_MIX.items():
        seen = np.mean([d.family == family for d in draws])
        assert abs(seen - share) < 0.03, (family, seen)
    assert {d.kind for d in draws} == {k for kinds in KINDS.values() for k in kinds}
    assert [draw_other(3, p) for p in range(50)] == draws[:50]
    assert [draw_other(4, p) for p in range(50)] != draws[:50]


@pytest.mark.parametrize("kind", [k for kinds in KINDS.values() for k in kinds])
def test_every_kind_renders_through_the_screen(kind: str) -> None:
    p = _patient(kind)
    spec = CineSpec(seed=0, patient=p, view="OTHER", vendor="ie33", n_frames=2, **SMALL)
    cine = render_cine(spec)
    assert cine.labels == ["OTHER", "OTHER"] and cine.info["other_kind"] == kind
    x0, y0, x1, y1 = cine.region
    fan = cine.frames[1][y0:y1, x0:x1].astype(float)
    assert fan.shape[0] > 20 and fan.std() > 5, "the sector shows an image"
    assert render_cine(spec).frames[1].tobytes() == cine.frames[1].tobytes()  # deterministic
    other_seed = render_cine(CineSpec(seed=1, patient=p, view="OTHER", vendor="ie33", **SMALL))
    assert other_seed.frames[0].tobytes() != cine.frames[0].tobytes()


def test_views_and_off_axis_other_ignore_the_new_families() -> None:
    """The families only act on OTHER cines that draw them: a view's pixels, and an off-axis
    OTHER cine's, are those of the simulator without them."""
    for view in ("A4C", "PLAX", "SUB4C"):
        spec = CineSpec(seed=2, patient=1, view=view, vendor="epiq7g", n_frames=2, **SMALL)
        off = CineSpec(**{**spec.__dict__, "ablate": ("other_families",)})
        assert render_cine(spec).frames[1].tobytes() == render_cine(off).frames[1].tobytes()
    p = _patient("off_axis", seed=2)
    spec = CineSpec(seed=2, patient=p, view="OTHER", vendor="sc2000", n_frames=2, **SMALL)
    off = CineSpec(**{**spec.__dict__, "ablate": ("other_families",)})
    assert render_cine(spec).frames[1].tobytes() == render_cine(off).frames[1].tobytes()
    p = _patient("ivc_long", seed=2)  # a phantom family: switched off, it is off-axis again
    spec = CineSpec(seed=2, patient=p, view="OTHER", vendor="sc2000", n_frames=1, **SMALL)
    off = render_cine(CineSpec(**{**spec.__dict__, "ablate": ("other_families",)}))
    assert "other_kind" not in off.info and render_cine(spec).info["other_kind"] == "ivc_long"


def test_lung_shows_a_bright_pleural_line_between_darker_bands() -> None:
    polar, scene, x, y, lung = _polar("a_lines")
    clear = (scene.gain is None) | (scene.gain > 0.5)  # beams outside the rib shadows
    beams = np.flatnonzero(clear.all(axis=0))
    assert beams.size > 5
    p = lung.pleura
    rows = lambda d: np.abs(y[:, beams] - d) < 0.06  # noqa: E731
    level = lambda d: float(polar[:, beams][rows(d)].mean())  # noqa: E731
    assert level(p) > level(p - 0.45) + 0.1, "pleura brighter than the tissue above"
    assert level(p) > level(p + 0.5 * p) + 0.2, "pleura brighter than the lung below"
    assert level(2 * p) > level(1.5 * p) + 0.1, "an A-line at twice the pleural depth"


def test_b_lines_run_from_the_pleura_to_the_bottom() -> None:
    polar, scene, x, y, lung = _polar("b_lines")
    deep = y > lung.pleura + 1.0
    echo = np.nanmedian(np.where(deep, scene.echo, np.nan), axis=0)  # per beam, A-lines aside
    shown = np.nanmean(np.where(deep, polar, np.nan), axis=0)
    tail, quiet = int(np.argmax(echo)), int(np.argmin(echo))
    assert echo[tail] > 20 * echo[quiet], "some beams carry comet tails, others only haze"
    assert shown[tail] > shown[quiet] + 0.2, "and they show bright down to the bottom"


def test_lung_sliding_shimmers_and_a_still_lung_does_not() -> None:
    def change(sliding: bool) -> float:
        """Mean frame-to-frame change of the haze under the pleura, relative to its level."""
        a, scene, *_ = _polar("a_lines", t=0.0, sliding=sliding)
        b, *_ = _polar("a_lines", t=0.05, sliding=sliding)
        haze = (scene.imp < 0.5) & (scene.echo < 0.1)
        return float(np.abs(a[haze] - b[haze]).mean() / a[haze].mean())

    assert change(sliding=True) > 0.5 > 0.2 > change(sliding=False)


def test_ivc_long_is_an_elongated_dark_tube_in_textured_liver() -> None:
    polar, scene, x, y, ivc = _polar("ivc_long")
    p = ivc.p
    caudal = -ivc.side * x > 0  # away from the atrium: the tube alone
    lumen = scene.fluid & caudal
    assert np.ptp(x[lumen]) > 3.0, "the tube runs across the picture"
    assert np.ptp(y[lumen & (np.abs(x + ivc.side * 1.0) < 0.3)]) < 2 * p["ivc_r"] + 0.6
    liver = (y > ivc.wall + 0.5) & (y < p["ivc_y"] - p["ivc_r"] - 0.5) & ~scene.fluid
    assert polar[lumen].mean() < 0.5 * polar[liver].mean()
    assert polar[liver].std() > 0.05 and 0.2 < polar[liver].mean() < 0.9, "speckled liver"


def test_ivc_narrows_on_inspiration() -> None:
    """Hypovolaemic IVCs collapse by their drawn fraction (± the 5 % cardiac pulse)."""
    checked = 0
    for p in range(200):
        d = draw_other(0, p)
        if d.kind != "ivc_long":
            continue
        ivc = make_phantom(d, Acquisition(), 70.0)
        t_exp = -ivc.breath.phase * ivc.breath.period / (2 * np.pi)  # inspiration(t) = 0
        r_exp, r_insp = (ivc._ivc_radius(t) for t in (t_exp, t_exp + ivc.breath.period / 2))
        assert r_insp < r_exp * (1 - ivc.p["collapse"]) * 1.11
        checked += ivc.p["collapse"] > 0.35
    assert checked >= 2, "some IVCs collapse by more than a third"


def test_simulate_cli_writes_other_cines(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from echostream.stream.cli import app

    args = ["simulate", "--out", str(tmp_path), "--views", "PLAX,OTHER", "--patients", "3"]
    res = CliRunner().invoke(app, [*args, "--frames-per-cine", "2", "--scale", "0.3"])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["view"] for r in rows] == ["PLAX", "OTHER"] * 3
    assert all((tmp_path / r["path"]).is_file() for r in rows)
