"""Image one cine's frames: the anatomy under the probe's plane at a time → a screen picture.

:class:`FrameImager` holds what stays fixed over a cine (the probe-fixed body maps and speckle,
the depth samples the anatomy is evaluated on); :meth:`FrameImager.frame` moves the heart
(cardiac cycle, breathing), paints the plane, forms the beam data and composes the screen.
Random draws come only from the generator it is given, in frame order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import BodyMaps
from .cine_extras import CineExtras
from .colour import ColourFlow
from .cycle import cardiac_state, respiration
from .display import Display
from .heart import Heart
from .physics import Acquisition, BeamImager, cell_hash
from .poses import Pose
from .smoke import Smoke, smoke_field
from .vendors import Screen

Arr = np.ndarray


@dataclass(frozen=True)
class Breathing:
    """The chest's breathing drift: direction (unit 3-vector), amplitude (cm), period (s),
    phase (rad)."""

    direction: Arr
    amplitude: float
    period: float
    phase: float

    @staticmethod
    def sample(rng: np.random.Generator) -> Breathing:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        amp, period, phase = rng.uniform(0.15, 0.6), rng.uniform(3, 5), rng.uniform(0, 6.3)
        return Breathing(direction, amp, period, phase)


@dataclass(frozen=True)
class Scanner:
    """One cine's scanner set-up: acquisition, beam imager, body maps, screen and how the
    screen reaches the file (``display``)."""

    acq: Acquisition
    imager: BeamImager
    body: BodyMaps
    screen: Screen
    display: Display


class FrameImager:
    """Frames of one cine; ``off`` names the realism features switched off."""

    def __init__(
        self,
        heart: Heart,
        scale: float,
        hr: float,
        scanner: Scanner,
        breathing: Breathing,
        rng: np.random.Generator,
        off: set[str],
        extras: CineExtras | None = None,
    ) -> None:
        acq, body = scanner.acq, scanner.body
        self.heart, self.scale, self.hr = heart, scale, hr
        self.scanner, self.breathing, self.rng, self.off = scanner, breathing, rng, off
        self.samples_per_cm = (acq.n_samples - 1) / (acq.depth_cm - acq.r_min_cm)
        self.coarse = (acq.radii / scale)[::2]  # the anatomy is on every other depth sample
        self.static_heart = np.where(body.clutter > 0, body.clutter, 0).astype(np.float32)
        self.static_body = (body.echo + body.clutter).astype(np.float32)
        self.static_field = scanner.imager.table[::-1][: acq.n_samples * acq.n_beams].reshape(
            acq.n_samples, acq.n_beams
        )  # probe-fixed speckle (a different slice of the table)
        self.margin = 2.4 + breathing.amplitude / scale
        self._points: tuple[Pose, tuple[Arr, Arr, Arr], list[Arr | None]] | None = None
        self.smoke: Smoke | None = None
        self.colour: ColourFlow | None = None
        if extras is not None and extras.smoke.level > 0 and "smoke" not in off:
            self.smoke = Smoke(extras.smoke, heart.landmarks["centre"], hr)
        if extras is not None and extras.colour.on and "colour_flow" not in off:
            self.colour = ColourFlow(extras.colour, acq, scanner.screen)

    def _plane_points(self, pose: Pose) -> tuple[tuple[Arr, Arr, Arr], list[Arr | None]]:
        """The plane's sample points and the heart's cull lists (kept while the plane is)."""
        if self._points is None or self._points[0] is not pose:
            pts = pose.points(self.coarse, self.scanner.acq.angles)
            self._points = (pose, pts, self.heart.cull(*pts, margin=self.margin))
        return self._points[1], self._points[2]

    def frame(self, pose: Pose, t: float) -> Arr:
        """The screen (H, W, 3) uint8 of plane ``pose`` at time ``t`` (s)."""
        heart, br, off = self.heart, self.breathing, self.off
        imager, body = self.scanner.imager, self.scanner.body
        n_samples = self.scanner.acq.n_samples
        (x, y, z), cull = self._plane_points(pose)
        d = respiration(t, br.amplitude, br.period, br.phase) / self.scale
        st = cardiac_state(t, self.hr)
        x0, y0, z0 = heart.to_reference(
            x - d * br.direction[0], y - d * br.direction[1], z - d * br.direction[2], st
        )
        echo, tissue, inside, imp = heart.paint(x0, y0, z0, st, cull)
        blood = inside & ~tissue
        imp = np.where(inside, imp, body.imp[::2])  # the anatomy is on every other sample
        if "anisotropy" not in off:
            echo = echo * imager.anisotropy(tissue & inside, self.samples_per_cm / 2)
        if "specular" not in off:
            echo = echo + imager.specular(imp, self.samples_per_cm / 2)
        u, v, nrm = pose.u, pose.v, pose.n
        a = x0 * u[0] + y0 * u[1] + z0 * u[2]
        b = x0 * v[0] + y0 * v[1] + z0 * v[2]
        c = x0 * nrm[0] + y0 * nrm[1] + z0 * nrm[2]
        a, b, c = (_upsample(q, n_samples) for q in (a, b, c))
        echo = _repeat(echo, n_samples)
        tissue = _repeat(tissue, n_samples)
        inside = _repeat(inside, n_samples)
        cells = cell_hash(a, b, c)
        static_echo = np.where(inside, self.static_heart, self.static_body)
        zfield = imager.scatterers(echo, tissue, cells, self.rng, static_echo, self.static_field)
        if self.smoke is not None:
            s_echo, sa, sb, sc = self.smoke.plane((x0, y0, z0), blood, t, pose)
            moving = (_upsample(sa, n_samples), _upsample(sb, n_samples), _upsample(sc, n_samples))
            zfield += smoke_field(_repeat(s_echo, n_samples), moving, imager.table)
        env = imager.envelope(zfield, self.rng, body.gain)
        overlay = None
        if self.colour is not None:
            overlay = self.colour.overlay(_repeat(blood, n_samples), t)
        return self.scanner.display.present(imager.log_compress(env), t, overlay)


def _upsample(q: Arr, n: int) -> Arr:
    """Linear ×2 upsampling along depth (axis 0) to ``n`` rows."""
    out = np.empty((n, q.shape[1]), dtype=np.float32)
    out[0::2] = q[: (n + 1) // 2]
    mid = 0.5 * (q[:-1] + q[1:])
    out[1::2] = np.concatenate([mid, q[-1:]], axis=0)[: n // 2]
    return out


def _repeat(q: Arr, n: int) -> Arr:
    return np.repeat(q, 2, axis=0)[:n]
