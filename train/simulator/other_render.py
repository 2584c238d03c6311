"""Render an OTHER cine of a 2-D family (IVC, lung, abdomen, aortic arch; issue 17) through the
views' pipeline: the same acquisition draws, beam imager (speckle, PSF, attenuation, noise,
TGC, log compression), body clutter and shadows, vendor screen and display modes; only the
anatomy (a :class:`~.other_scene.Phantom` instead of the heart) and the probe's fan differ.

Example::

    cine = render_phantom_cine(spec, draw_other(spec.seed, spec.patient))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .cine_extras import CineExtras, cine_extras_rng
from .other_abdomen import Abdomen
from .other_arch import Arch
from .other_families import OtherDraw
from .other_lung import Lung
from .other_scene import Phantom
from .physics import Acquisition, cell_hash
from .poses import OTHER

if TYPE_CHECKING:
    from .cine import Cine, CineSpec
    from .frames import Scanner

Arr = np.ndarray


def make_phantom(draw: OtherDraw, acq: Acquisition, hr: float) -> Phantom:
    """The 2-D phantom of ``draw`` on the probe's beam grid (its own random stream)."""
    rng = np.random.default_rng(draw.detail)
    x, y = draw.probe.grid(acq)
    if draw.family in ("ivc", "texture"):
        return Abdomen(draw.kind, rng, x, y, acq.depth_cm, hr)
    if draw.family == "lung":
        beam = np.broadcast_to(acq.angles[None, :], x.shape)
        return Lung(
            rng,
            x,
            y,
            beam=beam,
            b_lines=draw.kind == "b_lines",
            sliding=draw.sliding,
            radius_cm=draw.probe.radius_cm,
        )
    if draw.kind == "arch":
        return Arch(rng, x, y, hr=hr)
    raise ValueError(f"OTHER kind {draw.kind!r} is a plane of the heart model, not a phantom")


class PhantomImager:
    """Frames of one phantom cine; ``off`` names the realism features switched off."""

    def __init__(
        self, phantom: Phantom, scanner: Scanner, rng: np.random.Generator, off: set[str]
    ) -> None:
        acq, body = scanner.acq, scanner.body
        self.phantom, self.scanner, self.rng, self.off = phantom, scanner, rng, off
        self.samples_per_cm = (acq.n_samples - 1) / (acq.depth_cm - acq.r_min_cm)
        self.static_echo = np.where(body.clutter > 0, body.clutter, 0).astype(np.float32)
        self.static_field = scanner.imager.table[::-1][: acq.n_samples * acq.n_beams].reshape(
            acq.n_samples, acq.n_beams
        )  # probe-fixed haze, as in the views (frames.FrameImager)

    def frame(self, t: float) -> Arr:
        """The screen (H, W, 3) uint8 at time ``t`` (s)."""
        imager, body = self.scanner.imager, self.scanner.body
        scene = self.phantom.scene(t)
        echo = scene.echo
        if "specular" not in self.off:
            echo = echo + imager.specular(scene.imp, self.samples_per_cm)
        cells = cell_hash(scene.a, scene.b, scene.c)
        z = imager.scatterers(
            echo, ~scene.fluid, cells, self.rng, self.static_echo, self.static_field
        )
        gain = body.gain if scene.gain is None else body.gain * scene.gain
        env = imager.envelope(z, self.rng, gain)
        return self.scanner.display.present(imager.log_compress(env), t)


def render_phantom_cine(spec: CineSpec, draw: OtherDraw) -> Cine:
    """All frames of an OTHER cine of a 2-D family; draws as :func:`cine.render_cine`'s."""
    from .cine import Cine, _cine_rng, _set_up_scanner, make_patient

    patient = make_patient(spec.seed, spec.patient)
    rng = _cine_rng(spec)
    off = set(spec.ablate)
    extras = CineExtras.sample(cine_extras_rng(spec.seed, spec.patient, 9, spec.sweep))
    hr = float(np.clip(patient.hr + rng.normal(0, 4), 45, 115))
    fps = float(rng.integers(30, 81))
    n = spec.n_frames or int(np.clip(round(fps * 60 / hr), 30, 60))
    scanner, quality = _set_up_scanner(spec, patient, hr, fps, rng, off, extras, draw.probe)
    phantom = make_phantom(draw, scanner.acq, hr)
    t0 = rng.uniform(0, 60.0 / hr)
    imager = PhantomImager(phantom, scanner, np.random.default_rng(rng.integers(2**63)), off)
    frames = [imager.frame(t0 + i / fps) for i in range(n)]
    acq, display = scanner.acq, scanner.display
    info = {
        "other_family": draw.family,
        "other_kind": draw.kind,
        "probe": draw.probe.kind,
        "lung_sliding": draw.sliding,
        "depth_cm": acq.depth_cm,
        "sector_deg": acq.sector_deg,
        "quality": quality,
        "f0_mhz": acq.f0_mhz,
        "dynamic_range_db": acq.dynamic_range_db,
        "sweep_partner": "",
        "display": display.mode.kind,
        "foreshorten_deg": 0.0,
        "smoke_level": 0.0,
        "colour_flow": False,
    }
    return Cine(
        frames,
        fps,
        [OTHER] * n,
        display.region,
        display.px_per_cm,
        int(display.apex_y),
        hr,
        patient,
        info,
        [False] * n,
    )
