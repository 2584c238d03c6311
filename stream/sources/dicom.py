"""DICOM cines, decoded lazily one frame at a time (native, JPEG, JPEG-LS, JPEG 2000, RLE,
and MPEG-2 / H.264 / HEVC video streams through :mod:`.dicom_video`).

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

import struct
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
from PIL import Image
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, JPEG2000TransferSyntaxes, JPEGBaseline8Bit, RLELossless

from ..errors import SourceError, display_name, item_error, short_error
from ..frame import AcquisitionKind, Frame, Region, SourceInfo
from .acquisition_pixels import AcquisitionVotes, note_acquisition
from .base import FrameSource, check_regular_file
from .dicom_frames import extended_offsets, has_end_marker, locate_frames, read_frame
from .dicom_header import frame_timing, image_tags, pydicom_messages, read_header, vendor
from .dicom_pixels import (
    decode_options,
    encoded_problem,
    finish_pixels,
    native_frames,
    pillow_rgb,
    pixel_decoder,
)
from .dicom_video import VIDEO_SYNTAXES, VideoError, VideoStream, open_video, video_pixels
from .jpeg_fast import decode_luminance, draft_request, j2k_size, jpeg_size, ordered_map
from .region import acquisition_kind, select_region
from .sanity import echo_warnings
from .sector import detect_fan

R = TypeVar("R")
_PIXEL_DATA = 0x7FE00010
_ESTIMATE_FRAMES = 8
_KIND_FRAMES = 3  # whole frames the acquisition detector sees when the header names no kind
_VIDEO_SPAN = 32  # a video stream's first frames (about a heartbeat) the region is found in


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
        self.name = display_name(name or str(path))
        self.luminance = luminance
        self.target_size = (int(target_size[0]), int(target_size[1])) if target_size else None
        self.workers = max(1, int(workers))
        self.window = max(self.workers, int(prefetch or 2 * self.workers))
        self._size = check_regular_file(self.path, self.name)
        self.fast_path = False
        self._request: tuple[int, int] | None = None
        try:
            with pydicom_messages():  # the checks below say what matters, once
                self._open(estimate_region)
        except SourceError:
            raise
        except Exception as err:  # noqa: BLE001 - a header value pydicom cannot convert, ...
            raise item_error(self.name, err) from None
        if self.fast_path and self.target_size and self.info.region is not None:
            region = self.info.region
            self._request = draft_request(
                (self._rows, self._cols), (region.height, region.width), self.target_size
            )

    def _open(self, estimate_region: bool) -> None:
        """Read and check the header, find the frames, decode frame 0, set the region."""
        ds, self._inflated = read_header(self.path, self.name)
        self._ds = ds
        notes = self._check_pixels(ds)
        self.info = self._build_info(ds)
        self.info.warnings += notes
        self.fast_path = self.luminance and self._tsyntax == JPEGBaseline8Bit
        self._check_first_frame()
        self._set_region(estimate_region)

    # --- header ------------------------------------------------------------------------

    def _fail(self, problem: str) -> SourceError:
        return SourceError(self.name, problem)

    def _check_pixels(self, ds: Dataset) -> list[str]:
        """Pixel data present, a decoder for it, and sizes that fit the data; warnings."""
        if _PIXEL_DATA not in ds:
            ends = "it ends after the image header: truncated?" if "Rows" in ds else "not an image"
            raise self._fail(f"DICOM file without pixel data ({ends})")
        self._tsyntax = UID(ds.file_meta.TransferSyntaxUID)
        self._video: VideoStream | None = None
        if self._tsyntax not in VIDEO_SYNTAXES:  # a video stream is decoded by PyAV instead
            try:
                self._decoder = pixel_decoder(self._tsyntax)
            except ValueError as err:
                raise self._fail(str(err)) from None
        notes = self._check_image_tags(ds)
        self._pillow_rgb = pillow_rgb(self._tsyntax, self._spp, self._photometric)
        elem = ds.get_item(_PIXEL_DATA, keep_deferred=True)
        self._offset = 0
        if isinstance(elem, RawDataElement) and elem.value is None:
            self._offset = int(elem.value_tell)
            length = int(elem.length)
        else:  # a small or inflated (Deflated) pixel data value, held in memory
            raw = elem.value if elem is not None else b""
            self._inflated = bytes(raw or b"")
            length = len(self._inflated)
        # a video stream is one bitstream, not a frame per fragment(s)
        self._encapsulated = self._tsyntax.is_compressed and self._tsyntax not in VIDEO_SYNTAXES
        if self._tsyntax in VIDEO_SYNTAXES:
            notes += self._check_video()
        elif self._encapsulated:
            notes += self._check_fragments()
        else:
            notes += self._check_native_length(length)
        if self._n <= 0:
            raise self._fail(f"NumberOfFrames is {self._n}: no frames")
        self._opts = decode_options(ds, self._tsyntax, self._bits)
        return notes

    def _check_image_tags(self, ds: Dataset) -> list[str]:
        """Image size, frame count, samples, bit depth and colour tags (:func:`image_tags`)."""
        try:
            tags = image_tags(ds)
        except ValueError as err:
            raise self._fail(str(err)) from None
        self._rows, self._cols, self._spp, self._bits = tags.rows, tags.cols, tags.spp, tags.bits
        self._n_declared, self._photometric = tags.frames_declared, tags.photometric
        self._n = 1 if self._n_declared is None else self._n_declared
        return list(tags.notes)

    def _check_native_length(self, length: int) -> list[str]:
        """Frame size and count of native pixel data (:func:`native_frames`)."""
        samples = 2 if self._photometric == "YBR_FULL_422" else self._spp
        available = length
        if self._inflated is None:
            available = min(length, max(0, self._size - self._offset))
        shape = (self._rows, self._cols, samples, self._bits)
        try:
            self._frame_len, self._n, notes = native_frames(
                shape, self._n_declared, length, available
            )
        except ValueError as err:
            raise self._fail(str(err)) from None
        return notes

    def _check_fragments(self) -> list[str]:
        """Find every frame's fragments (validated offset tables, or the fragments)."""
        eot = None
        if "ExtendedOffsetTable" in self._ds and "ExtendedOffsetTableLengths" in self._ds:
            eot = extended_offsets(
                self._ds.ExtendedOffsetTable, self._ds.ExtendedOffsetTableLengths
            )
        end = len(self._inflated) if self._inflated is not None else self._size
        try:
            with self._open_pixels() as fh:
                self._fragments, layout = locate_frames(
                    fh, end, self._tsyntax, self._n_declared, extended=eot
                )
        except EOFError as err:
            raise self._fail(f"file is truncated (encapsulated pixel data: {err})") from None
        except (ValueError, struct.error) as err:
            raise self._fail(f"encapsulated pixel data is corrupt ({err})") from None
        self._layout = layout.frames
        self._n = len(layout.frames)
        return layout.warnings

    def _check_video(self) -> list[str]:
        """An MPEG-2 / H.264 / HEVC bitstream: its fragments, codec and rate, probed."""
        end = len(self._inflated) if self._inflated is not None else self._size
        size, n, syntax = (self._rows, self._cols), self._n_declared, self._tsyntax
        try:
            with self._open_pixels() as fh:
                self._video, notes = open_video(fh, end, syntax, n, size, self.workers)
        except VideoError as err:
            raise self._fail(str(err)) from None
        self._n = self._video.n_frames or 0
        return notes

    def _build_info(self, ds: Dataset) -> SourceInfo:
        stream_rate = self._video.rate if self._video else None
        fallback = (stream_rate[0], "video stream") if stream_rate else None
        fps, fps_origin, self._times, warnings = frame_timing(ds, self._n, fallback)
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
            vendor=vendor(ds),
            transfer_syntax=self._tsyntax.name,
            photometric=self._photometric or None,
            region=region,
            acquisition=acquisition_kind(regions, ds.get("ImageType")),
            modality=modality,
            codec=self._video.codec if self._video else None,
            warnings=warnings,
        )

    # --- pixel access ------------------------------------------------------------------

    def _open_pixels(self) -> IO[bytes]:
        """A binary file positioned at the first byte of the pixel data value."""
        if self._inflated is not None:
            return BytesIO(self._inflated)
        fh = self.path.open("rb")
        fh.seek(self._offset)
        return fh

    def _encoded(self, fh: IO[bytes], stop: int | None = None) -> Iterator[tuple[int, Any]]:
        """``(index, encoded bytes)`` of frames 0..stop-1, read from disk one at a time (for
        a video stream: ``(index, decoded av.VideoFrame)``, decoded in order)."""
        stop = self._n if stop is None else min(stop, self._n)
        if self._video is not None:
            try:
                yield from self._video.frames(fh, stop)
            except VideoError as err:
                raise self._fail(str(err)) from None
            return
        for index in range(stop):
            if self._encapsulated:
                yield index, read_frame(fh, self._fragments, self._layout[index])
                continue
            data = fh.read(self._frame_len)
            if len(data) < self._frame_len:
                raise self._fail(f"frame {index}: pixel data truncated (ends early)")
            yield index, data

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
        if self._video is None:
            self._check_encoded(index, data)
        try:
            if self._video is not None:  # a decoded av.VideoFrame
                return self._finish(video_pixels(data, luminance), luminance), 1.0
            if fast:
                return decode_luminance(data, request)
            if self._pillow_rgb:  # libjpeg converts YCbCr → RGB, once, in integer SIMD code
                with Image.open(BytesIO(data), formats=("JPEG",)) as im:
                    rgb = np.asarray(im.convert("RGB"))
                return self._finish(rgb, luminance), 1.0
            src = encapsulate([data]) if self._encapsulated else data
            with pydicom_messages():  # its decoders log tracebacks; our error says it once
                arr, _ = self._decoder.as_array(src, raw=False, **self._opts)
            return self._finish(arr, luminance), 1.0
        except Exception as err:  # noqa: BLE001 - decoders on hostile bytes: many error types
            raise self._fail(f"frame {index}: cannot decode ({short_error(err)})") from None

    def _check_encoded(self, index: int, data: bytes) -> None:
        """Refuse a frame its decoder would misread or crawl through (:func:`encoded_problem`)."""
        sample_bytes = self._spp * (self._bits // 8)
        problem = encoded_problem(data, self._tsyntax, sample_bytes, (self._rows, self._cols))
        if problem:
            raise self._fail(f"frame {index}: {problem}")

    def _finish(self, arr: np.ndarray, luminance: bool) -> np.ndarray:
        """uint8 RGB or gray from a decoded frame (:func:`finish_pixels`)."""
        size, photometric = (self._rows, self._cols), self._photometric
        return finish_pixels(arr, self._ds, photometric=photometric, size=size, luminance=luminance)

    def _check_first_frame(self) -> None:
        """Frame 0's own header agrees with Rows/Columns, it decodes, and looks like echo."""
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
        pixels, _ = self._decode(first)
        if self._encapsulated and self._tsyntax != RLELossless and not has_end_marker(data):
            self.info.warnings.append("frame 0's codestream has no end marker (truncated?)")
        self.info.warnings += echo_warnings(pixels, (self._rows, self._cols))

    def _set_region(self, estimate: bool) -> None:
        """Crop to the scan sector: detected in a few frames, inside the header's ultrasound
        region when there is one (it often holds the fan with wide margins), so every source
        is cropped alike; the header's region, else the whole image, when detection fails.
        Inside a header region only a fan (apex, two edges) replaces it: a mere bright blob
        there is image content, not a tighter frame. A header that names no acquisition kind
        has it looked for in a few of those frames (:mod:`.acquisition_pixels`)."""
        header = self.info.region
        span = self._n if self._video is None else min(self._n, _VIDEO_SPAN)  # decoded in order
        picks = np.linspace(0, span - 1, min(span, _ESTIMATE_FRAMES)).astype(int)
        guess = self.info.acquisition is AcquisitionKind.UNKNOWN
        spread = np.linspace(0, len(picks) - 1, min(len(picks), _KIND_FRAMES)).astype(int)
        looks = set(picks[spread]) if guess else set()
        votes = AcquisitionVotes()
        frames, scale = self._sample(set(picks) if estimate else set(), looks, votes)
        fan = None
        if estimate:
            fan = detect_fan(frames, scale=scale, full_size=(self._rows, self._cols), within=header)
            if header is not None and fan is not None and fan.kind != "sector":
                fan = None  # inside the scanner's region only a clear fan is worth a tighter crop
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
        if guess:
            note_acquisition(self.info, votes.result())

    def _sample(
        self, picks: set[int], looks: set[int], votes: AcquisitionVotes
    ) -> tuple[list[np.ndarray], float]:
        """Frames ``picks`` small and gray (for the sector detector, with their scale); frames
        ``looks`` decoded whole, in colour, go to ``votes`` one at a time; in one read."""
        small: list[np.ndarray] = []
        scale = 1.0
        with self._open_pixels() as fh:
            for item in self._encoded(fh, stop=max(picks | looks, default=-1) + 1):
                try:
                    if item[0] in picks:
                        pixels, scale = self._small_gray(item)
                        small.append(pixels)
                    if item[0] in looks:
                        votes.add(self._decode_with(item)[0], colour=True)
                except SourceError:
                    continue  # a bad frame is reported when it is reached
        return small, scale

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
