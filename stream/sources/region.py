"""Where the ultrasound picture is, and what kind of picture it is.

:func:`select_region` reads the DICOM Sequence of Ultrasound Regions, picks the 2D tissue
region (the largest one when there are several) and clamps it to the image. The scan sector
inside it (or in a file without regions) is found from the pixels by
:mod:`echostream.stream.sources.sector`.

:func:`acquisition_kind` tells B-mode from Doppler, M-mode and colour flow, from the region data
types and the DICOM Image Type.

Example::

    region, notes = select_region(ds.SequenceOfUltrasoundRegions, rows=240, cols=320)
    kind = acquisition_kind(ds.SequenceOfUltrasoundRegions, ds.ImageType)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..frame import AcquisitionKind, Region

# RegionSpatialFormat (PS3.3 C.8.5.5.1.1)
SPATIAL_2D, SPATIAL_MMODE, SPATIAL_SPECTRAL, SPATIAL_WAVEFORM = 1, 2, 3, 4
# RegionDataType (PS3.3 C.8.5.5.1.2)
DATA_TYPES = {
    0x0000: "none",
    0x0001: "tissue",
    0x0002: "color",
    0x0003: "pw",
    0x0004: "cw",
    0x0005: "doppler_mean_trace",
    0x0006: "doppler_mode_trace",
    0x0007: "doppler_max_trace",
    0x0008: "volume_trace",
    0x000A: "ecg",
    0x000B: "pulse",
    0x000C: "phonocardiogram",
    0x000D: "gray_bar",
    0x000E: "color_bar",
    0x000F: "integrated_backscatter",
    0x0010: "area_trace",
    0x0011: "d_area_dt",
    0x0012: "other_physiological",
}
# Image Type value 4 of US images is a hex bit map of the modes used (PS3.3 C.8.5.6.1.1)
_IT_2D, _IT_MMODE, _IT_CW, _IT_PW, _IT_COLOR, _IT_COLOR_MMODE, _IT_POWER = (
    0x0001,
    0x0002,
    0x0004,
    0x0008,
    0x0010,
    0x0020,
    0x0100,
)


@dataclass(frozen=True)
class RawRegion:
    """One Sequence of Ultrasound Regions item, in DICOM terms (max coordinates inclusive)."""

    spatial_format: int
    data_type: int
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0 + 1) * max(0, self.y1 - self.y0 + 1)

    @classmethod
    def from_item(cls, item: Any) -> RawRegion | None:
        """Read one sequence item; None when its location is missing."""
        try:
            return cls(
                int(item.get("RegionSpatialFormat", 0) or 0),
                int(item.get("RegionDataType", 0) or 0),
                int(item.RegionLocationMinX0),
                int(item.RegionLocationMinY0),
                int(item.RegionLocationMaxX1),
                int(item.RegionLocationMaxY1),
            )
        except (AttributeError, TypeError, ValueError):
            return None


def read_regions(sequence: Iterable[Any] | None) -> list[RawRegion]:
    """All usable items of a Sequence of Ultrasound Regions (an empty list for None)."""
    regions = [RawRegion.from_item(item) for item in (sequence or ())]
    return [r for r in regions if r is not None]


def _downscale_factor(raw: RawRegion, rows: int, cols: int) -> int:
    """k > 1 when a region far outside the image fits it once divided by k (a resized image).

    Scanners write regions in their own screen pixels; an export that shrinks the pixels
    without rewriting the header leaves the region k times too large (pydicom's ``ybr_color``
    example is color3d's 640×480 cine at half size with the 640×480 region). Small overshoots
    (a few pixels) are only clamped.
    """
    over_x = (raw.x1 + 1 - cols) / cols
    over_y = (raw.y1 + 1 - rows) / rows
    if max(over_x, over_y) <= 0.10 or not (0 <= raw.x0 < cols and 0 <= raw.y0 < rows):
        return 1
    for k in (2, 3, 4):
        if (raw.x1 + 1) / k <= cols + 1 and (raw.y1 + 1) / k <= rows + 1:
            return k
    return 1


def select_region(
    sequence: Iterable[Any] | None, *, rows: int, cols: int, rescale_oversized: bool = True
) -> tuple[Region | None, list[str]]:
    """The 2D tissue region fitted inside ``rows × cols``, and notes (warnings) about it.

    Preference: 2D tissue regions, then any 2D region (e.g. colour flow), the largest first.
    A region far larger than the image that fits once divided by 2, 3 or 4 is rescaled
    (``rescale_oversized``), then every region is clamped to the image. None when there is no
    usable 2D region.

    >>> class Item(dict):
    ...     __getattr__ = dict.__getitem__
    >>> item = Item(RegionSpatialFormat=1, RegionDataType=1, RegionLocationMinX0=84,
    ...             RegionLocationMinY0=31, RegionLocationMaxX1=595, RegionLocationMaxY1=414)
    >>> region, notes = select_region([item], rows=240, cols=320, rescale_oversized=False)
    >>> (region.x0, region.y0, region.x1, region.y1)
    (84, 31, 320, 240)
    >>> region, notes = select_region([item], rows=240, cols=320)
    >>> (region.x0, region.y0, region.x1, region.y1)
    (42, 15, 298, 208)
    """
    regions = read_regions(sequence)
    notes: list[str] = []
    two_d = [r for r in regions if r.spatial_format == SPATIAL_2D]
    tissue = [r for r in two_d if r.data_type == 0x0001]
    candidates = sorted(tissue or two_d, key=lambda r: r.area, reverse=True)
    for raw in candidates:
        described = f"ultrasound region [{raw.x0}..{raw.x1}]x[{raw.y0}..{raw.y1}]"
        k = _downscale_factor(raw, rows, cols) if rescale_oversized else 1
        x0, y0 = raw.x0 // k, raw.y0 // k
        x1, y1 = -(-(raw.x1 + 1) // k), -(-(raw.y1 + 1) // k)
        if k > 1:
            notes.append(
                f"{described} exceeds the {cols}x{rows} image; the image looks downscaled "
                f"by {k}: region divided by {k}"
            )
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(cols, x1), min(rows, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            notes.append(f"{described} lies outside the {cols}x{rows} image; ignored")
            continue
        if k == 1 and (x0, y0, x1, y1) != (raw.x0, raw.y0, raw.x1 + 1, raw.y1 + 1):
            notes.append(
                f"{described} exceeds the {cols}x{rows} image; clamped to "
                f"[{x0}..{x1 - 1}]x[{y0}..{y1 - 1}]"
            )
        data_type = DATA_TYPES.get(raw.data_type, f"0x{raw.data_type:04X}")
        return Region(x0, y0, x1, y1, origin="dicom", data_type=data_type), notes
    if len(regions) > 1 or (regions and not two_d):
        notes.append("no 2D region in the Sequence of Ultrasound Regions")
    return None, notes


def _image_type_bits(image_type: Sequence[str] | str | None) -> int:
    if not image_type:
        return 0
    values = [image_type] if isinstance(image_type, str) else list(image_type)
    if len(values) < 4:
        return 0
    try:
        return int(str(values[3]).strip(), 16)
    except ValueError:
        return 0


def acquisition_kind(
    sequence: Iterable[Any] | None, image_type: Sequence[str] | str | None
) -> AcquisitionKind:
    """B-mode, Doppler, M-mode or colour, from region data types and Image Type.

    Spectral Doppler wins over M-mode, M-mode over colour, colour over B-mode: a frame with a
    spectrum or an M-mode trace on it is not a view to classify, even with a small 2D image.

    >>> acquisition_kind(None, ["DERIVED", "PRIMARY", "EPICARDIAL", "0001"]).value
    'bmode'
    >>> acquisition_kind(None, ["ORIGINAL", "PRIMARY", "", "0011"]).value
    'color'
    """
    regions = read_regions(sequence)
    bits = _image_type_bits(image_type)
    spectral = any(
        r.spatial_format == SPATIAL_SPECTRAL or r.data_type in (0x0003, 0x0004) for r in regions
    )
    if spectral or bits & (_IT_CW | _IT_PW):
        return AcquisitionKind.DOPPLER
    if any(r.spatial_format == SPATIAL_MMODE for r in regions) or bits & (
        _IT_MMODE | _IT_COLOR_MMODE
    ):
        return AcquisitionKind.MMODE
    two_d = [r for r in regions if r.spatial_format == SPATIAL_2D]
    if any(r.data_type == 0x0002 for r in two_d) or bits & (_IT_COLOR | _IT_POWER):
        return AcquisitionKind.COLOR
    if any(r.data_type == 0x0001 for r in two_d) or bits & _IT_2D:
        return AcquisitionKind.BMODE
    return AcquisitionKind.UNKNOWN
