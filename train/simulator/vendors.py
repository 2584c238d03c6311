"""Scanner screen styles: where the fan sits, grey map and tint, burned-in text, ECG, scale.

Three styles are modelled on the thesis' scanners (Philips EPIQ 7G, Philips iE33, Siemens
ACUSON SC2000) — their screen sizes and the usual elements, no logos. Everything on the screen
depends on the vendor and on per-cine settings drawn from one distribution for every view, so
the view can only be told from the anatomy inside the fan.

Example::

    screen = Screen(VENDORS["epiq7g"], acq, ScreenText(...), size=(1024, 768))
    rgb = screen.compose(display_polar, t=0.4, hr=72)   # (768, 1024, 3) uint8
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .cycle import ecg
from .physics import Acquisition
from .scan import ScanConverter

Arr = np.ndarray


@dataclass(frozen=True)
class VendorStyle:
    key: str
    manufacturer: str
    model_name: str
    size: tuple[int, int]  # native screen (width, height)
    apex: tuple[float, float]  # fan apex, fractions of (width, height)
    fan_bottom: float  # deepest point of the fan, fraction of height
    r_min_frac: float  # truncated apex: fraction of depth not drawn
    gamma: float
    tint: tuple[float, float, float]
    black: int  # grey level of the darkest echo
    text: tuple[int, int, int]
    ecg_colour: tuple[int, int, int]
    ecg_box: tuple[float, float, float, float]  # x0, y0, x1, y1 fractions
    side: str  # column of acquisition text: "left" | "right"
    ruler: str  # depth scale beside the fan: "left" | "right"
    marker: str  # probe orientation marker: "dot" | "triangle"
    probes: tuple[str, ...]
    font_scale: float


VENDORS: dict[str, VendorStyle] = {
    "epiq7g": VendorStyle(
        "epiq7g",
        "Philips Healthcare",
        "EPIQ 7G",
        (1024, 768),
        (0.5, 0.115),
        0.885,
        0.0,
        1.45,
        (0.95, 0.98, 1.0),
        0,
        (220, 220, 220),
        (40, 230, 80),
        (0.08, 0.905, 0.78, 0.985),
        "left",
        "right",
        "dot",
        ("X5-1", "S5-1"),
        1.0,
    ),
    "ie33": VendorStyle(
        "ie33",
        "Philips Medical Systems",
        "iE33",
        (800, 600),
        (0.46, 0.14),
        0.865,
        0.0,
        1.6,
        (1.0, 0.95, 0.84),
        4,
        (235, 225, 150),
        (60, 220, 60),
        (0.05, 0.885, 0.7, 0.975),
        "right",
        "left",
        "dot",
        ("S5-1", "X3-1"),
        0.95,
    ),
    "sc2000": VendorStyle(
        "sc2000",
        "SIEMENS",
        "ACUSON SC2000",
        (1016, 758),
        (0.52, 0.105),
        0.87,
        0.035,
        1.55,
        (1.0, 1.0, 0.98),
        2,
        (200, 210, 225),
        (230, 220, 60),
        (0.12, 0.895, 0.88, 0.975),
        "left",
        "right",
        "triangle",
        ("4V1c", "4Z1c"),
        1.05,
    ),
}


@dataclass(frozen=True)
class ScreenText:
    """What the header and side text say (fake identity; settings of this cine)."""

    institution: str
    patient: str  # fake, e.g. "DOE, JANE"
    patient_id: str
    date: str  # e.g. "12/05/2019"
    time: str  # e.g. "10:32:11"
    probe: str
    fps: float
    gain_pct: int
    power: str
    preset: str


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``size`` px (at least 8).

    ``load_default`` is typed ``FreeTypeFont | ImageFont`` because it falls back to the old bitmap
    font without FreeType; with a ``size`` and FreeType (every Pillow wheel) it is a FreeTypeFont.
    """
    return cast(ImageFont.FreeTypeFont, ImageFont.load_default(size=max(8, size)))


class Screen:
    """One cine's screen: static overlay, scan converter, grey map and ECG strip."""

    def __init__(
        self,
        style: VendorStyle,
        acq: Acquisition,
        text: ScreenText,
        *,
        size: tuple[int, int] | None = None,
        hr: float = 70.0,
        ecg_window_s: float = 2.5,
    ) -> None:
        self.style = style
        self.width, self.height = size or style.size
        w, h = self.width, self.height
        apex = (style.apex[0] * w, style.apex[1] * h)
        half = np.deg2rad(acq.sector_deg) / 2
        ppc = (style.fan_bottom - style.apex[1]) * h / acq.depth_cm
        ppc = min(ppc, 0.47 * w / (acq.depth_cm * np.sin(half)))  # keep the fan on screen
        self.px_per_cm = float(ppc)
        self.apex = apex
        self.scan = ScanConverter(
            w,
            h,
            apex=apex,
            px_per_cm=ppc,
            sector_deg=acq.sector_deg,
            depth_cm=acq.depth_cm,
            n_samples=acq.n_samples,
            n_beams=acq.n_beams,
            r_min_cm=style.r_min_frac * acq.depth_cm,
        )
        self.acq, self.text, self.hr = acq, text, hr
        self.lut = self._lut()
        self.base = self._draw_base()
        x0, y0, x1, y1 = style.ecg_box
        self.ecg_box = (int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h))
        self.ecg_window_s = ecg_window_s
        self._ecg_rows = np.arange(self.ecg_box[3] - self.ecg_box[1], dtype=np.float32)[:, None]
        self._draw_hr()
        self.base.reshape(-1, 3)[self.scan.pixels] = 0
        self.base_flat = self.base.reshape(-1, 3)

    @property
    def region(self) -> tuple[int, int, int, int]:
        """Bounding box (x0, y0, x1, y1) of the drawn sector, exclusive max."""
        return self.scan.bbox

    def _lut(self) -> Arr:
        s = self.style
        x = np.linspace(0, 1, 256)
        g = s.black + (255 - s.black) * x**s.gamma
        g[0] = 0
        lut = np.stack([np.clip(g * t, 0, 255) for t in s.tint], axis=1)
        return np.round(lut).astype(np.uint8)

    def _draw_base(self) -> Arr:
        s, w, h, t, acq = self.style, self.width, self.height, self.text, self.acq
        img = Image.new("RGB", (w, h), (0, 0, 0))
        d = ImageDraw.Draw(img)
        fs = max(8, int(round(h * 0.021 * s.font_scale)))
        font, small = _font(fs), _font(max(8, int(fs * 0.85)))
        # header: the rows anonymisation must blank
        d.text((int(0.01 * w), int(0.008 * h)), f"{t.institution}", font=font, fill=s.text)
        d.text(
            (int(0.01 * w), int(0.008 * h) + fs + 2),
            f"{t.patient}    ID: {t.patient_id}",
            font=font,
            fill=s.text,
        )
        d.text((int(0.62 * w), int(0.008 * h)), f"{t.date}  {t.time}", font=font, fill=s.text)
        d.text(
            (int(0.62 * w), int(0.008 * h) + fs + 2),
            f"{t.probe}  {t.preset}",
            font=small,
            fill=s.text,
        )
        lines = [
            f"FR {t.fps:.0f}Hz",
            f"{acq.depth_cm:.0f}cm",
            "",
            "2D",
            f"{t.gain_pct}%",
            f"C {acq.dynamic_range_db:.0f}",
            f"P {t.power}",
            f"{acq.f0_mhz:.1f} MHz",
            "HGen",
        ]
        x_side = int(0.015 * w) if s.side == "left" else int(0.84 * w)
        for i, line in enumerate(lines):
            d.text((x_side, int(0.13 * h) + i * (fs + 4)), line, font=small, fill=s.text)
        self._draw_ruler(d, small)
        self._draw_marker(d)
        # grey bar
        bx = x_side + int(0.005 * w)
        by0 = int(0.13 * h) + len(lines) * (fs + 4) + fs
        by1 = min(by0 + int(0.18 * h), int(0.85 * h))
        arr = np.asarray(img).copy()
        if by1 - by0 >= 4:
            bar = self.lut[np.linspace(255, 0, by1 - by0).astype(int)]
            arr[by0:by1, bx : bx + max(3, int(0.01 * w))] = bar[:, None, :]
        return arr

    def _draw_ruler(self, d: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont) -> None:
        s, acq = self.style, self.acq
        ax, ay = self.apex
        half = np.deg2rad(acq.sector_deg) / 2
        reach = acq.depth_cm * np.sin(half) * self.px_per_cm + 0.02 * self.width
        x = ax + reach if s.ruler == "right" else ax - reach
        sign = 1 if s.ruler == "right" else -1
        for cm in range(int(acq.depth_cm) + 1):
            y = ay + cm * self.px_per_cm
            if y >= self.height * s.fan_bottom + 2:
                break
            major = cm % 5 == 0
            length = (0.012 if major else 0.006) * self.width
            if s.marker == "triangle" and not major:  # Siemens-like dotted scale
                d.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=s.text)
            else:
                d.line([(x, y), (x + sign * length, y)], fill=s.text, width=1)
            if major and cm:
                tx = x + sign * (length + 3) - (0 if sign > 0 else 2.2 * font.size)
                d.text((tx, y - font.size / 2), str(cm), font=font, fill=s.text)

    def _draw_marker(self, d: ImageDraw.ImageDraw) -> None:
        s, acq = self.style, self.acq
        ax, ay = self.apex
        half = np.deg2rad(acq.sector_deg) / 2
        r = 0.012 * self.height
        # beside the fan's upper right edge, a little outside it
        dist = 0.16 * acq.depth_cm * self.px_per_cm
        mx = ax + dist * np.sin(half) + 3 * r
        my = ay + dist * np.cos(half) * 0.35
        colour = (90, 160, 255) if s.marker == "dot" else s.text
        if s.marker == "dot":
            d.ellipse([mx - r, my - r, mx + r, my + r], fill=colour)
        else:
            d.polygon([(mx - r, my - r), (mx + r, my - r), (mx, my + r)], fill=colour)

    def compose(self, polar: Arr, t: float, *, ui: bool = True) -> Arr:
        """The screen at time ``t`` (s from an R wave) with ``polar`` display values in [0, 1];
        ``ui=False``: the fan alone on black (no text, scale, marker or ECG)."""
        vals = self.scan.values(polar)
        full = np.zeros(self.width * self.height, dtype=np.uint8)
        full[self.scan.pixels] = np.clip(vals * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out = np.take(self.lut, full, axis=0)  # lut[0] is black, the base is black in the fan
        if ui:
            out += self.base_flat
        out = out.reshape(self.height, self.width, 3)
        if ui:
            self._draw_ecg(out, t)
        return out

    def _draw_ecg(self, out: Arr, t: float) -> None:
        x0, y0, x1, y1 = self.ecg_box
        n = x1 - x0
        if n < 4 or y1 - y0 < 4:
            return
        cols = np.arange(n)
        pos = (t / self.ecg_window_s % 1.0) * n  # sweep position
        age = ((pos - cols) % n) * (self.ecg_window_s / n)
        v = ecg(t - age, self.hr)
        hgt = y1 - y0
        y = (0.7 * hgt - v * 0.55 * hgt).astype(np.float32)
        lo = np.minimum(y, np.roll(y, 1)) - 0.8
        hi = np.maximum(y, np.roll(y, 1)) + 0.8
        mask = (self._ecg_rows >= lo[None, :]) & (self._ecg_rows <= hi[None, :])
        gap = ((cols - pos) % n) < 0.03 * n  # erase bar ahead of the sweep
        mask &= ~gap[None, :]
        mask[:, 0] = False
        sub = out[y0:y1, x0:x1]
        sub[mask] = self.style.ecg_colour

    def _draw_hr(self) -> None:
        """Burn the heart rate next to the ECG strip into the static base."""
        img = Image.fromarray(self.base)
        d = ImageDraw.Draw(img)
        x1, y0 = self.ecg_box[2], self.ecg_box[1]
        fs = max(8, int(round(self.height * 0.021 * self.style.font_scale)))
        d.text(
            (x1 + 0.02 * self.width, y0 + 2),
            f"HR {self.hr:.0f} bpm",
            font=_font(fs),
            fill=self.style.ecg_colour,
        )
        self.base = np.asarray(img).copy()
