"""Spectral Doppler, M-mode and colour flow told from the pixels, for sources whose header says
nothing (videos, stills, DICOM files without ultrasound regions or an Image Type mode bit).

A Doppler or M-mode screen is a wide strip whose x axis is time, usually under a small 2D
sector thumbnail; colour flow paints saturated red and blue over the 2D picture. What is looked
for, on a gray copy of each sampled frame at most ``WORK_SIDE`` pixels long:

- the *strip*: the bounding box of the wide things drawn in the lower part of the screen (each
  at least ``_WIDE`` of the screen's width and more than a line's thickness);
- *M-mode*: inside the strip, depth bands continuous along time: neighbouring pixels along x
  differ far less than along y (``x/y ≤ _MMODE_SHORT``), also a tenth of the strip apart
  (``≤ _MMODE_LONG``), in a strip mostly drawn on;
- *spectral Doppler*: a baseline row drawn across the strip, a sparse strip (the spectrum on a
  black background) whose drawn pixels hang off the baseline, and an envelope whose height
  changes with the beat (gaps in diastole, peaks in systole);
- *colour flow*: saturated red or blue pixels over at least ``COLOUR_MIN`` of a frame whose
  other drawn pixels are mostly gray.

A kind is reported when most sampled frames show it (a still: its one frame). Spectral
Doppler and M-mode are then not classified; colour flow still is (the 2D view is visible).

Example::

    found = detect_acquisition(gray_frames, colour=rgb_frame)
    if found is not None:
        print(found.kind.value, found.reason)   # mmode  M-mode sweep seen in the pixels (...)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..frame import AcquisitionKind, SourceInfo

Arr = np.ndarray
WORK_SIDE = 320  # the long side of the working image (px), as the sector detector's
#: The share of a frame's pixels that are saturated red or blue from which it is colour flow.
COLOUR_MIN = 0.01
_SATURATION, _BRIGHT = 80, 100  # red: r ≥ g, r − b ≥ 80; blue: b − r ≥ 80, b ≥ g; max ≥ 100
_DRAWN, _GRAY_SHARE = 30, 0.5  # colour flow: at least half the drawn pixels gray (or tinted)
_WIDE = 0.45  # a strip's parts span at least this share of the screen's width
_STRIP_WIDTH = 0.5  # ... and the strip at least this share
_STRIP_HEIGHT = 0.08  # ... and at least this share of its height
_THICK = 5.0  # a wide part with at most this many pixels in 80 % of its columns is a line
_MMODE_SHORT, _MMODE_LONG, _MMODE_COLUMNS, _MMODE_FILL = 0.3, 0.85, 0.2, 0.25
_BASELINE_OCC = 0.85  # a baseline row is drawn over this share of the strip's width
_DOPPLER_FILL, _DOPPLER_HANGING, _DOPPLER_CV = 0.45, 0.9, 0.5
#: Where the detector's decision and its measurements are written in ``SourceInfo.warnings``.
NOTE_PREFIX = "acquisition from the pixels:"


@dataclass(frozen=True)
class PixelAcquisition:
    """What the pixels show: ``kind``, a one-line ``reason`` and the measurements behind it."""

    kind: AcquisitionKind
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


def colour_fraction(rgb: Arr) -> float:
    """The share of ``rgb``'s pixels (H×W×3 uint8) that are saturated red or blue, when the
    rest of the picture is gray (colour flow paints over a gray B-mode image); 0.0 when most
    drawn pixels are coloured (a colour picture, a test pattern: not colour flow).

    >>> colour_fraction(np.zeros((4, 4, 3), np.uint8))
    0.0
    >>> colour_fraction(np.array([[[200, 40, 30], [90, 90, 90], [80, 80, 80]]], np.uint8))
    0.3333333333333333
    """
    px = np.asarray(rgb)[..., :3].astype(np.int16)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    top, spread = px.max(axis=-1), px.max(axis=-1) - px.min(axis=-1)
    drawn = top >= _DRAWN
    if (drawn & (spread <= 0.3 * top + 8)).sum() < _GRAY_SHARE * max(int(drawn.sum()), 1):
        return 0.0
    red = (r >= g) & (r - b >= _SATURATION)
    blue = (b - r >= _SATURATION) & (b >= g)
    return float(((red | blue) & (top >= _BRIGHT)).mean())


def _gray_work(frame: Arr) -> Arr:
    """``frame`` as float32 gray, its long side at most ``WORK_SIDE``."""
    arr = np.asarray(frame)
    if arr.ndim == 3:
        arr = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    arr = arr.astype(np.float32, copy=False)
    h, w = arr.shape
    k = min(1.0, WORK_SIDE / max(h, w))
    if k < 1.0:
        size = (max(1, round(w * k)), max(1, round(h * k)))
        arr = np.asarray(Image.fromarray(arr, mode="F").resize(size, Image.Resampling.BOX))
    return arr


def _drawn(gray: Arr) -> Arr:
    """Pixels where something is drawn: a little above the screen's black."""
    from scipy import ndimage

    smooth = ndimage.uniform_filter(gray, size=3)
    sub = smooth[::2, ::2]  # the levels from a quarter of the pixels: the same, in less memory
    hi, black = float(np.percentile(sub, 99.5)), float(np.percentile(sub, 2))
    return smooth > max(black + 6.0, black + 0.07 * (hi - black))


def _strip(drawn: Arr) -> tuple[int, int, int, int] | None:
    """The box (x0, y0, x1, y1) of the wide, thicker-than-a-line parts, or None."""
    from scipy import ndimage

    h, w = drawn.shape
    labels, n = ndimage.label(drawn, structure=np.ones((3, 3), bool))
    boxes = []
    for index, part in enumerate(ndimage.find_objects(labels), start=1):
        if part is None:
            continue
        ys, xs = part
        width = xs.stop - xs.start
        per_column = (labels[part] == index).sum(axis=0)
        if width >= _WIDE * w and float(np.percentile(per_column, 80)) > _THICK:
            boxes.append((xs.start, ys.start, xs.stop, ys.stop))
    if not boxes:
        return None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    if x1 - x0 < _STRIP_WIDTH * w or y1 - y0 < _STRIP_HEIGHT * h:
        return None
    return x0, y0, x1, y1


def _change(gray: Arr, drawn: Arr, lag: int, axis: int) -> float:
    """Mean squared change over ``lag`` pixels along ``axis`` where something is drawn,
    relative to twice the drawn pixels' variance (0: constant; ~1: unrelated)."""
    if gray.shape[axis] <= lag or drawn.sum() < 50:
        return 1.0
    a, b = (gray[:, lag:], gray[:, :-lag]) if axis == 1 else (gray[lag:], gray[:-lag])
    da, db = (drawn[:, lag:], drawn[:, :-lag]) if axis == 1 else (drawn[lag:], drawn[:-lag])
    pairs = da | db
    return float(((a - b)[pairs] ** 2).mean() / (2.0 * float(gray[drawn].var()) + 1e-6))


def _run_lengths(drawn: Arr, start: int, step: int) -> Arr:
    """Per column, how far the drawn run starting at row ``start`` goes in direction ``step``
    (one-pixel gaps bridged)."""
    rows, cols = drawn.shape
    length, alive, miss = np.zeros(cols, int), np.ones(cols, bool), np.zeros(cols, int)
    y, k = start, 0
    while 0 <= y < rows and alive.any():
        k += 1
        miss = np.where(drawn[y], 0, miss + 1)
        alive &= miss <= 1
        length = np.where(alive & drawn[y], k, length)
        y += step
    return length


def _frame_scores(frame: Arr) -> dict[str, float] | None:
    """The strip's measurements on one frame, or None when there is no strip."""
    gray = _gray_work(frame)
    drawn = _drawn(gray)
    box = _strip(drawn)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    g, d = gray[y0:y1, x0:x1], drawn[y0:y1, x0:x1]
    lag = max(2, (x1 - x0) // 10)
    short_y, long_y = _change(g, d, 2, 0), _change(g, d, lag, 0)
    scores = {
        "strip_width": (x1 - x0) / gray.shape[1],
        "fill": float(d.mean()),
        "x_over_y": _change(g, d, 2, 1) / max(short_y, 1e-6),
        "x_over_y_long": _change(g, d, lag, 1) / max(long_y, 1e-6),
        "columns_over_rows": float(g.mean(axis=0).var() / max(float(g.mean(axis=1).var()), 1e-6)),
    }
    occupancy = d.mean(axis=1)
    base = int(np.argmax(occupancy))
    up, down = _run_lengths(d, base - 1, -1), _run_lengths(d, base + 1, 1)
    side = up if up.sum() >= down.sum() else down
    others = int(d.sum() - d[base].sum())
    scores["baseline"] = float(occupancy[base])
    scores["hanging"] = float((up.sum() + down.sum()) / max(others, 1))
    scores["envelope_cv"] = float(side.std() / max(side.mean(), 1e-6))
    return scores


def _kind_of(scores: dict[str, float] | None) -> AcquisitionKind | None:
    if scores is None:
        return None
    if (
        scores["x_over_y"] <= _MMODE_SHORT
        and scores["x_over_y_long"] <= _MMODE_LONG
        and scores["columns_over_rows"] <= _MMODE_COLUMNS
        and scores["fill"] >= _MMODE_FILL
    ):
        return AcquisitionKind.MMODE
    if (
        scores["baseline"] >= _BASELINE_OCC
        and scores["fill"] <= _DOPPLER_FILL
        and scores["hanging"] >= _DOPPLER_HANGING
        and scores["envelope_cv"] >= _DOPPLER_CV
    ):
        return AcquisitionKind.DOPPLER
    return None


_WHAT = {
    AcquisitionKind.DOPPLER: "spectral Doppler strip (baseline, envelope changing with time)",
    AcquisitionKind.MMODE: "M-mode sweep (depth bands continuous along time)",
    AcquisitionKind.COLOR: "colour flow",
}


class AcquisitionVotes:
    """Frames looked at one at a time (each dropped once measured), then the verdict of
    :func:`detect_acquisition`; a reader adds frames while it decodes them.

    >>> votes = AcquisitionVotes()
    >>> votes.add(np.zeros((48, 64), np.uint8), colour=True)
    >>> votes.result() is None
    True
    """

    def __init__(self) -> None:
        self.per_frame: list[dict[str, float] | None] = []
        self.shares: list[float] = []

    def add(self, frame: Arr, *, colour: bool = False) -> None:
        """Measure ``frame`` (uint8 H×W or H×W×3); ``colour``: also its colour-flow share."""
        arr = np.asarray(frame)
        if not arr.size:
            return
        self.per_frame.append(_frame_scores(arr))
        if colour and arr.ndim == 3:
            self.shares.append(colour_fraction(arr))

    def result(self) -> PixelAcquisition | None:
        """Doppler or M-mode when most frames show it, else colour flow, else None."""
        kinds = [_kind_of(s) for s in self.per_frame]
        for kind in (AcquisitionKind.DOPPLER, AcquisitionKind.MMODE):
            votes = sum(k is kind for k in kinds)
            if votes * 2 > len(kinds):
                shown = [s for s, k in zip(self.per_frame, kinds, strict=True) if k is kind and s]
                scores = {k: round(float(np.median([s[k] for s in shown])), 3) for k in shown[0]}
                scores["frames"] = float(votes)
                reason = f"{_WHAT[kind]} in {votes}/{len(kinds)} frames"
                return PixelAcquisition(kind, reason, scores)
        share = float(np.median(self.shares)) if self.shares else 0.0
        if share < COLOUR_MIN:
            return None
        reason = f"{_WHAT[AcquisitionKind.COLOR]} ({share:.1%} of the pixels saturated red/blue)"
        return PixelAcquisition(AcquisitionKind.COLOR, reason, {"colour_share": round(share, 4)})


def detect_acquisition(
    frames: Sequence[Arr], *, colour: Sequence[Arr] = ()
) -> PixelAcquisition | None:
    """Spectral Doppler, M-mode or colour flow in ``frames`` (uint8 H×W or H×W×3, a few
    sampled from the source, any scale), or None when none shows. ``colour``: RGB frames to
    look for colour flow in (none: not looked for). A strip kind needs most frames to show it.
    """
    votes = AcquisitionVotes()
    for frame in frames:
        votes.add(frame)
    votes.shares = [colour_fraction(f) for f in colour if np.asarray(f).ndim == 3]
    return votes.result()


def note_acquisition(info: SourceInfo, found: PixelAcquisition | None) -> None:
    """Set ``info.acquisition`` from ``found`` when the source's own tags said nothing, and
    say so in ``info.warnings`` (the reason a clip is not classified)."""
    if found is None or info.acquisition is not AcquisitionKind.UNKNOWN:
        return
    info.acquisition = found.kind
    outcome = "still classified" if found.kind is AcquisitionKind.COLOR else "not classified"
    info.warnings.append(f"{NOTE_PREFIX} {found.kind.value}: {found.reason}; {outcome}")


def acquisition_reason(info: SourceInfo) -> str:
    """Why ``info.acquisition`` is what it is, in one line: the pixel detector's note, else
    the header's tags.

    >>> acquisition_reason(SourceInfo("a.dcm", "dicom", 1, 30.0, 8, 8))
    'acquisition unknown: no acquisition tag, nothing seen in the pixels'
    """
    for note in info.warnings:
        if note.startswith(NOTE_PREFIX):
            return note
    if info.acquisition is AcquisitionKind.UNKNOWN:
        return "acquisition unknown: no acquisition tag, nothing seen in the pixels"
    return (
        f"acquisition from the DICOM header: {info.acquisition.value} "
        "(Sequence of Ultrasound Regions, Image Type)"
    )
