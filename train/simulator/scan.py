"""Scan conversion: beam-space (depth sample, beam) images onto the screen's sector (fan).

The polar→Cartesian map is computed once per geometry (integer indices + bilinear weights for
the pixels inside the fan); converting a frame is then four gathers.

Example::

    sc = ScanConverter(640, 480, apex=(320, 40), px_per_cm=26.0, sector_deg=84,
                       depth_cm=16, n_samples=384, n_beams=128)
    fan = sc.convert(polar)           # (480, 640) float32, 0 outside the fan
    sc.bbox                           # (x0, y0, x1, y1) of the drawn sector
"""

from __future__ import annotations

import numpy as np

Arr = np.ndarray


class ScanConverter:
    """Bilinear polar→Cartesian map for one screen geometry."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        apex: tuple[float, float],
        px_per_cm: float,
        sector_deg: float,
        depth_cm: float,
        n_samples: int,
        n_beams: int,
        r_min_cm: float = 0.0,
    ) -> None:
        self.width, self.height = width, height
        self.apex, self.px_per_cm = apex, px_per_cm
        self.depth_cm, self.r_min_cm = depth_cm, r_min_cm
        self.shape_polar = (n_samples, n_beams)
        half = np.deg2rad(sector_deg) / 2
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        dx = (xx + 0.5 - apex[0]) / px_per_cm
        dy = (yy + 0.5 - apex[1]) / px_per_cm
        r = np.hypot(dx, dy)
        th = np.arctan2(dx, dy)
        inside = (r >= r_min_cm) & (r <= depth_cm) & (np.abs(th) <= half) & (dy > 0)
        self.pixels = np.flatnonzero(inside)
        if self.pixels.size == 0:
            raise ValueError("the sector does not cross the screen")
        fi = (r.ravel()[self.pixels] - r_min_cm) / (depth_cm - r_min_cm) * (n_samples - 1)
        fj = (th.ravel()[self.pixels] + half) / (2 * half) * (n_beams - 1)
        i0 = np.clip(np.floor(fi).astype(np.int64), 0, n_samples - 2)
        j0 = np.clip(np.floor(fj).astype(np.int64), 0, n_beams - 2)
        wi = np.clip(fi - i0, 0, 1).astype(np.float32)
        wj = np.clip(fj - j0, 0, 1).astype(np.float32)
        base = i0 * n_beams + j0
        self.idx = np.stack([base, base + 1, base + n_beams, base + n_beams + 1]).astype(np.intp)
        self.w = np.stack([(1 - wi) * (1 - wj), (1 - wi) * wj, wi * (1 - wj), wi * wj])
        ys, xs = np.divmod(self.pixels, width)
        self.bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        self.mask = inside

    def values(self, polar: Arr) -> Arr:
        """The fan's pixel values (float32, one per pixel in ``self.pixels``)."""
        if polar.shape != self.shape_polar:
            raise ValueError(f"polar image {polar.shape} does not match {self.shape_polar}")
        p = polar.ravel()
        w, idx = self.w, self.idx
        return p[idx[0]] * w[0] + p[idx[1]] * w[1] + p[idx[2]] * w[2] + p[idx[3]] * w[3]

    def convert(self, polar: Arr) -> Arr:
        """The full screen (height, width) float32 with the fan drawn and 0 elsewhere."""
        out = np.zeros(self.height * self.width, dtype=np.float32)
        out[self.pixels] = self.values(polar)
        return out.reshape(self.height, self.width)
