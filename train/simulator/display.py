"""How a cine's screen reaches the file: the scanner's screen as it is, letterboxed into an
exported video's frame, or EchoNet-style (the sector cropped to a square, 112×112, no UI).

* ``screen``: the vendor screen (``vendors.Screen``) at the asked size.
* ``letterbox``: exported and screen-captured videos put the scanner's screen, of another aspect
  ratio, inside a black frame (bars above and below, or at the sides); the frame keeps the
  asked size, the screen inside it is smaller.
* ``echonet``: public research cines (EchoNet-Dynamic style) keep only the fan: a square from
  the sector's apex down, its sides cutting the fan's corners, downsampled to 112×112, with
  no text, ECG, scale or marker.

Example::

    mode = DisplayMode.sample(rng)
    display = Display(mode, screen_for(mode, (640, 480)), outer=(640, 480))
    rgb = display.present(polar, t)        # (H, W, 3) uint8; display.region is the fan's box
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from .vendors import Screen

Arr = np.ndarray
DISPLAY_KINDS = ("screen", "letterbox", "echonet")
ECHONET_SIZE = 112
ECHONET_SCREEN = (512, 384)  # the screen rendered before the crop (then about 2.3× smaller)
INNER_ASPECTS = (16 / 9, 16 / 10, 5 / 4, 1.0, 3 / 2)  # the scanner screen inside the frame


@dataclass(frozen=True)
class DisplayMode:
    """One cine's display: its kind and the random numbers that place the picture."""

    kind: str = "screen"
    aspect: float = 16 / 9  # letterbox: aspect ratio of the screen inside the frame
    fill: float = 1.0  # letterbox: the screen's share of the frame along its limiting side
    side: float = 0.95  # echonet: square side / the fan's depth in pixels
    top: float = 0.02  # echonet: square top below the apex / the fan's depth
    dx: float = 0.0  # echonet: square centre right of the apex / the fan's depth

    @staticmethod
    def sample(rng: np.random.Generator, p_letterbox: float = 0.1, p_echonet: float = 0.06):
        """``screen`` mostly; ``letterbox`` and ``echonet`` with their probabilities."""
        u = rng.random()
        kind = (
            "letterbox"
            if u < p_letterbox
            else "echonet"
            if u < p_letterbox + p_echonet
            else "screen"
        )
        return DisplayMode(
            kind=kind,
            aspect=float(rng.choice(INNER_ASPECTS)),
            fill=float(rng.uniform(0.88, 1.0)),
            side=float(rng.uniform(0.85, 1.05)),
            top=float(rng.uniform(-0.03, 0.08)),
            dx=float(rng.uniform(-0.04, 0.04)),
        )

    def screen_size(self, outer: tuple[int, int]) -> tuple[int, int]:
        """The scanner screen's (width, height) for a file frame of ``outer`` (w, h)."""
        if self.kind == "echonet":
            return ECHONET_SCREEN
        if self.kind != "letterbox":
            return outer
        w, h = outer
        if self.aspect >= w / h:  # wider than the frame: bars above and below
            sw = w * self.fill
            sh = sw / self.aspect
        else:  # narrower: bars at the sides
            sh = h * self.fill
            sw = sh * self.aspect
        return max(64, int(round(sw)) // 2 * 2), max(48, int(round(sh)) // 2 * 2)


class Display:
    """Turns a cine's display values into file frames, and says where the fan is in them."""

    def __init__(self, mode: DisplayMode, screen: Screen, outer: tuple[int, int]) -> None:
        self.mode, self.screen = mode, screen
        x0, y0, x1, y1 = screen.region
        self.px_per_cm = float(screen.px_per_cm)
        self.apex_y = float(screen.apex[1])
        if mode.kind == "letterbox":
            self.size = outer
            self.offset = ((outer[0] - screen.width) // 2, (outer[1] - screen.height) // 2)
            ox, oy = self.offset
            self.region = (x0 + ox, y0 + oy, x1 + ox, y1 + oy)
            self.apex_y += oy
        elif mode.kind == "echonet":
            self.size = (ECHONET_SIZE, ECHONET_SIZE)
            self._crop, self.region = self._echonet_crop()
        else:
            self.size = (screen.width, screen.height)
            self.region = screen.region

    def _echonet_crop(self) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """The square cut out of the screen, and the fan's box in the 112×112 frame."""
        m, (ax, ay) = self.mode, self.screen.apex
        x0, y0, x1, y1 = self.screen.region
        depth = y1 - ay  # the fan's depth in screen pixels
        side = int(round(m.side * depth))
        left = int(round(ax + m.dx * depth - side / 2))
        top = int(round(ay + m.top * depth))
        crop = (left, top, left + side, top + side)
        k = ECHONET_SIZE / side
        box = [(x0 - left) * k, (y0 - top) * k, (x1 - left) * k, (y1 - top) * k]
        lo = [int(np.clip(np.floor(v), 0, ECHONET_SIZE - 1)) for v in box[:2]]
        hi = [int(np.clip(np.ceil(v), lo[i] + 1, ECHONET_SIZE)) for i, v in enumerate(box[2:])]
        self.px_per_cm *= k
        self.apex_y = (ay - top) * k
        return crop, (lo[0], lo[1], hi[0], hi[1])

    def present(self, polar: Arr, t: float, overlay: Callable[[Arr], None] | None = None) -> Arr:
        """The file frame (H, W, 3) uint8 for display values ``polar`` at time ``t``;
        ``overlay`` may paint on the screen (H, W, 3) before it is framed (colour flow)."""
        kind = self.mode.kind
        screen = self.screen.compose(polar, t, ui=kind != "echonet")
        if overlay is not None and kind != "echonet":
            overlay(screen)
        if kind == "screen":
            return screen
        if kind == "letterbox":
            out = np.zeros((self.size[1], self.size[0], 3), dtype=np.uint8)
            ox, oy = self.offset
            out[oy : oy + screen.shape[0], ox : ox + screen.shape[1]] = screen
            return out
        img = Image.fromarray(screen).crop(self._crop)  # outside the screen: black
        img = img.resize((ECHONET_SIZE, ECHONET_SIZE), Image.Resampling.BOX)
        return np.asarray(img)
