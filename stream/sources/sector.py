"""Find the scan sector ("fan") of an echo picture from its pixels: apex, two edges, far arc.

Stills, screen captures and exported videos carry no ultrasound region, and their screens hold
text, an ECG trace, depth scales, colour bars and logos beside the fan. :func:`detect_fan`
finds the fan's geometry on one frame or a few frames of a video and returns its bounding box
— the whole fan and little else — so the model always sees the same framing: the fan's box.

How: the brightest value of each pixel over the frames → a "something is drawn here" mask →
an opening removes thin things (text, ticks, ECG, calipers, bars) → the largest blob, with
any area at least a tenth its size → their
convex hull (a sector is convex, so dark chambers and drop-outs inside it are filled) → a
robust straight-line fit of its left and right edges → their crossing is the apex, the far
arc the farthest hull point. The box is the extent of the drawn pixels inside that geometry,
so the sector's apex and sides are kept even where the opening shaved them off, and text
outside the fan is not. Edges that do not meet (a linear probe, a fan cut by the image's
border) give the blob's box instead, with ``apex`` None.

Example::

    fan = detect_fan([frame0, frame5, frame10])     # uint8 H×W or H×W×3 arrays
    fan.region, fan.apex, fan.sector_deg
    region = detect_region(frames, scale=0.25, full_size=(768, 1024))  # estimator signature
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..frame import Region

Arr = np.ndarray
WORK_SIDE = 320  # the long side of the working image (px)
DETECTOR_VERSION = 2  # bump when boxes change: frame stores made with older boxes are rebuilt
_MIN_AREA = 0.04  # the fan covers at least this fraction of the (searched) image
_KEEP_BLOB = 0.1  # other areas at least this fraction of the largest belong to the fan too


@dataclass(frozen=True)
class Fan:
    """A detected sector in full-resolution pixels.

    ``apex`` is where the two straight edges meet (it may lie above the image for a fan with
    a truncated top); ``left_deg``/``right_deg`` are the edges' directions from straight down
    (negative to the left); ``radius`` is the apex-to-far-arc distance. None for all of them
    when the edges do not meet (``kind == "box"``).
    """

    region: Region
    kind: str  # "sector" | "box"
    apex: tuple[float, float] | None = None
    left_deg: float | None = None
    right_deg: float | None = None
    radius: float | None = None

    @property
    def sector_deg(self) -> float | None:
        if self.left_deg is None or self.right_deg is None:
            return None
        return self.right_deg - self.left_deg

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (rounded), as ``probe --json`` shows it."""
        r = self.region
        out: dict[str, Any] = {
            "kind": self.kind,
            "box": {"x0": r.x0, "y0": r.y0, "x1": r.x1, "y1": r.y1},
        }
        if self.apex is not None:
            out["apex"] = [round(self.apex[0], 1), round(self.apex[1], 1)]
            out["left_deg"] = round(float(self.left_deg or 0.0), 1)
            out["right_deg"] = round(float(self.right_deg or 0.0), 1)
            out["radius"] = round(float(self.radius or 0.0), 1)
        return out


def _gray(frame: Arr) -> Arr:
    arr = np.asarray(frame)
    if arr.ndim == 3:
        arr = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return arr.astype(np.float32)


def _work_image(frames: Sequence[Arr]) -> tuple[Arr, float]:
    """The per-pixel maximum over ``frames`` at working size, and that size's factor."""
    first = np.asarray(frames[0])
    h, w = first.shape[:2]
    k = min(1.0, WORK_SIDE / max(h, w))
    size = (max(1, round(w * k)), max(1, round(h * k)))
    top: Arr | None = None
    for f in frames:
        g = _gray(f)
        if g.shape != (h, w):
            continue
        if k < 1.0:
            g = np.asarray(Image.fromarray(g, mode="F").resize(size, Image.Resampling.BOX))
        top = g if top is None else np.maximum(top, g)
    assert top is not None
    return top, size[0] / w


def _content_mask(top: Arr) -> Arr:
    """Pixels where something is drawn: a little above the screen's black."""
    from scipy import ndimage

    smooth = ndimage.uniform_filter(top, size=3)
    hi = float(np.percentile(smooth, 99.5))
    black = float(np.percentile(smooth, 2))
    thr = max(black + 6.0, black + 0.07 * (hi - black))
    return smooth > thr


def _disk(r: int) -> Arr:
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y) <= r * r + r


def _fan_areas(mask: Arr) -> Arr | None:
    """The largest connected area of ``mask`` with every other one at least ``_KEEP_BLOB``
    times its size (a fan whose dark band splits it: near-field tissue apart from the heart)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.isin(labels, np.flatnonzero(sizes >= max(1, _KEEP_BLOB * sizes.max())))


def _convex_fill(blob: Arr) -> Arr:
    """The blob's convex hull as a mask (the blob itself when the hull cannot be formed)."""
    from scipy.spatial import ConvexHull, QhullError

    ys, xs = np.nonzero(blob)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):
        return blob
    poly = [(float(x) + 0.5, float(y) + 0.5) for x, y in pts[hull.vertices]]
    img = Image.new("1", (blob.shape[1], blob.shape[0]), 0)
    ImageDraw.Draw(img).polygon(poly, fill=1, outline=1)
    return np.asarray(img, dtype=bool) | blob


def _fit_edge(ys: Arr, xs: Arr) -> tuple[float, float] | None:
    """Robust line x = a + b·y through edge points (two rounds of outlier rejection)."""
    keep = np.ones(len(ys), dtype=bool)
    fit: tuple[float, float] | None = None
    for _ in range(3):
        if keep.sum() < 5:
            return fit
        b, a = np.polyfit(ys[keep], xs[keep], 1)
        fit = (float(a), float(b))
        resid = np.abs(xs - (a + b * ys))
        keep = resid <= max(1.5, 2.5 * float(np.median(resid[keep])))
    return fit


def _edges(hull: Arr) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Left and right edge lines of the hull, from the rows of its upper half."""
    rows = np.flatnonzero(hull.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    ys = np.arange(top + int(0.12 * height), top + int(0.55 * height) + 1)
    ys = ys[hull[ys].any(axis=1)]
    if len(ys) < 8:
        return None
    left = np.array([np.argmax(hull[y]) for y in ys], dtype=np.float64)
    right = np.array([hull.shape[1] - 1 - np.argmax(hull[y, ::-1]) for y in ys], np.float64)
    on_border_l = left <= 0
    on_border_r = right >= hull.shape[1] - 1
    fl = _fit_edge(ys[~on_border_l].astype(np.float64), left[~on_border_l])
    fr = _fit_edge(ys[~on_border_r].astype(np.float64), right[~on_border_r])
    if fl is None or fr is None:
        return None
    return fl, fr


def _apex_x(hull: Arr) -> float:
    """The x of the fan's top: the middle of the hull's first rows (lateral drop-outs, which
    shrink the visible fan from its sides, do not move it)."""
    rows = np.flatnonzero(hull.any(axis=1))
    band = hull[rows[0] : rows[0] + max(2, int(0.02 * (rows[-1] - rows[0])))]
    xs = np.flatnonzero(band.any(axis=0))
    return float(xs.min() + xs.max()) / 2.0


def _sector_geometry(
    hull: Arr,
) -> tuple[tuple[float, float], float, float, float] | None:
    """(apex (x, y), left angle, right angle (radians from straight down), radius) or None.

    Scanners draw sectors symmetric about the vertical through the apex; a dark side (lung,
    rib shadow, drop-out) makes one edge look steeper. When the two edges disagree by more
    than a few degrees, the wider one is trusted and mirrored about the fan's top.
    """
    lines = _edges(hull)
    if lines is None:
        return None
    (al, bl), (ar, br) = lines
    ang_l, ang_r = float(np.arctan(bl)), float(np.arctan(br))
    if abs(ang_l + ang_r) <= np.deg2rad(5.0):
        if abs(bl - br) < 1e-6:
            return None
        y_apex = (ar - al) / (bl - br)
        x_apex = al + bl * y_apex
    else:
        x_apex = _apex_x(hull)
        a, b = (al, bl) if -ang_l > ang_r else (ar, br)
        if abs(b) < 1e-3:
            return None
        y_apex = (x_apex - a) / b
        half = max(-ang_l, ang_r)
        ang_l, ang_r = -half, half
    if ang_r - ang_l < np.deg2rad(20) or ang_r - ang_l > np.deg2rad(170):
        return None  # parallel edges (linear probe) or not a fan
    rows = np.flatnonzero(hull.any(axis=1))
    if y_apex > rows[0] + 0.3 * (rows[-1] - rows[0]):
        return None  # the "apex" sits inside the blob: not a fan seen from above
    ys, xs = np.nonzero(hull)
    radius = float(np.percentile(np.hypot(xs - x_apex, ys - y_apex), 99.7))
    return (float(x_apex), float(y_apex)), ang_l, ang_r, radius


def _fan_box(
    raw: Arr, apex: tuple[float, float], ang_l: float, ang_r: float, radius: float
) -> tuple[int, int, int, int] | None:
    """The sector's own bounding box, its top moved down to the first drawn row inside it (a
    truncated apex), clipped to the image."""
    h, w = raw.shape
    ax, ay = apex
    angles = np.linspace(ang_l, ang_r, 64)
    xs = np.concatenate([[ax], ax + radius * np.sin(angles)])
    ys = np.concatenate([[ay], ay + radius * np.cos(angles)])
    inside = _box(raw & _inside_fan(raw.shape, apex, ang_l, ang_r, radius))
    if inside is None:
        return None
    top = max(float(ys.min()), float(inside[1]))
    bottom = min(float(ys.max()), float(inside[3]))
    x0, x1 = max(0.0, float(xs.min())), min(float(w), float(xs.max()) + 1)
    y0, y1 = max(0.0, top), min(float(h), bottom)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))


def _inside_fan(
    shape: tuple[int, int], apex: tuple[float, float], ang_l: float, ang_r: float, radius: float
) -> Arr:
    """Mask of the sector (with a small tolerance) on a grid of ``shape``."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    dx, dy = xx - apex[0], yy - apex[1]
    theta = np.arctan2(dx, np.maximum(dy, 1e-3))
    tol = np.deg2rad(1.5)
    pad = 2.0 + 0.01 * radius
    return (
        (dy > -pad)
        & (theta >= ang_l - tol)
        & (theta <= ang_r + tol)
        & (np.hypot(dx, dy) <= radius + pad)
    )


def _box(mask: Arr) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def detect_fan(
    frames: Sequence[Arr],
    *,
    scale: float = 1.0,
    full_size: tuple[int, int] | None = None,
    within: Region | None = None,
) -> Fan | None:
    """The sector of ``frames`` (uint8 H×W or H×W×3, all one size, at ``scale`` of full
    resolution), in full-resolution pixels (``full_size = (rows, cols)``); None when nothing
    fan- or box-like stands out. ``within`` (full-resolution) limits the search to a box, e.g.
    a DICOM ultrasound region that holds the fan with margins.
    """
    frames = [np.asarray(f) for f in frames if np.asarray(f).size]
    if not frames:
        return None
    rows, cols = full_size or (round(frames[0].shape[0] / scale), round(frames[0].shape[1] / scale))
    ox = oy = 0
    if within is not None:
        sub = within.scaled(scale) if scale != 1.0 else within
        frames = [f[sub.y0 : sub.y1, sub.x0 : sub.x1] for f in frames]
        ox, oy = sub.x0, sub.y0
        if min(frames[0].shape[:2]) < 8:
            return None
    top, k = _work_image(frames)
    raw = _content_mask(top)
    r = max(2, round(0.012 * float(np.hypot(*top.shape))))
    from scipy import ndimage

    body = ndimage.binary_opening(raw, structure=_disk(r))
    blob = _fan_areas(body)
    if blob is None or blob.sum() < _MIN_AREA * blob.size:
        return None
    hull = _convex_fill(ndimage.binary_closing(blob, structure=_disk(r), border_value=0))
    geometry = _sector_geometry(hull)
    if geometry is not None:
        apex, ang_l, ang_r, radius = geometry
        box = _fan_box(raw, apex, ang_l, ang_r, radius)
    else:
        box = _box(raw & ndimage.binary_dilation(hull, structure=_disk(2)))
    if box is None:
        return None
    to_full = 1.0 / (k * scale)

    def fx(v: float) -> float:
        return v * to_full + ox / scale

    def fy(v: float) -> float:
        return v * to_full + oy / scale

    x0, y0, x1, y1 = box
    region = Region(
        max(0, int(np.floor(fx(x0)))),
        max(0, int(np.floor(fy(y0)))),
        min(cols, int(np.ceil(fx(x1)))),
        min(rows, int(np.ceil(fy(y1)))),
        origin="detected",
        data_type="tissue",
    )
    if within is not None:  # the reduced-scale crop may round outwards by a pixel or two
        region = Region(
            max(region.x0, within.x0),
            max(region.y0, within.y0),
            min(region.x1, within.x1),
            min(region.y1, within.y1),
            origin="detected",
            data_type="tissue",
        )
    if region.width < 8 or region.height < 8:
        return None
    if geometry is None:
        return Fan(region, "box")
    apex, ang_l, ang_r, radius = geometry
    return Fan(
        region,
        "sector",
        apex=(fx(apex[0]), fy(apex[1])),
        left_deg=float(np.rad2deg(ang_l)),
        right_deg=float(np.rad2deg(ang_r)),
        radius=radius * to_full,
    )


def detect_region(
    frames: Sequence[Arr], *, scale: float = 1.0, full_size: tuple[int, int] | None = None
) -> Region | None:
    """:func:`detect_fan`'s box, with the region-estimator signature the sources accept."""
    fan = detect_fan(frames, scale=scale, full_size=full_size)
    return None if fan is None else fan.region
