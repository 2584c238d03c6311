"""Video files (MP4, AVI, MOV, MKV, GIF, …) through PyAV, and still images through Pillow.

Example::

    from echostream.stream.sources.video import VideoSource

    with VideoSource("clip.mp4", luminance=True) as src:
        print(src.info.n_frames, src.info.fps)  # 20 25.0
        for frame in src:
            print(frame.index, frame.timestamp, frame.pixels.shape)  # 0 0.0 (480, 640)

Frames are decoded one at a time; ``timestamp`` comes from the frame's PTS (seconds from the
first frame). ``luminance=True`` gives H×W frames (BT.601 luma, as PyAV's ``gray`` conversion),
otherwise H×W×3 RGB. ``target_size=(h, w)`` lets the reader hand out frames reduced by 1/2, 1/4
or 1/8 (``frame.scale``) as long as they stay at least that large.

A source without any tag saying what it holds has its first frames looked at for spectral
Doppler, M-mode and colour flow (:mod:`.acquisition_pixels`). The helpers shared with
:mod:`.live` (:func:`check_options`, :func:`av_problem`, :class:`PixelConverter`,
:func:`estimate_from`, …) live in :mod:`.video_common` and are importable from here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SourceError, display_name
from ..frame import DEFAULT_FPS, MAX_FRAME_PIXELS, Frame, SourceInfo
from .acquisition_pixels import WORK_SIDE, detect_acquisition, note_acquisition
from .base import FrameSource, check_regular_file
from .sanity import echo_warnings
from .video_common import (
    COMMON_OPTIONS,
    REGION_FRAMES,
    PixelConverter,
    RegionEstimator,
    av_problem,
    check_options,
    estimate_from,
    reduced_scale,
    resolve_estimator,
    stream_fps,
)

log = logging.getLogger(__name__)


class VideoSource(FrameSource):
    """Frames of a video file, decoded one at a time with PyAV.

    Options: ``luminance`` (H×W frames instead of RGB), ``target_size=(h, w)`` (allow frames
    reduced by 1/2–1/8 that stay at least this large), ``workers`` (decoder threads; None lets
    FFmpeg choose), ``estimate_region`` (default True: find the scan sector in the first
    ``REGION_FRAMES`` frames with :func:`~echostream.stream.sources.sector.detect_fan`, or a
    callable with its signature; False: ``info.region`` is None and the whole frame is used),
    ``name`` (what to call the file in ``info`` and errors). ``prefetch`` is ignored.

    Raises :class:`SourceError` at open for a missing, empty, non-video or undecodable file and
    for a file without frames; a decode error later on is also a :class:`SourceError`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        luminance: bool = False,
        target_size: tuple[int, int] | None = None,
        workers: int | None = None,
        estimate_region: RegionEstimator | bool | None = True,
        name: str | None = None,
        **options: Any,
    ) -> None:
        options.pop("prefetch", None)
        check_options(type(self).__name__, options)
        self.path = Path(path)
        self.name = display_name(name or str(path))
        self.workers = workers
        self._container: Any = None
        self._pending: Iterator[tuple[Any, np.ndarray]] | None = None
        self._stopped: str | None = None  # why decoding ended early, if it did
        check_regular_file(self.path, self.name)

        estimator = resolve_estimator(estimate_region)
        container, stream = self._open()
        try:
            decoded = self._decode(container, stream)
            first = next(decoded, None)
            if first is None:
                raise SourceError(self.name, "no decodable video frames (zero frames)")
            head = [first] + ([] if estimator is None else list(islice(decoded, REGION_FRAMES - 1)))
        except BaseException:
            container.close()
            raise
        self._container = container
        width, height = first.width, first.height
        self._convert = PixelConverter(width, height, luminance, target_size)
        warnings: list[str] = []
        fps = stream_fps(stream, warnings)
        if not fps:
            warnings.append(f"frame rate unknown; assuming {DEFAULT_FPS:g} fps")
        self.info = SourceInfo(
            name=self.name,
            kind="video",
            n_frames=int(stream.frames) or None,
            fps=fps[0] if fps else DEFAULT_FPS,
            fps_origin=fps[1] if fps else "default",
            width=width,
            height=height,
            codec=stream.codec_context.name,
            warnings=warnings,
        )
        converted = [(f, self._convert(f)) for f in head]
        self.info.warnings += echo_warnings(converted[0][1], (height, width))
        estimate_from(
            estimator,
            [pixels for _, pixels in converted],
            self._convert.scale,
            (height, width),
            self.info,
        )
        k = min(1.0, WORK_SIDE / max(width, height))  # the detector's own size, any target_size
        size = {"width": max(1, round(width * k)), "height": max(1, round(height * k))}
        samples = [f.to_ndarray(format="rgb24", **size) for f, _ in converted[::2]]  # ≤ 4
        note_acquisition(self.info, detect_acquisition(samples, colour=samples))
        self._pending = _chain(converted, decoded, self._convert)

    # -- opening and decoding -------------------------------------------------------------
    def _open(self) -> tuple[Any, Any]:
        import av

        try:
            container = av.open(str(self.path), timeout=(10.0, 10.0))
        except (av.error.FFmpegError, OSError) as err:
            raise SourceError(self.name, f"not a readable video file ({av_problem(err)})") from None
        if not container.streams.video:
            container.close()
            raise SourceError(self.name, "no video stream in the file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if self.workers is not None:
            stream.codec_context.thread_count = int(self.workers)
        return container, stream

    def _decode(self, container: Any, stream: Any) -> Iterator[Any]:
        """Decoded ``av.VideoFrame``s; PyAV errors become :class:`SourceError`."""
        import av

        count = 0
        try:
            for frame in container.decode(stream):
                count += 1
                yield frame
        except (av.error.FFmpegError, OSError) as err:
            if count == 0:
                problem = f"no frame could be decoded ({av_problem(err)})"
                raise SourceError(self.name, problem) from None
            self._stopped = av_problem(err)  # frames so far are good: stop, with a warning

    def frames(self) -> Iterator[Frame]:
        """Frames from the start of the file (a second call re-opens the file)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
        else:
            self.close()
            self._stopped = None
            container, stream = self._open()
            self._container = container
            pending = _chain([], self._decode(container, stream), self._convert)
        first_time: float | None = None
        period = 1.0 / self.info.fps
        index = -1
        for index, (av_frame, pixels) in enumerate(pending):
            t = av_frame.time
            if t is not None and first_time is None:
                first_time = float(t)
            ts = float(t) - first_time if t is not None and first_time is not None else None
            yield Frame(
                pixels=pixels,
                index=index,
                timestamp=index * period if ts is None else ts,
                info=self.info,
                scale=self._convert.scale,
            )
        n = index + 1
        declared = self.info.n_frames
        if self._stopped or (declared is not None and n < declared):
            of = f" of {declared} declared" if declared else ""
            why = f"decoding stopped: {self._stopped}; " if self._stopped else ""
            note = f"only {n}{of} frames decodable ({why}truncated or corrupt file?)"
            if note not in self.info.warnings:
                self.info.warnings.append(note)
                log.debug("%s: %s", self.name, note)  # in info.warnings; no path in logs

    def close(self) -> None:
        container, self._container = self._container, None
        self._pending = None
        if container is not None:
            container.close()


def _chain(
    head: list[tuple[Any, np.ndarray]],
    rest: Iterator[Any],
    convert: Callable[[Any], np.ndarray],
) -> Iterator[tuple[Any, np.ndarray]]:
    """``head`` (frames already converted), then the rest converted as they come."""
    yield from head
    for frame in rest:
        yield frame, convert(frame)


class ImageSource(FrameSource):
    """A still image (PNG, JPEG, BMP, TIFF, …) as a one-frame source, read with Pillow.

    ``info.fps`` is 0.0 (``fps_origin="still"``): a still has no frame rate. With
    ``target_size`` a JPEG is decoded at reduced scale in the DCT domain (Pillow ``draft``).
    Only the first page of a multi-page file is read (a warning says so). Options as for
    :class:`VideoSource` (``workers`` and ``prefetch`` are ignored).

    >>> # ImageSource("view.png").info.n_frames -> 1
    """

    def __init__(
        self,
        path: str | Path,
        *,
        luminance: bool = False,
        target_size: tuple[int, int] | None = None,
        estimate_region: RegionEstimator | bool | None = True,
        name: str | None = None,
        **options: Any,
    ) -> None:
        options.pop("prefetch", None)
        options.pop("workers", None)  # one frame: nothing to parallelise
        check_options(type(self).__name__, options)
        self.path = Path(path)
        self.name = display_name(name or str(path))
        check_regular_file(self.path, self.name)
        pixels, width, height, scale, fmt, pages, sample = self._read(luminance, target_size)
        warnings = [f"only the first of {pages} pages is read"] if pages > 1 else []
        warnings += echo_warnings(pixels, (height, width))
        self.info = SourceInfo(
            name=self.name,
            kind="image",
            n_frames=1,
            fps=0.0,
            fps_origin="still",
            width=width,
            height=height,
            codec=fmt,
            warnings=warnings,
        )
        estimate_from(
            resolve_estimator(estimate_region), [pixels], scale, (height, width), self.info
        )
        note_acquisition(self.info, detect_acquisition([sample], colour=[sample]))
        self._pixels = pixels
        self._scale = scale

    def _read(
        self, luminance: bool, target_size: tuple[int, int] | None
    ) -> tuple[np.ndarray, int, int, float, str | None, int, np.ndarray]:
        """Pixels (at reduced scale where allowed), size, scale, format, page count, and an
        RGB copy at most ``WORK_SIDE`` long for the acquisition detector."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.path) as img:
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise SourceError(self.name, "image has no pixels")
                if width * height > MAX_FRAME_PIXELS:
                    raise SourceError(self.name, _too_large(f"{width}x{height}"))
                fmt = img.format
                pages = int(getattr(img, "n_frames", 1))
                if target_size is not None and img.format == "JPEG":
                    th, tw = (int(v) for v in target_size)
                    img.draft("L" if luminance else "RGB", (tw, th))
                img.load()
                pixels = _image_array(img, luminance)
                sample = _image_array(img, False)
        except Image.DecompressionBombError:
            raise SourceError(self.name, _too_large("more pixels than Pillow allows")) from None
        except UnidentifiedImageError:
            raise SourceError(self.name, "not an image file Pillow can read") from None
        except (OSError, ValueError, SyntaxError, EOFError) as err:
            problem = " ".join(str(err).split())[:160] or type(err).__name__
            raise SourceError(self.name, f"image cannot be decoded ({problem})") from None
        k = min(1.0, WORK_SIDE / max(sample.shape[:2]))
        if k < 1.0:
            size = (max(1, round(sample.shape[1] * k)), max(1, round(sample.shape[0] * k)))
            sample = np.asarray(Image.fromarray(sample).resize(size, Image.Resampling.BOX))
        return pixels, width, height, pixels.shape[1] / width, fmt, pages, sample

    def frames(self) -> Iterator[Frame]:
        yield Frame(pixels=self._pixels, index=0, timestamp=0.0, info=self.info, scale=self._scale)


def _too_large(size: str) -> str:
    return (
        f"image declares {size}: too large to read "
        f"(at most {MAX_FRAME_PIXELS / 1e6:.1f} M pixels per frame)"
    )


def _image_array(img: Any, luminance: bool) -> np.ndarray:
    """A Pillow image as uint8 H×W (luminance) or H×W×3 (RGB); deep gray is scaled by its max."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.int64)
        top = max(int(arr.max()), 1)
        gray = (arr * 255 // top if top > 255 else arr).clip(0, 255).astype(np.uint8)
        return gray if luminance else np.repeat(gray[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA").convert("RGB")  # drop alpha
    return np.asarray(img.convert("L" if luminance else "RGB"), dtype=np.uint8)


__all__ = [
    "COMMON_OPTIONS",
    "DEFAULT_FPS",
    "ImageSource",
    "PixelConverter",
    "RegionEstimator",
    "VideoSource",
    "av_problem",
    "check_options",
    "estimate_from",
    "reduced_scale",
    "resolve_estimator",
    "stream_fps",
]
