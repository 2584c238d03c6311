"""Draw the live label overlay onto a frame with Pillow.

The panel (top-left) shows the current view and a confidence bar, the top-3 probabilities, an
"uncertain" state, and the stream's fps and frame-to-label latency. Gray and RGB frames both
come back as RGB ``uint8``.

Example::

    rgb = draw_overlay(frame.pixels, prediction, labels, fps=50.0, latency_ms=2.1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .temporal import Prediction


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
    color_text: tuple[int, int, int] = (235, 235, 235)
    color_bar_bg: tuple[int, int, int] = (70, 70, 70)
    color_bar: tuple[int, int, int] = (120, 170, 255)


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
) -> np.ndarray:
    """The frame as RGB ``(H, W, 3)`` uint8 with the label panel drawn on it.

    ``pred`` None draws "waiting" (no label yet). ``fps``/``latency_ms`` go on the last line.
    """
    st = style or OverlayStyle()
    rgb = _as_rgb(pixels)
    h, w = rgb.shape[:2]
    s = max(0.5, h / 480.0)
    pad = max(3, int(6 * s))
    title, text = _font(int(st.title_px * s)), _font(int(st.text_px * s))
    line = int(st.text_px * s * 1.35)
    bar_h = max(3, int(6 * s))
    k = min(st.top_k, len(labels))
    head = ""
    if pred is not None:
        name = labels[pred.index]
        head = f"{'uncertain: ' if pred.uncertain else ''}{name}  {pred.confidence:.0%}"
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
        color = st.color_uncertain if pred.uncertain else st.color_ok
        draw.text((x, y), head, font=title, fill=color)
        y += int(st.title_px * s * 1.2)
        bar_w = panel_w - 2 * pad
        draw.rectangle((x, y, x + bar_w, y + bar_h), fill=st.color_bar_bg)
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
