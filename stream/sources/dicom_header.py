"""The DICOM header as the frame reader needs it: acquisition tags only, read bounded and quiet.

:func:`read_header` reads only :data:`HEADER_TAGS` (never patient or study fields) and leaves
large values (the pixel data) on disk; a Deflated dataset is inflated here, with a size cap.
:func:`pydicom_messages` collects what pydicom logs while reading on the current thread
instead of letting it reach the console (tracebacks included) — without touching pydicom's
logger level. :func:`frame_timing` turns the cine timing tags into a plausible frame rate;
:func:`image_tags` checks the image tags (size, frames, samples, bits, colour) agree.

Example::

    ds, inflated = read_header(Path("a4c.dcm"), "a4c.dcm")
    fps, origin, times, notes = frame_timing(ds, int(ds.NumberOfFrames))
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import numpy as np
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_file_meta_info
from pydicom.tag import BaseTag, Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ..errors import SourceError, short_error
from ..frame import DEFAULT_FPS, MAX_FPS, MAX_FRAME_PIXELS, MIN_FPS, implausible_fps

log = logging.getLogger(__name__)

DEFER_SIZE = 1024  # bytes: larger values (pixel data, private blobs) stay on disk
#: The most a Deflated dataset may inflate to (a few KB of deflate can claim gigabytes); it
#: is held in memory (never written to a temp file: it holds the whole header).
MAX_INFLATED = 128 << 20
_FRAME_TIME, _FRAME_TIME_VECTOR = 0x00181063, 0x00181065
_PIXEL_DATA = 0x7FE00010

#: The only header fields read: acquisition facts, never patient/study identifiers.
HEADER_TAGS = [
    "SpecificCharacterSet", "SOPClassUID", "Modality", "ImageType", "Manufacturer",
    "ManufacturerModelName", "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel",
    "PhotometricInterpretation", "PlanarConfiguration", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "FrameIncrementPointer", "FrameTime", "FrameTimeVector", "CineRate",
    "RecommendedDisplayFrameRate", "SequenceOfUltrasoundRegions", "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths", "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor", "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData", "SegmentedBluePaletteColorLookupTableData",
    "PixelData",
]  # fmt: skip

# --- pydicom's log, per thread ------------------------------------------------------------

_local = threading.local()
_install_lock = threading.Lock()
_filtered: set[str] = set()


class _Collect(logging.Filter):
    """Diverts pydicom's records to the current thread's collector, if one is open."""

    def filter(self, record: logging.LogRecord) -> bool:
        sink = getattr(_local, "sink", None)
        if sink is None:
            return True
        first = record.getMessage().splitlines()[0] if record.getMessage() else ""
        sink.append(first[:200])
        log.debug("pydicom: %s", first[:200])
        return False


_FILTER = _Collect()


_seen_loggers = 0


def _install() -> None:
    """Put the filter on pydicom's loggers (a logger's filters see only its own records);
    looks again only when new loggers were created."""
    global _seen_loggers
    registry = logging.root.manager.loggerDict
    if len(registry) == _seen_loggers:
        return
    _seen_loggers = len(registry)
    names = [n for n in list(registry) if n.split(".")[0] == "pydicom"]
    with _install_lock:
        for name in ["pydicom", *names]:
            if name not in _filtered:
                logging.getLogger(name).addFilter(_FILTER)
                _filtered.add(name)


@contextmanager
def pydicom_messages() -> Iterator[list[str]]:
    """Collect (first lines of) what pydicom logs on this thread inside the block.

    Other threads, and code outside such a block, see pydicom's logging unchanged.
    """
    _install()
    outer = getattr(_local, "sink", None)
    sink: list[str] = []
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = outer


# --- reading --------------------------------------------------------------------------------


def _meta_end(fh: IO[bytes], size: int) -> int:
    """Byte offset just after the file meta group (explicit VR little endian, group 0002)."""
    fh.seek(132)
    pos = 132
    while pos + 8 <= size:
        head = fh.read(8)
        if struct.unpack("<H", head[:2])[0] != 0x0002:
            return pos
        if head[4:6] in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL"):
            pos += 12 + struct.unpack("<I", fh.read(4))[0]
        else:
            pos += 8 + struct.unpack("<H", head[6:8])[0]
        fh.seek(pos)
    return pos


def _inflate(path: Path, name: str) -> bytes:
    """The inflated dataset of a Deflated Explicit VR file, at most :data:`MAX_INFLATED`
    (inflated in 16 MB steps, so refusing a bomb never holds more than the cap)."""
    size = path.stat().st_size
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    parts: list[bytes] = []
    total = 0

    def feed(data: bytes) -> None:
        nonlocal total
        while not inflater.eof:
            part = inflater.decompress(data, min(16 << 20, MAX_INFLATED + 1 - total))
            parts.append(part)
            total += len(part)
            if total > MAX_INFLATED:
                problem = f"Deflated data inflates to more than {MAX_INFLATED >> 20} MB; refused"
                raise SourceError(name, problem)
            data = inflater.unconsumed_tail
            if not data and not part:
                return

    with path.open("rb") as fh:
        fh.seek(_meta_end(fh, size))
        try:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                feed(chunk)
                if inflater.eof:
                    break
        except zlib.error as err:
            raise SourceError(name, f"Deflated data is corrupt ({short_error(err)})") from None
    if not inflater.eof:
        raise SourceError(name, "file is truncated (Deflated data ends early)")
    return b"".join(parts)


def _check_complete(ds: Dataset, end: int, size: int, name: str) -> None:
    """pydicom skips (seeks past) values it does not read and stops quietly at the end of the
    data: a parse that ended past the end, or a value read short, is a truncated file. (Pixel
    data running past the end is left to the pixel checks, which say how much is there.)"""
    tags = list(ds.keys())  # (iterating a Dataset gives converted elements)
    elems: list[Any] = [ds.get_item(tag, keep_deferred=True) for tag in tags]
    short = any(
        isinstance(e.value, bytes) and e.length != 0xFFFFFFFF and len(e.value) < e.length
        for e in elems
        if isinstance(e, RawDataElement)
    )
    pixels = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    if isinstance(pixels, RawDataElement) and pixels.value is None:
        end = min(end, size)
    if end > size or short:
        raise SourceError(name, "file is truncated (it ends inside the header)")


def _dataset(path: Path, name: str, tsyntax: str, size: int) -> tuple[Dataset, bytes | None]:
    if tsyntax != DeflatedExplicitVRLittleEndian:
        with path.open("rb") as fh:
            ds = dcmread(fh, defer_size=DEFER_SIZE, specific_tags=HEADER_TAGS)
            _check_complete(ds, fh.tell(), size, name)
        return ds, None
    inflated = _inflate(path, name)
    buffer = BytesIO(inflated)
    tags: list[BaseTag | int] = [Tag(t) for t in HEADER_TAGS]
    dataset = read_dataset(buffer, is_implicit_VR=False, is_little_endian=True, specific_tags=tags)
    _check_complete(dataset, buffer.tell(), len(inflated), name)
    return dataset, inflated


MAX_NESTING = 32  # sequence depth: ultrasound regions nest one or two levels


def _convert_all(ds: Dataset, name: str, depth: int = 0) -> None:
    """Convert every value read now (pydicom converts lazily, on first access), so a value
    it cannot parse is one clear error here, not a surprise later; deferred values (pixel
    data) stay on disk."""
    if depth > MAX_NESTING:
        raise SourceError(name, f"header sequences nested more than {MAX_NESTING} deep")
    for tag in list(ds.keys()):
        raw = ds.get_item(tag, keep_deferred=True)
        if isinstance(raw, RawDataElement) and raw.value is None:
            continue
        try:
            elem = ds[tag]
        except Exception as err:  # noqa: BLE001 - pydicom's converters: many error types
            problem = f"header value {BaseTag(tag)} cannot be read ({type(err).__name__})"
            raise SourceError(name, problem) from None
        if elem.VR == "SQ":
            for item in elem.value or ():
                _convert_all(item, name, depth + 1)


def read_header(path: Path, name: str) -> tuple[Dataset, bytes | None]:
    """The dataset (header tags only, pixel data deferred) and, for a Deflated file, the
    inflated dataset bytes (the pixel data then lives there, not on disk).

    Raises :class:`SourceError` naming ``name`` for a file that is not DICOM, is truncated or
    whose header cannot be read.
    """
    size = path.stat().st_size
    with pydicom_messages() as messages:
        try:
            meta = read_file_meta_info(path)
            with path.open("rb") as fh:
                if _meta_end(fh, size) + 8 > size:
                    raise SourceError(name, "file is truncated (it ends in its file meta)")
            tsyntax = str(meta.get("TransferSyntaxUID", "") or "")
            if not tsyntax:
                raise SourceError(name, "not a DICOM file (no transfer syntax in the file meta)")
            ds, inflated = _dataset(path, name, tsyntax, size)
            _convert_all(ds, name)
        except InvalidDicomError:
            raise SourceError(name, "not a DICOM file (no DICM preamble or file meta)") from None
        except EOFError:
            raise SourceError(name, "file is truncated (it ends inside the header)") from None
        except RecursionError:
            raise SourceError(name, "header sequences nested too deeply to read") from None
        except SourceError:
            raise
        except Exception as err:  # noqa: BLE001 - pydicom on hostile bytes: many error types
            log.debug("%s: header", name, exc_info=err)
            problem = f"cannot read the DICOM header ({type(err).__name__})"
            raise SourceError(name, problem) from None
        ds.file_meta = meta
    if any("End of file" in m for m in messages):
        raise SourceError(name, "file is truncated (it ends inside the header or pixel data)")
    return ds, inflated


# --- timing ---------------------------------------------------------------------------------


def _number(ds: Dataset, keyword: str) -> float:
    with pydicom_messages():
        try:
            return float(ds.get(keyword) or 0)
        except (TypeError, ValueError, OverflowError):
            return float("nan")


def _from_vector(ds: Dataset, n: int, notes: list[str]) -> tuple[float, np.ndarray] | None:
    with pydicom_messages():
        try:
            vector = np.asarray([float(v) for v in ds.FrameTimeVector], dtype=np.float64)
        except (TypeError, ValueError):
            vector = np.zeros(0)
    steps = vector[1:] / 1000.0
    if len(vector) != n or n < 2 or not np.all(np.isfinite(steps)) or steps.min() <= 0:
        notes.append(f"FrameTimeVector has {len(vector)} usable values for {n} frames; ignored")
        return None
    if steps.min() < 1 / MAX_FPS or steps.max() > 1 / MIN_FPS:
        notes.append(
            f"FrameTimeVector holds intervals of {steps.min():.3g}-{steps.max():.3g} s, "
            f"a frame rate outside the plausible {MIN_FPS:g}-{MAX_FPS:g} fps; ignored"
        )
        return None
    times = np.cumsum(np.concatenate([[0.0], steps]))
    return (n - 1) / float(times[-1]), times


def frame_timing(
    ds: Dataset, n: int, fallback: tuple[float, str] | None = None
) -> tuple[float, str, np.ndarray | None, list[str]]:
    """``(fps, origin, timestamps or None, warnings)`` from the cine timing tags.

    Frame Increment Pointer → Frame Time / Frame Time Vector, then Frame Time on its own,
    Cine Rate, Recommended Display Frame Rate, then ``fallback`` (``(fps, origin)``: a video
    stream's own rate), else 30 fps with a warning. A value giving a
    rate outside :data:`~echostream.stream.frame.MIN_FPS`–``MAX_FPS`` is skipped with a
    warning. Timestamps (seconds, cumulative) are returned only for a Frame Time Vector;
    otherwise they are ``index / fps``.
    """
    notes: list[str] = []
    pointers = ds.get("FrameIncrementPointer")
    if pointers is None:
        pointers = []
    elif not isinstance(pointers, list) and not hasattr(pointers, "__iter__"):
        pointers = [pointers]
    order: list[int] = [int(p) for p in pointers if int(p) in (_FRAME_TIME, _FRAME_TIME_VECTOR)]
    order += [t for t in (_FRAME_TIME, _FRAME_TIME_VECTOR) if t not in order]
    for tag in order:
        if tag not in ds:
            continue
        if tag == _FRAME_TIME_VECTOR:
            found = _from_vector(ds, n, notes)
            if found is not None:
                return found[0], "FrameTimeVector", found[1], notes
            continue
        ms = _number(ds, "FrameTime")
        if not (math.isfinite(ms) and ms > 0):
            notes.append("FrameTime is not a positive number; ignored")
            continue
        fps = 1000.0 / ms
        problem = implausible_fps(fps, f"FrameTime {ms:.3g} ms")
        if problem is None:
            return fps, "FrameTime", None, notes
        notes.append(problem)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _number(ds, keyword)
        if rate == 0 or math.isnan(rate):
            continue
        problem = implausible_fps(rate, keyword)
        if problem is None:
            return rate, keyword, None, notes
        notes.append(problem)
    if fallback is not None:
        return fallback[0], fallback[1], None, notes
    notes.append(f"no usable frame timing in the header; assuming {DEFAULT_FPS:g} fps")
    return DEFAULT_FPS, "default", None, notes


def vendor(ds: Dataset) -> str | None:
    """Manufacturer and model name, or None."""
    parts = [str(ds.get(k) or "").strip() for k in ("Manufacturer", "ManufacturerModelName")]
    return " ".join(p for p in parts if p) or None


#: PhotometricInterpretation → SamplesPerPixel it needs
_PHOTOMETRIC = {
    "MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3, "YBR_FULL": 3,
    "YBR_FULL_422": 3, "YBR_ICT": 3, "YBR_RCT": 3, "YBR_PARTIAL_420": 3,
}  # fmt: skip


@dataclass(frozen=True)
class ImageTags:
    """The image tags a frame reader needs, checked to be plausible and to agree."""

    rows: int
    cols: int
    spp: int  # SamplesPerPixel
    bits: int  # BitsAllocated: 8 or 16
    frames_declared: int | None  # NumberOfFrames; None when missing or empty
    photometric: str
    notes: tuple[str, ...] = ()


def image_tags(ds: Dataset) -> ImageTags:
    """Rows, columns, frames, samples, bits and colour tags of ``ds``; ``ValueError`` (one
    line) when they are missing, implausible or contradict each other."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        spp = int(ds.get("SamplesPerPixel") or 1)
        bits = int(ds.get("BitsAllocated") or 8)
        frames_value = ds.get("NumberOfFrames")
        declared = None if frames_value in (None, "") else int(frames_value)
    except (AttributeError, TypeError, ValueError):
        raise ValueError(
            "image size tags (Rows, Columns, NumberOfFrames) missing or invalid"
        ) from None
    if declared is not None and declared <= 0:
        raise ValueError(f"NumberOfFrames is {declared}: no frames")
    if rows <= 0 or cols <= 0 or rows * cols > MAX_FRAME_PIXELS:
        raise ValueError(
            f"declared image size {rows}x{cols} is not plausible "
            f"(at most {MAX_FRAME_PIXELS / 1e6:.1f} M pixels per frame are read)"
        )
    if bits not in (8, 16):
        raise ValueError(f"BitsAllocated {bits} is not supported (8 or 16 bits)")
    photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    need = _PHOTOMETRIC.get(photometric)
    if need is None:
        what = repr(photometric) if photometric else "missing"
        raise ValueError(f"PhotometricInterpretation {what} is not supported")
    if spp != need:
        raise ValueError(
            f"SamplesPerPixel is {spp} but PhotometricInterpretation {photometric} needs {need}"
        )
    if need == 3 and int(ds.get("PlanarConfiguration") or 0) not in (0, 1):
        raise ValueError(f"PlanarConfiguration {ds.PlanarConfiguration} is not 0 or 1")
    lut = ("RedPaletteColorLookupTableData", "SegmentedRedPaletteColorLookupTableData")
    if photometric == "PALETTE COLOR" and not any(k in ds for k in lut):
        raise ValueError("PALETTE COLOR image without its colour lookup table")
    notes = []
    if int(ds.get("PixelRepresentation") or 0) == 1:
        notes.append("signed pixel data (PixelRepresentation 1): negative values shown black")
    return ImageTags(rows, cols, spp, bits, declared, photometric, tuple(notes))
