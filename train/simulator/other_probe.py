"""Probe shapes for the non-cardiac OTHER families (issue 17): a phased array's sector (as the
views), a curvilinear probe's wide fan with a curved top, or a linear probe's rectangle.

The beam grid of a curvilinear or linear probe is a sector about a virtual apex ``radius_cm``
above the probe face (a linear probe: a very large radius, so the fan is a rectangle); the
beam data start at the face. :class:`ProbeScreen` is the vendor screen with that fan drawn in
place of the phased sector (same text, grey map, ECG and display modes).

Example::

    probe = Probe.sample("linear", rng)
    acq = probe.acquisition(Acquisition.sample(rng, depth_range=probe.depth_range))
    x, y = probe.grid(acq)              # (ns, nb) lateral / depth below the face, cm
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .physics import Acquisition
from .scan import ScanConverter
from .vendors import Screen, ScreenText, VendorStyle

Arr = np.ndarray
PROBE_KINDS = ("phased", "curvilinear", "linear")
LINEAR_RADIUS_CM = 200.0  # a linear array as a fan about a far apex: straight to 0.01 cm


@dataclass(frozen=True)
class Probe:
    """A probe: ``kind``, the face's radius of curvature (0: phased), its field of view
    (degrees about the virtual apex; phased: the drawn sector), imaging depths and frequency."""

    kind: str = "phased"
    radius_cm: float = 0.0
    fov_deg: float = 0.0
    depth_range: tuple[float, float] = (10.0, 18.0)
    f0_mhz: float = 0.0  # 0: the acquisition's own draw

    @staticmethod
    def sample(
        kind: str, rng: np.random.Generator, depth_range: tuple[float, float] | None = None
    ) -> Probe:
        """A probe of ``kind`` with the usual size and frequency; every draw made every time."""
        radius = float(rng.uniform(4.0, 6.5))
        fov = float(rng.uniform(55.0, 75.0))
        width = float(rng.uniform(3.6, 5.0))
        f_curved, f_linear = float(rng.uniform(2.5, 5.0)), float(rng.uniform(6.0, 10.0))
        if kind == "phased":
            return Probe("phased", 0.0, 0.0, depth_range or (12.0, 20.0))
        if kind == "curvilinear":
            return Probe("curvilinear", radius, fov, depth_range or (12.0, 20.0), f_curved)
        if kind == "linear":
            fov_lin = float(np.rad2deg(width / LINEAR_RADIUS_CM))
            return Probe("linear", LINEAR_RADIUS_CM, fov_lin, depth_range or (4.0, 8.0), f_linear)
        raise ValueError(f"unknown probe kind {kind!r}; expected one of {', '.join(PROBE_KINDS)}")

    def acquisition(self, acq: Acquisition) -> Acquisition:
        """``acq`` with this probe's field of view and frequency."""
        if self.kind == "phased":
            return acq
        return replace(acq, sector_deg=self.fov_deg, f0_mhz=self.f0_mhz)

    def grid(self, acq: Acquisition) -> tuple[Arr, Arr]:
        """Lateral position and depth below the probe face's centre (cm) of every beam
        sample, each (n_samples, n_beams) float32."""
        r = acq.radii[:, None] + np.float32(self.radius_cm)
        th = acq.angles[None, :]
        x = r * np.sin(th)
        y = r * np.cos(th) - np.float32(self.radius_cm)
        return x.astype(np.float32), y.astype(np.float32)


class ProbeScreen(Screen):
    """A vendor :class:`Screen` whose fan is ``probe``'s (a phased probe: the screen as is)."""

    def __init__(
        self,
        style: VendorStyle,
        acq: Acquisition,
        text: ScreenText,
        *,
        probe: Probe,
        size: tuple[int, int] | None = None,
        hr: float = 70.0,
    ) -> None:
        super().__init__(style, acq, text, size=size, hr=hr)
        if probe.kind == "phased":
            return
        w, h = self.width, self.height
        top = style.apex[1] * h
        half = np.deg2rad(probe.fov_deg) / 2
        reach = probe.radius_cm + acq.depth_cm  # from the virtual apex to the bottom
        ppc = (style.fan_bottom - style.apex[1]) * h / (reach - probe.radius_cm * np.cos(half))
        ppc = min(ppc, 0.46 * w / (reach * np.sin(half)))  # keep the fan on screen
        apex = (style.apex[0] * w, top - probe.radius_cm * ppc)
        self.scan = ScanConverter(
            w,
            h,
            apex=apex,
            px_per_cm=ppc,
            sector_deg=probe.fov_deg,
            depth_cm=reach,
            n_samples=acq.n_samples,
            n_beams=acq.n_beams,
            r_min_cm=probe.radius_cm,
        )
        self.px_per_cm = float(ppc)
        self.apex = (apex[0], top)  # the probe face's centre: where the picture starts
        self.base.reshape(-1, 3)[self.scan.pixels] = 0
        self.base_flat = self.base.reshape(-1, 3)
