"""Draw the live label overlay onto a frame with Pillow.

The panel (top-left) shows the current view and a confidence bar, the top-3 probabilities, an
"uncertain" state ("uncertain: A4C 42%": one of the views, unsure), "unknown view" (not one of
the model's views: no view name, no confidence bar) and the stream's fps and frame-to-label
latency. Gray and RGB frames both
come back as RGB ``uint8``.

Annotated frames leave the process (a video file, the live view page, the demo), so by default
they show only the ultrasound picture: :class:`ScreenMask` blanks everything outside the
source's ultrasound region, where scanners burn in the patient's name, ID and date. The region
is the source's (DICOM Sequence of Ultrasound Regions, or a region estimator's); where a source
has none, the mask estimates one from the first frames it sees, and blanks the whole picture
until it has one (only the label panel shows). ``keep_screen=True`` keeps the whole screen.

Example::

    mask = ScreenMask()
    rgb = draw_overlay(frame.pixels, prediction, labels, fps=50.0, latency_ms=2.1,
                       visible=mask.box(frame))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .frame import Frame, Region
from .temporal import Prediction

#: ``(x0, y0, x1, y1)``: the pixels of a frame that stay visible (``x1``, ``y1`` exclusive).
Box = tuple[int, int, int, int]
NOTHING: Box = (0, 0, 0, 0)


@dataclass(frozen=True)
class OverlayStyle:
    """Colours and sizes; sizes are for a 480-pixel-high frame and scale with the frame."""

    top_k: int = 3
    title_px: int = 22
    text_px: int = 13
    panel_width: int = 190
    panel_darken: float = 0.35  # panel background = pixels × this
    color_ok: tuple[int, int, int] = (80, 220, 120)
    color_uncertain: tuple[int, int, int] = (255, 190, 40)
    color_unknown: tuple[int, int, int] = (255, 110, 110)
    color_text: tuple[int, int, int] = (235, 235, 235)
    color_bar_bg: tuple[int, int, int] = (70, 70, 70)
    color_bar: tuple[int, int, int] = (120, 170, 255)
    color_box: tuple[int, int, int] = (255, 80, 80)  # the crop box the model sees


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise ValueError(f"overlay needs uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 3:
        return a.copy()
    if a.ndim == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    raise ValueError(f"overlay needs H×W or H×W×3 pixels, got shape {a.shape}")


def draw_overlay(
    pixels: np.ndarray,
    pred: Prediction | None,
    labels: Sequence[str],
    *,
    fps: float | None = None,
    latency_ms: float | None = None,
    style: OverlayStyle | None = None,
    visible: Box | None = None,
    crop_box: Box | None = None,
) -> np.ndarray:
    """The frame as RGB ``(H, W, 3)`` uint8 with the label panel drawn on it.

    ``pred`` None draws "waiting" (no label yet). ``fps``/``latency_ms`` go on the last line.
    ``visible``: only this box keeps its pixels, the rest is black (see :class:`ScreenMask`);
    None keeps the whole frame. ``crop_box``: outlined (the part of the frame the model sees).
    """
    st = style or OverlayStyle()
    rgb = _as_rgb(pixels)
    if visible is not None:
        blank_outside(rgb, visible)
    if crop_box is not None:
        outline(rgb, crop_box, st.color_box, max(1, rgb.shape[0] // 240))
    h, w = rgb.shape[:2]
    s = max(0.5, h / 480.0)
    pad = max(3, int(6 * s))
    title, text = _font(int(st.title_px * s)), _font(int(st.text_px * s))
    line = int(st.text_px * s * 1.35)
    bar_h = max(3, int(6 * s))
    k = min(st.top_k, len(labels))
    head = "" if pred is None else headline(pred, labels)
    panel_w = min(w, max(int(st.panel_width * s), int(title.getlength(head)) + 2 * pad))
    panel_h = min(h, pad * 3 + int(st.title_px * s * 1.2) + bar_h + line * (k + 1))
    # Only the panel goes through Pillow: no full-frame copies on the live sink thread.
    panel = (rgb[:panel_h, :panel_w] * st.panel_darken).astype(np.uint8)
    img = Image.fromarray(panel)
    draw = ImageDraw.Draw(img)
    x, y = pad, pad
    if pred is None:
        draw.text((x, y), "waiting…", font=title, fill=st.color_text)
        y += int(st.title_px * s * 1.2)
    else:
        color = (
            st.color_unknown
            if pred.unknown
            else (st.color_uncertain if pred.uncertain else st.color_ok)
        )
        draw.text((x, y), head, font=title, fill=color)
        y += int(st.title_px * s * 1.2)
        bar_w = panel_w - 2 * pad
        draw.rectangle((x, y, x + bar_w, y + bar_h), fill=st.color_bar_bg)
        if not pred.unknown:  # no view: no confidence in one
            draw.rectangle((x, y, x + int(bar_w * pred.confidence), y + bar_h), fill=color)
        y += bar_h + pad
        for i, p in pred.top(k):
            mini = int((panel_w - 2 * pad) * 0.35)
            bx = panel_w - pad - mini
            draw.text((x, y), f"{labels[i]:<8} {p:5.1%}", font=text, fill=st.color_text)
            draw.rectangle(
                (bx, y + line // 4, bx + mini, y + line // 4 + bar_h), fill=st.color_bar_bg
            )
            draw.rectangle(
                (bx, y + line // 4, bx + int(mini * p), y + line // 4 + bar_h), fill=st.color_bar
            )
            y += line
    facts = []
    if fps is not None:
        facts.append(f"{fps:.1f} fps")
    if latency_ms is not None:
        facts.append(f"{latency_ms:.1f} ms")
    if facts:
        draw.text((x, y), " · ".join(facts), font=text, fill=st.color_text)
    rgb[:panel_h, :panel_w] = np.asarray(img)
    return rgb


def headline(pred: Prediction, labels: Sequence[str]) -> str:
    """The panel's title: ``"A4C  91%"``, ``"uncertain: A4C  42%"`` or ``"unknown view"``.

    >>> import numpy as np
    >>> p = Prediction(probs=np.array([0.2, 0.8]), index=1, confidence=0.8)
    >>> headline(p, ["PLAX", "A4C"]), headline(p.with_index(1, unknown=True), ["PLAX", "A4C"])
    ('A4C  80%', 'unknown view')
    """
    if pred.unknown:
        return "unknown view"
    name = labels[pred.index]
    return f"{'uncertain: ' if pred.uncertain else ''}{name}  {pred.confidence:.0%}"


def outline(rgb: np.ndarray, box: Box, color: tuple[int, int, int], width: int = 1) -> None:
    """Draw ``box``'s edges (``width`` px, inside the box) on ``rgb`` in place."""
    h, w = rgb.shape[:2]
    x0, y0 = min(max(0, box[0]), w - 1), min(max(0, box[1]), h - 1)
    x1, y1 = min(max(x0 + 1, box[2]), w), min(max(y0 + 1, box[3]), h)
    rgb[y0 : y0 + width, x0:x1] = color
    rgb[max(y0, y1 - width) : y1, x0:x1] = color
    rgb[y0:y1, x0 : x0 + width] = color
    rgb[y0:y1, max(x0, x1 - width) : x1] = color


def blank_outside(rgb: np.ndarray, box: Box) -> np.ndarray:
    """Set every pixel of ``rgb`` outside ``box`` to black, in place; returns ``rgb``."""
    h, w = rgb.shape[:2]
    x0, y0 = min(max(0, box[0]), w), min(max(0, box[1]), h)
    x1, y1 = min(max(x0, box[2]), w), min(max(y0, box[3]), h)
    rgb[:y0] = 0
    rgb[y1:] = 0
    rgb[y0:y1, :x0] = 0
    rgb[y0:y1, x1:] = 0
    return rgb


def region_box(frame: Frame) -> Box | None:
    """The source's crop region in ``frame``'s own pixels (None when it has none)."""
    r = frame.info.region
    if r is None or r.origin == "full":
        return None
    r = r.scaled(frame.scale) if frame.scale != 1.0 else r
    return (r.x0, r.y0, r.x1, r.y1)


def _default_estimator() -> Callable[..., Region | None]:
    from .sources.sector import detect_region

    return detect_region


class ScreenMask:
    """Which part of one stream's frames may leave the process in annotated output.

    :meth:`box` gives the visible box for a frame: the source's ultrasound region
    (``frame.info.region``, unless it is only the whole image, ``origin="full"``), else one
    estimated from the frames seen so far (``estimator``,
    the package's :func:`~echostream.stream.sources.sector.detect_region` by default; tried
    on the first ``frames`` frames, again after 2×, 4×, … as many while it finds none), else
    nothing (the frame is blanked whole). ``keep_screen=True``: the whole frame, always (None).
    One mask per stream, used from one thread.
    """

    def __init__(
        self,
        keep_screen: bool = False,
        *,
        estimator: Callable[..., Region | None] | None = None,
        frames: int = 8,
    ) -> None:
        self.keep_screen = bool(keep_screen)
        self._estimator = estimator
        self._want = max(1, int(frames))
        self._next_try = self._want
        self._seen = 0
        self._recent: list[np.ndarray] = []
        self.estimated: Region | None = None
        self.region: Region | None = None  # the region the last box came from
        self.blanked_frames = 0  # frames blanked whole (no region known yet)

    def box(self, frame: Frame) -> Box | None:
        """The visible box of ``frame`` in its own pixels (None: keep everything)."""
        if self.keep_screen:
            return None
        known = frame.info.region
        if known is not None and known.origin == "full":  # "no region found": not a region
            known = None
        region = known or self.estimated or self._estimate(frame)
        self.region = region
        if region is None:
            self.blanked_frames += 1
            return NOTHING
        r = region.scaled(frame.scale) if frame.scale != 1.0 else region
        return (r.x0, r.y0, r.x1, r.y1)

    def _estimate(self, frame: Frame) -> Region | None:
        """Keep a small copy of the latest frames; try the estimator when enough were seen."""
        step = max(1, min(frame.pixels.shape[:2]) // 240)  # estimate on ≤ ~240 px side copies
        self._recent = [*self._recent[-(self._want - 1) :], frame.pixels[::step, ::step].copy()]
        self._seen += 1
        if self._seen < self._next_try:
            return None
        self._next_try *= 2
        estimator = self._estimator or _default_estimator()
        h, w = frame.pixels.shape[:2]
        full = (round(h / frame.scale), round(w / frame.scale))
        self.estimated = estimator(self._recent, scale=frame.scale / step, full_size=full)
        if self.estimated is not None:
            self._recent = []
        return self.estimated

    def describe(self) -> dict[str, Any]:
        """What the mask did, for reports: ``screen`` is ``"kept"``, ``"region"`` or
        ``"blanked"`` (no region found: only the label panel was shown)."""
        if self.keep_screen:
            return {"screen": "kept", "region": None, "blanked_frames": 0}
        region = self.region
        return {
            "screen": "region" if region is not None else "blanked",
            "region": None if region is None else f"{region.origin}",
            "blanked_frames": self.blanked_frames,
        }
