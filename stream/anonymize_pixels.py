"""Blank burned-in text: every pixel outside the ultrasound region, and optional top rows.

Scanners burn the patient's name, ID and birth date into the screen's banner, outside the
ultrasound picture. :class:`Blanking` keeps one box (the ``--region`` given, else the DICOM
Sequence of Ultrasound Regions' 2-D region, else the scan sector the readers detect in the
pixels) and sets everything else to black, plus the top ``N`` rows if asked (the thesis blanked
the top banner's rows too). :class:`FrameEncoder` re-encodes the blanked frames for DICOM:
RLE Lossless (default), native (uncompressed) or JPEG-LS lossless (where pyjpegls is
installed), all through pydicom's encoders; :func:`set_pixel_module` writes the matching image
tags. :class:`MaxImage` keeps the per-pixel maximum over frames, the thesis' check image: any
pixel the cine ever lit, so text left anywhere in any frame shows.

Example::

    blanking = choose_blanking(given=None, header=region, detected=info.region, top_rows=0)
    encoder = FrameEncoder("rle")
    for frame in source:
        encoder.add(blanking.apply(frame.pixels))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from .frame import Region
from .overlay import blank_outside

Box = tuple[int, int, int, int]
ENCODINGS = {"rle": RLELossless, "native": ExplicitVRLittleEndian, "jpeg-ls": JPEGLSLossless}
# Image-pixel tags that no longer describe re-encoded 8-bit RGB / MONOCHROME2 frames
_STALE_PIXEL_TAGS = (
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "PixelPaddingValue",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
)


def parse_box(text: str) -> Box:
    """``"x0,y0,x1,y1"`` (pixels, x1 and y1 exclusive) as a box; ValueError if it is not one.

    >>> parse_box("42,15,298,208")
    (42, 15, 298, 208)
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected x0,y0,x1,y1 (four whole numbers), not {text!r}")
    x0, y0, x1, y1 = (int(p) for p in parts)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"x1 must exceed x0 and y1 exceed y0 in {text!r}")
    return x0, y0, x1, y1


@dataclass(frozen=True)
class Blanking:
    """What stays visible: ``box`` (x0, y0, x1, y1; exclusive ends), from ``origin``
    (``given``, ``dicom`` or ``detected``), minus the top ``top_rows`` rows."""

    box: Box
    origin: str
    top_rows: int = 0

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """A blanked copy of one H×W or H×W×3 frame."""
        out = np.array(pixels, copy=True)
        blank_outside(out, self.box)
        out[: max(0, self.top_rows)] = 0
        return out

    def describe(self) -> str:
        """One line for reports and the audit (no patient field, only geometry).

        >>> Blanking((42, 15, 298, 208), "dicom", 20).describe()
        'blanked outside 42,15,298,208 (dicom region) and the top 20 rows'
        """
        text = f"blanked outside {','.join(map(str, self.box))} ({self.origin} region)"
        return text + (f" and the top {self.top_rows} rows" if self.top_rows > 0 else "")


def choose_blanking(
    *,
    given: Box | None,
    header: Region | None,
    detected: Region | None,
    size: tuple[int, int],
    top_rows: int = 0,
) -> Blanking | None:
    """The box to keep for an image of ``size`` (height, width): the one given (clamped), else
    the header's ultrasound region, else a detected scan sector; None when there is none."""
    height, width = size
    if given is not None:
        x0, y0 = min(given[0], width), min(given[1], height)
        box = (x0, y0, min(max(x0, given[2]), width), min(max(y0, given[3]), height))
        return Blanking(box, "given", top_rows)
    for region, origin in ((header, "dicom"), (detected, "detected")):
        if region is not None and region.origin in ("dicom", "detected"):
            return Blanking((region.x0, region.y0, region.x1, region.y1), origin, top_rows)
    return None


class MaxImage:
    """The per-pixel maximum over the frames added (the thesis' anonymization check)."""

    def __init__(self) -> None:
        self.image: np.ndarray | None = None

    def add(self, pixels: np.ndarray) -> None:
        if self.image is None:
            self.image = np.array(pixels, copy=True)
        elif self.image.shape == pixels.shape:
            np.maximum(self.image, pixels, out=self.image)

    def save(self, path: str | Path) -> None:
        """Write the image as PNG (an empty cine writes nothing)."""
        if self.image is not None:
            Image.fromarray(self.image).save(path, format="PNG")


class FrameEncoder:
    """Collects blanked 8-bit frames and encodes them for one DICOM file's pixel data."""

    def __init__(self, encoding: str = "rle") -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
        self.encoding = encoding
        self.transfer_syntax: UID = ENCODINGS[encoding]
        self.frames: list[bytes] = []
        self.shape: tuple[int, ...] | None = None
        if encoding != "native":
            from pydicom.pixels import get_encoder

            self._encoder = get_encoder(self.transfer_syntax)
            if not self._encoder.is_available:
                raise ValueError(
                    f"no encoder installed for {self.transfer_syntax.name} "
                    "(JPEG-LS needs pyjpegls: pip install pyjpegls)"
                )

    def add(self, pixels: np.ndarray) -> None:
        """Encode one H×W (gray) or H×W×3 (RGB) uint8 frame."""
        arr = np.ascontiguousarray(pixels, dtype=np.uint8)
        if self.shape is None:
            self.shape = arr.shape
        elif arr.shape != self.shape:
            raise ValueError(f"frame size changed from {self.shape} to {arr.shape}")
        if self.encoding == "native":
            self.frames.append(arr.tobytes())
            return
        color = arr.ndim == 3
        self.frames.append(
            self._encoder.encode(
                arr, rows=arr.shape[0], columns=arr.shape[1],
                samples_per_pixel=3 if color else 1, bits_allocated=8, bits_stored=8,
                pixel_representation=0, number_of_frames=1, planar_configuration=0,
                photometric_interpretation="RGB" if color else "MONOCHROME2",
            )
        )  # fmt: skip

    def pixel_data(self) -> bytes:
        """The Pixel Data value: frames back to back (native) or encapsulated."""
        if self.encoding == "native":
            return b"".join(self.frames)
        return encapsulate(self.frames)


def set_pixel_module(ds: Dataset, encoder: FrameEncoder) -> str:
    """Put ``encoder``'s frames into ``ds`` with the image tags that describe them; returns
    one line saying what the pixel data was and is now (encodings, never values)."""
    if encoder.shape is None:
        raise ValueError("no frames were encoded")
    was = f"{ds.file_meta.TransferSyntaxUID.name}, {ds.get('PhotometricInterpretation', '?')}"
    color = len(encoder.shape) == 3
    for keyword in _STALE_PIXEL_TAGS:
        if keyword in ds:
            delattr(ds, keyword)
    ds.Rows, ds.Columns = encoder.shape[:2]
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    if "NumberOfFrames" in ds or len(encoder.frames) > 1:
        ds.NumberOfFrames = len(encoder.frames)
    ds.PixelData = encoder.pixel_data()
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = encoder.encoding != "native"
    ds.file_meta.TransferSyntaxUID = encoder.transfer_syntax
    now = f"{encoder.transfer_syntax.name}, {ds.PhotometricInterpretation}"
    return f"re-encoded: {was} -> {now}, 8 bits"
