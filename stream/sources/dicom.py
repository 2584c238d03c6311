"""DICOM cines, decoded lazily one frame at a time (native, JPEG, JPEG-LS, JPEG 2000, RLE).

Only the tags this reader needs are read from the header (never patient or study fields), and
the pixel data is left on disk: frames are read and decoded one at a time, optionally in
``workers`` threads with a bounded window, and yielded in order.

Example::

    from echostream.stream.sources.dicom import DicomSource

    with DicomSource("a4c.dcm", luminance=True, target_size=(60, 80), workers=2) as src:
        print(src.info.n_frames, src.info.fps, src.info.region)
        for frame in src:       # frame.pixels: H×W uint8 at frame.scale of full size
            crop = frame.region_pixels()

With ``luminance=True`` and a JPEG baseline file, frames are decoded straight to luminance in
the DCT domain at the smallest 1/2, 1/4 or 1/8 scale that keeps the ultrasound region at least
``target_size``; other transfer syntaxes decode in full and convert to gray once (ITU-R BT.601).
"""

from __future__ import annotations

import logging
import math
import re
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from itertools import islice
from pathlib import Path
from typing import IO, TypeVar

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames, parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, as_pixel_options, get_decoder
from pydicom.uid import UID, JPEG2000TransferSyntaxes, JPEGBaseline8Bit

from ..errors import SourceError
from ..frame import Frame, Region, SourceInfo
from .base import FrameSource
from .jpeg_fast import decode_luminance, draft_request, j2k_size, jpeg_size, ordered_map
from .region import acquisition_kind, select_region
from .sector import detect_fan

R = TypeVar("R")
DEFAULT_FPS = 30.0
MAX_PIXELS = 1 << 26  # 67 M pixels per frame: beyond any ultrasound screen
_DEFER = 1024  # bytes: larger values (pixel data, private blobs) stay on disk
_PIXEL_DATA = 0x7FE00010
_FRAME_TIME, _FRAME_TIME_VECTOR = 0x00181063, 0x00181065
_ESTIMATE_FRAMES = 8

# The only header fields read: acquisition facts, never patient/study identifiers.
_TAGS = [
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
# What decoders raise on bad data (Pillow: OSError/SyntaxError, pydicom: ValueError/RuntimeError)
_DECODE_ERRORS = (
    ValueError, RuntimeError, OSError, EOFError, SyntaxError, struct.error, IndexError,
    NotImplementedError, TypeError,
)  # fmt: skip


def _short(err: BaseException) -> str:
    """A one-line, bounded description of a decoder error (no header values in it)."""
    text = re.sub(r"<[^<>]* at 0x[0-9a-f]+>", "the frame", " ".join(str(err).split()))
    return f"{type(err).__name__}: {text[:160]}" if text else type(err).__name__


class _QuietThreads(logging.Filter):
    """Drops pydicom records below ERROR logged by threads inside :func:`_quiet_pydicom_log`."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not getattr(self.local, "depth", 0)


_QUIET = _QuietThreads()


@contextmanager
def _quiet_pydicom_log() -> Iterator[None]:
    """pydicom logs read problems itself; we report them once, as a SourceError.

    Only the calling thread is quietened: a filter on pydicom's loggers (added once, never
    removed) checks a thread-local flag, so no global logging state changes per call and
    other threads' pydicom records pass as they would."""
    for name in (
        "pydicom",
        *(n for n in list(logging.Logger.manager.loggerDict) if n.startswith("pydicom.")),
    ):
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
    _QUIET.local.depth = getattr(_QUIET.local, "depth", 0) + 1
    try:
        yield
    finally:
        _QUIET.local.depth -= 1


def frame_timing(ds: Dataset, n: int) -> tuple[float, str, np.ndarray | None, list[str]]:
    """``(fps, origin, timestamps or None, warnings)`` from the cine timing tags.

    Frame Increment Pointer → Frame Time / Frame Time Vector, then Frame Time on its own,
    Cine Rate, Recommended Display Frame Rate, else 30 fps with a warning. Timestamps (seconds,
    cumulative) are returned only for a Frame Time Vector; otherwise they are ``index / fps``.
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
        if tag == _FRAME_TIME:
            try:
                ms = float(ds.FrameTime)
            except (TypeError, ValueError):
                ms = float("nan")
            if math.isfinite(ms) and ms > 0:
                return 1000.0 / ms, "FrameTime", None, notes
            notes.append("FrameTime is not a positive number; ignored")
        else:
            try:
                vector = np.asarray([float(v) for v in ds.FrameTimeVector], dtype=np.float64)
            except (TypeError, ValueError):
                vector = np.zeros(0)
            if len(vector) == n and n > 1 and np.all(np.isfinite(vector)) and vector[1:].min() > 0:
                times = np.cumsum(np.concatenate([[0.0], vector[1:]])) / 1000.0
                return (n - 1) / float(times[-1]), "FrameTimeVector", times, notes
            notes.append(f"FrameTimeVector has {len(vector)} usable values for {n} frames; ignored")
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        try:
            rate = float(ds.get(keyword) or 0)
        except (TypeError, ValueError):
            rate = 0.0
        if math.isfinite(rate) and rate > 0:
            return rate, keyword, None, notes
    notes.append(f"no frame timing in the header; assuming {DEFAULT_FPS:g} fps")
    return DEFAULT_FPS, "default", None, notes


def _vendor(ds: Dataset) -> str | None:
    parts = [str(ds.get(k) or "").strip() for k in ("Manufacturer", "ManufacturerModelName")]
    return " ".join(p for p in parts if p) or None


class DicomSource(FrameSource):
    """Frames of one DICOM file, decoded lazily; see the module docstring for an example.

    Options (keyword-only): ``luminance`` (H×W gray frames), ``target_size`` ``(h, w)`` (the
    model input: lets JPEG baseline decode at reduced scale), ``workers`` (decode threads),
    ``prefetch`` (frames in flight, default ``2 * workers``), ``estimate_region`` (default
    True: crop to the scan sector detected in the pixels, inside the header's ultrasound
    region if any).
    Raises :class:`SourceError` naming the file and the problem for bad input.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        luminance: bool = False,
        target_size: tuple[int, int] | None = None,
        workers: int = 1,
        prefetch: int | None = None,
        estimate_region: bool = True,
        name: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name or str(path)
        self.luminance = luminance
        self.target_size = (int(target_size[0]), int(target_size[1])) if target_size else None
        self.workers = max(1, int(workers))
        self.window = max(self.workers, int(prefetch or 2 * self.workers))
        ds = self._read_header()
        self._ds = ds
        self._check_pixels(ds)
        self.info = self._build_info(ds)
        self.fast_path = luminance and self._tsyntax == JPEGBaseline8Bit
        self._request: tuple[int, int] | None = None
        self._check_first_frame()
        self._set_region(estimate_region)
        if self.fast_path and self.target_size and self.info.region is not None:
            region = self.info.region
            self._request = draft_request(
                (self._rows, self._cols), (region.height, region.width), self.target_size
            )

    # --- header ------------------------------------------------------------------------

    def _fail(self, problem: str) -> SourceError:
        return SourceError(self.name, problem)

    def _read_header(self) -> Dataset:
        try:
            with warnings.catch_warnings(record=True) as caught, _quiet_pydicom_log():
                warnings.simplefilter("always")
                ds = dcmread(self.path, defer_size=_DEFER, specific_tags=_TAGS)
        except InvalidDicomError:
            raise self._fail("not a DICOM file (no DICM preamble or file meta)") from None
        except EOFError:
            raise self._fail("file is truncated (ends inside the header or pixel data)") from None
        except (OSError, ValueError, struct.error, KeyError, TypeError) as err:
            raise self._fail(f"cannot read the DICOM header ({type(err).__name__})") from None
        if any("End of file reached" in str(w.message) for w in caught):
            raise self._fail("file is truncated (pixel data ends before its end marker)")
        if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
            raise self._fail("not a DICOM file (no transfer syntax in the file meta)")
        return ds

    def _check_pixels(self, ds: Dataset) -> None:
        """Pixel data present, a decoder for it, and sizes that fit the data."""
        if _PIXEL_DATA not in ds:
            raise self._fail("DICOM file without pixel data (not an image)")
        self._tsyntax = UID(ds.file_meta.TransferSyntaxUID)
        try:
            self._decoder = get_decoder(self._tsyntax)
        except NotImplementedError:
            raise self._fail(
                f"unsupported transfer syntax {self._tsyntax.name} ({self._tsyntax})"
            ) from None
        if not self._decoder.is_available:
            raise self._fail(
                f"no decoder installed for {self._tsyntax.name} "
                "(install pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg)"
            )
        try:
            self._rows, self._cols = int(ds.Rows), int(ds.Columns)
            self._spp = int(ds.get("SamplesPerPixel") or 1)
            self._bits = int(ds.get("BitsAllocated") or 8)
            frames_value = ds.get("NumberOfFrames")
            self._n = 1 if frames_value in (None, "") else int(frames_value)
        except (AttributeError, TypeError, ValueError):
            problem = "image size tags (Rows, Columns, NumberOfFrames) missing or invalid"
            raise self._fail(problem) from None
        if self._n <= 0:
            raise self._fail(f"NumberOfFrames is {self._n}: no frames")
        if self._rows <= 0 or self._cols <= 0 or self._rows * self._cols > MAX_PIXELS:
            raise self._fail(f"declared image size {self._rows}x{self._cols} is not plausible")
        self._photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
        # JPEG baseline YCbCr frames: Pillow decodes them straight to RGB (the JPEG's own
        # colour transform); pydicom would decode YCbCr and convert in float numpy, 2x slower.
        self._pillow_rgb = (
            self._tsyntax == JPEGBaseline8Bit
            and self._spp == 3
            and self._photometric in ("YBR_FULL_422", "YBR_FULL")
        )
        self._opts = as_pixel_options(ds, number_of_frames=1)
        self._opts["transfer_syntax_uid"] = self._tsyntax
        self._opts["pixel_keyword"] = "PixelData"
        self._opts["pixel_vr"] = "OB" if self._bits <= 8 else "OW"
        elem = ds.get_item(_PIXEL_DATA, keep_deferred=True)
        self._inline: bytes | None = None
        self._offset = 0
        if isinstance(elem, RawDataElement) and elem.value is None:
            self._offset = int(elem.value_tell)
            length = int(elem.length)
        else:
            raw = elem.value if elem is not None else b""
            self._inline = bytes(raw or b"")
            length = len(self._inline)
        self._encapsulated = self._tsyntax.is_compressed
        if self._encapsulated:
            self._check_fragments()
        else:
            self._check_native_length(length)

    def _check_native_length(self, length: int) -> None:
        samples = 2 if self._photometric == "YBR_FULL_422" else self._spp
        self._frame_len = self._rows * self._cols * samples * max(1, self._bits // 8)
        need = self._frame_len * self._n
        available = length
        if self._inline is None:
            available = min(length, max(0, self.path.stat().st_size - self._offset))
        if available < need:
            what = "truncated" if available < length else "smaller than its declared size"
            raise self._fail(
                f"pixel data {what}: {available} bytes for {self._n} frame(s) of "
                f"{self._rows}x{self._cols}x{samples} ({need} bytes needed)"
            )

    def _check_fragments(self) -> None:
        self._eot = None
        if "ExtendedOffsetTable" in self._ds and "ExtendedOffsetTableLengths" in self._ds:
            self._eot = (self._ds.ExtendedOffsetTable, self._ds.ExtendedOffsetTableLengths)
        try:
            with self._open_pixels() as fh:
                offsets = parse_basic_offsets(fh)
                n_fragments, _ = parse_fragments(fh)
        except (ValueError, EOFError, struct.error) as err:
            problem = f"encapsulated pixel data is truncated or corrupt ({_short(err)})"
            raise self._fail(problem) from None
        n_listed = len(offsets) if offsets else n_fragments
        if self._eot is None and n_listed < self._n:
            raise self._fail(
                f"NumberOfFrames is {self._n} but the pixel data holds only {n_listed} "
                f"{'offset table entries' if offsets else 'fragments'}"
            )

    def _build_info(self, ds: Dataset) -> SourceInfo:
        fps, fps_origin, self._times, warnings = frame_timing(ds, self._n)
        if self._n == 1 and fps_origin == "default":
            warnings = ["single frame: no frame timing; assuming 30 fps"]
        modality = str(ds.get("Modality") or "").strip() or None
        if modality != "US":
            warnings.append(f"modality is {modality or 'missing'}, not ultrasound (US)")
        regions = ds.get("SequenceOfUltrasoundRegions")
        region, notes = select_region(regions, rows=self._rows, cols=self._cols)
        warnings += notes
        return SourceInfo(
            name=self.name,
            kind="dicom",
            n_frames=self._n,
            fps=float(fps),
            width=self._cols,
            height=self._rows,
            fps_origin=fps_origin,
            vendor=_vendor(ds),
            transfer_syntax=self._tsyntax.name,
            photometric=self._photometric or None,
            region=region,
            acquisition=acquisition_kind(regions, ds.get("ImageType")),
            modality=modality,
            codec=None,
            warnings=warnings,
        )

    # --- pixel access ------------------------------------------------------------------

    def _open_pixels(self) -> IO[bytes]:
        """A binary file positioned at the first byte of the pixel data value."""
        if self._inline is not None:
            return BytesIO(self._inline)
        fh = self.path.open("rb")
        fh.seek(self._offset)
        return fh

    def _encoded(self, fh: IO[bytes], stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, encoded bytes)`` of frames 0..stop-1, read from disk one at a time."""
        stop = self._n if stop is None else min(stop, self._n)
        index = 0
        try:
            if self._encapsulated:
                gen = generate_frames(fh, number_of_frames=self._n, extended_offsets=self._eot)
                for index, data in enumerate(islice(gen, stop)):
                    yield index, data
                    index += 1
            else:
                for index in range(stop):
                    data = fh.read(self._frame_len)
                    if len(data) < self._frame_len:
                        raise EOFError("pixel data ends early")
                    yield index, data
                    index += 1
        except (ValueError, EOFError, struct.error) as err:
            problem = f"frame {index}: pixel data truncated or corrupt ({_short(err)})"
            raise self._fail(problem) from None
        if index < stop:
            raise self._fail(f"frame {index}: pixel data holds only {index} of {self._n} frames")

    def _decode(self, item: tuple[int, bytes]) -> tuple[np.ndarray, float]:
        """Decode one frame: the fast luminance path where it applies, else a full decode."""
        if self.fast_path:
            return self._decode_with(item, fast=True, request=self._request)
        return self._decode_with(item, luminance=self.luminance)

    def _decode_with(
        self,
        item: tuple[int, bytes],
        *,
        fast: bool = False,
        request: tuple[int, int] | None = None,
        luminance: bool = False,
    ) -> tuple[np.ndarray, float]:
        """``(uint8 pixels, scale)`` of one ``(index, encoded bytes)`` frame."""
        index, data = item
        try:
            if fast:
                return decode_luminance(data, request)
            if self._pillow_rgb:  # libjpeg converts YCbCr → RGB, once, in integer SIMD code
                with Image.open(BytesIO(data), formats=("JPEG",)) as im:
                    rgb = np.asarray(im.convert("RGB"))
                return self._finish(rgb, luminance), 1.0
            src = encapsulate([data]) if self._encapsulated else data
            arr, _ = self._decoder.as_array(src, raw=False, **self._opts)
            return self._finish(arr, luminance), 1.0
        except _DECODE_ERRORS as err:
            raise self._fail(f"frame {index}: cannot decode ({_short(err)})") from None

    def _finish(self, arr: np.ndarray, luminance: bool) -> np.ndarray:
        """uint8 RGB or gray from a decoded frame; gray (BT.601, once) when ``luminance``."""
        if self._photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, self._ds)
            if arr.dtype != np.uint8:
                arr = arr >> 8 if int(arr.max(initial=0)) > 255 else arr
        elif arr.dtype != np.uint8:
            arr = arr.astype(np.int64) >> max(0, int(self._ds.get("BitsStored") or 8) - 8)
        arr = np.clip(arr, 0, 255).astype(np.uint8, copy=False)
        if self._photometric == "MONOCHROME1":
            arr = 255 - arr
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if luminance and arr.ndim == 3:
            arr = np.asarray(Image.fromarray(np.ascontiguousarray(arr), "RGB").convert("L"))
        return arr

    def _check_first_frame(self) -> None:
        """Frame 0's own header agrees with Rows/Columns, and it decodes."""
        with self._open_pixels() as fh:
            first = next(self._encoded(fh, stop=1))
        data = first[1]
        if self._encapsulated:
            size = jpeg_size(data)
            if size is None and self._tsyntax in JPEG2000TransferSyntaxes:
                size = j2k_size(data)
            if size is not None and size != (self._rows, self._cols):
                raise self._fail(
                    f"declared size {self._rows}x{self._cols} but frame 0 is {size[0]}x{size[1]}"
                )
        self._decode(first)

    def _set_region(self, estimate: bool) -> None:
        """Crop to the scan sector: detected in a few frames, inside the header's ultrasound
        region when there is one (it often holds the fan with wide margins), so every source
        is cropped alike; the header's region, else the whole image, when detection fails."""
        header = self.info.region
        fan = None
        if estimate:
            picks = set(np.linspace(0, self._n - 1, min(self._n, _ESTIMATE_FRAMES)).astype(int))
            frames, scale = [], 1.0
            with self._open_pixels() as fh:
                for item in self._encoded(fh, stop=max(picks) + 1):
                    if item[0] in picks:
                        try:
                            pixels, scale = self._small_gray(item)
                        except SourceError:
                            continue  # a bad frame is reported when it is reached
                        frames.append(pixels)
            fan = detect_fan(frames, scale=scale, full_size=(self._rows, self._cols), within=header)
        if fan is not None:
            self.info.region, self.info.fan = fan.region, fan.to_dict()
            if header is None:
                self.info.warnings.append(
                    "no ultrasound region in the header; scan sector detected from pixels"
                )
        elif header is None:
            self.info.region = Region(
                0, 0, self._cols, self._rows, origin="full", data_type="unknown"
            )
            self.info.warnings.append("no ultrasound region found; using the whole image")

    def _small_gray(self, item: tuple[int, bytes]) -> tuple[np.ndarray, float]:
        if self._tsyntax == JPEGBaseline8Bit:
            request = (max(1, self._cols // 4), max(1, self._rows // 4))
            return self._decode_with(item, fast=True, request=request)
        gray, _ = self._decode_with(item, luminance=True)
        if gray.ndim == 3:  # a multi-sample frame that is not RGB-like
            gray = gray[..., 0]
        small = np.asarray(Image.fromarray(gray).reduce(4)) if min(gray.shape) >= 64 else gray
        return small, small.shape[1] / self._cols

    # --- frames ------------------------------------------------------------------------

    @property
    def transfer_syntax_uid(self) -> str:
        return str(self._tsyntax)

    def timestamp(self, index: int) -> float:
        """Seconds from the first frame to frame ``index``."""
        if self._times is not None:
            return float(self._times[index])
        return index / self.info.fps

    def _frame(self, item: tuple[int, bytes]) -> Frame:
        pixels, scale = self._decode(item)
        return Frame(pixels, item[0], self.timestamp(item[0]), self.info, scale)

    def frames(self, stop: int | None = None) -> Iterator[Frame]:
        """Frames in order (the first ``stop`` only, if given), decoded one at a time."""
        with self._open_pixels() as fh:
            yield from ordered_map(
                self._frame, self._encoded(fh, stop), workers=self.workers, window=self.window
            )

    def map_frames(
        self, fn: Callable[[Frame], R], stop: int | None = None
    ) -> Iterator[tuple[Frame, R, float, float]]:
        """``(frame, fn(frame), decode ms, fn ms)`` in frame order, ``fn`` run in the same
        decode worker right after the frame is decoded, so decode + ``fn`` (e.g. the model's
        preprocessing) scale with ``workers`` together. Errors come out as from :meth:`frames`.

        >>> for frame, x, dec_ms, pre_ms in src.map_frames(preprocessor):  # doctest: +SKIP
        ...     batch.append(x)
        """

        def task(item: tuple[int, bytes]) -> tuple[Frame, R, float, float]:
            t0 = time.perf_counter()
            frame = self._frame(item)
            t1 = time.perf_counter()
            out = fn(frame)
            return frame, out, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3

        with self._open_pixels() as fh:
            yield from ordered_map(
                task, self._encoded(fh, stop), workers=self.workers, window=self.window
            )
