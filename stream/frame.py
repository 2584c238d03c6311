"""The one frame record every source yields, and the facts about its source.

No patient name, ID, birth date or study date is ever stored here: only facts about the
acquisition (vendor, timing, geometry, encoding).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

#: The frame rate assumed where a source gives none (or none that is plausible).
DEFAULT_FPS = 30.0
#: Frame rates a source may claim (ultrasound cines run ~10-500 fps); a claim outside them is
#: ignored with a warning (``live`` would otherwise wait minutes per frame, or smooth over
#: an infinite window).
MIN_FPS, MAX_FPS = 0.5, 1000.0
#: The largest frame a reader decodes (4096×4096): beyond any ultrasound screen, and what
#: bounds a reader's memory when a header declares a huge image over a few bytes of data.
MAX_FRAME_PIXELS = 4096 * 4096


def implausible_fps(fps: float, origin: str) -> str | None:
    """Why ``fps`` (from ``origin``) cannot be used, or None when it is plausible.

    >>> implausible_fps(25.0, "FrameTime") is None
    True
    >>> implausible_fps(1e9, "CineRate")
    'CineRate gives a frame rate of 1e+09 fps, outside the plausible 0.5-1000 fps; ignored'
    """
    if math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS:
        return None
    return (
        f"{origin} gives a frame rate of {fps:.3g} fps, outside the plausible "
        f"{MIN_FPS:g}-{MAX_FPS:g} fps; ignored"
    )


class AcquisitionKind(str, Enum):
    """What kind of ultrasound picture a source holds; only B-mode is a view to classify."""

    BMODE = "bmode"
    DOPPLER = "doppler"  # spectral (PW/CW) Doppler
    COLOR = "color"  # colour flow overlaid on B-mode
    MMODE = "mmode"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Region:
    """A pixel box ``[x0, x1) × [y0, y1)`` in full-resolution image coordinates.

    ``origin`` says where it came from: ``"dicom"`` (Sequence of Ultrasound Regions, clamped to
    the image), ``"detected"`` (the scan sector found in the pixels,
    :mod:`echostream.stream.sources.sector`) or ``"full"`` (the whole image).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    origin: str = "dicom"
    data_type: str = "tissue"

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def scaled(self, scale: float) -> Region:
        """The same box on an image resized by ``scale`` (e.g. 0.25 for a 1/4 JPEG draft)."""
        return Region(
            int(self.x0 * scale),
            int(self.y0 * scale),
            max(int(self.x0 * scale) + 1, int(round(self.x1 * scale))),
            max(int(self.y0 * scale) + 1, int(round(self.y1 * scale))),
            self.origin,
            self.data_type,
        )

    def crop(self, pixels: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Crop ``pixels`` (H×W or H×W×C, at ``scale`` of full resolution) to this region."""
        r = self.scaled(scale) if scale != 1.0 else self
        return pixels[r.y0 : r.y1, r.x0 : r.x1]


@dataclass
class SourceInfo:
    """Facts about a source, safe to log and to print (no patient identifiers).

    ``name`` is what the user called the source (file name or URL). ``n_frames`` is None for
    live sources. ``fps_origin`` says where ``fps`` came from (e.g. ``"FrameTime"``,
    ``"CineRate"``, ``"pts"``, ``"default"``); a defaulted fps also adds a warning.
    """

    name: str
    kind: str  # "dicom" | "video" | "image" | "live"
    n_frames: int | None
    fps: float
    width: int
    height: int
    fps_origin: str = "default"
    vendor: str | None = None  # Manufacturer + ManufacturerModelName
    transfer_syntax: str | None = None  # name, e.g. "JPEG Baseline (Process 1)"
    photometric: str | None = None
    region: Region | None = None
    acquisition: AcquisitionKind = AcquisitionKind.UNKNOWN
    modality: str | None = None
    codec: str | None = None
    warnings: list[str] = field(default_factory=list)
    fan: dict[str, Any] | None = None  # the detected sector's geometry (``Fan.to_dict()``)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["acquisition"] = self.acquisition.value
        return d


@dataclass
class Frame:
    """One decoded frame.

    ``pixels`` is uint8, H×W (luminance) or H×W×3 (RGB). ``scale`` is the size of ``pixels``
    relative to the full-resolution image (1.0, or 1/2, 1/4, 1/8 on the JPEG luminance fast
    path), so ``info.region.crop(frame.pixels, frame.scale)`` always crops the right box.
    ``timestamp`` is in seconds from the first frame.
    """

    pixels: np.ndarray
    index: int
    timestamp: float
    info: SourceInfo
    scale: float = 1.0

    def region_pixels(self) -> np.ndarray:
        """The pixels inside the source's ultrasound region (the whole frame if none)."""
        region = self.info.region
        return self.pixels if region is None else region.crop(self.pixels, self.scale)
