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

The helpers here (:func:`check_options`, :func:`av_problem`, :class:`PixelConverter`,
:func:`estimate_from`) are shared with :mod:`.live`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SourceError, display_name
from ..frame import DEFAULT_FPS, MAX_FRAME_PIXELS, Frame, Region, SourceInfo, implausible_fps
from .base import FrameSource, check_regular_file
from .sanity import echo_warnings
from .sector import Fan

log = logging.getLogger(__name__)

#: Options :func:`~echostream.stream.sources.open_source` may pass to every reader (the DICOM
#: reader's keywords). A reader accepts all of them, ignoring those it has no use for; any other
#: unknown option is a ``TypeError``.
COMMON_OPTIONS = frozenset(
    {"luminance", "target_size", "workers", "prefetch", "estimate_region", "name"}
)

REGION_FRAMES = 8  # frames of a file handed to the sector detector (their maximum is used)
_REDUCTIONS = (1 / 8, 1 / 4, 1 / 2)

#: ``estimator(frames, scale=…, full_size=(rows, cols)) -> Fan | Region | None``, the
#: signature of :func:`echostream.stream.sources.sector.detect_fan`.
RegionEstimator = Callable[..., "Fan | Region | None"]


def check_options(reader: str, options: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming the options that are neither the reader's nor common ones.

    ``options`` holds what is left after the reader's own keyword arguments were taken.

    >>> check_options("VideoSource", {"workers": 2})
    >>> check_options("VideoSource", {"colour": 1})
    Traceback (most recent call last):
    TypeError: VideoSource got unexpected option(s): colour
    """
    unknown = sorted(set(options) - COMMON_OPTIONS)
    if unknown:
        raise TypeError(f"{reader} got unexpected option(s): {', '.join(unknown)}")


def av_problem(err: BaseException) -> str:
    """A short, one-line description of a PyAV/FFmpeg (or I/O) error, without the file name."""
    import av

    if isinstance(err, av.error.ExitError):
        return "timed out waiting for data"
    if isinstance(err, av.error.InvalidDataError):
        return "invalid or unsupported data"
    if isinstance(err, av.error.FFmpegError):
        text = err.strerror or type(err).__name__
        return str(text)[0].lower() + str(text)[1:] if text else type(err).__name__
    if isinstance(err, TimeoutError):
        return f"timed out ({err})" if str(err) else "timed out"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    return str(err) or type(err).__name__


def reduced_scale(width: int, height: int, target_size: tuple[int, int] | None) -> float:
    """The smallest of 1/8, 1/4, 1/2 that keeps a ``width``×``height`` frame at least
    ``target_size`` = ``(h, w)``; 1.0 when there is no target or no reduction fits.

    >>> reduced_scale(800, 600, (60, 80)), reduced_scale(800, 600, None)
    (0.125, 1.0)
    """
    if target_size is None:
        return 1.0
    th, tw = (int(v) for v in target_size)
    for scale in _REDUCTIONS:
        if width * scale >= tw and height * scale >= th:
            return scale
    return 1.0


class PixelConverter:
    """Turn PyAV video frames into uint8 arrays (RGB or luminance, optionally reduced).

    The output size is fixed from the first frame's size and ``target_size``;
    :attr:`scale` is the output size relative to the full frame.
    """

    def __init__(
        self, width: int, height: int, luminance: bool, target_size: tuple[int, int] | None
    ) -> None:
        self.format = "gray" if luminance else "rgb24"
        self.scale = reduced_scale(width, height, target_size)
        self._size: dict[str, Any] = {}
        if self.scale != 1.0:
            self._size = {
                "width": max(1, round(width * self.scale)),
                "height": max(1, round(height * self.scale)),
                "interpolation": "AREA",
            }

    def __call__(self, frame: Any) -> np.ndarray:
        """``frame`` (an ``av.VideoFrame``) as H×W or H×W×3 uint8."""
        return np.ascontiguousarray(frame.to_ndarray(format=self.format, **self._size))


def resolve_estimator(estimate_region: RegionEstimator | bool | None) -> RegionEstimator | None:
    """The region estimator to use: a callable as given, ``True`` for the package's sector
    detector (:func:`echostream.stream.sources.sector.detect_fan`), ``False``/``None`` for
    none."""
    if estimate_region is None or estimate_region is False:
        return None
    if estimate_region is True:
        from .sector import detect_fan

        return detect_fan
    if callable(estimate_region):
        return estimate_region
    raise TypeError(f"estimate_region must be a callable or a bool, not {estimate_region!r}")


def estimate_from(
    estimator: RegionEstimator | None,
    frames: list[np.ndarray],
    scale: float,
    full_size: tuple[int, int],
    info: SourceInfo,
) -> None:
    """Run ``estimator`` on the first frames (at ``scale``); set ``info.region`` (and
    ``info.fan`` for a detected sector) and note the outcome in ``info.warnings``."""
    if estimator is None or not frames:
        return
    found = estimator(frames, scale=scale, full_size=full_size)
    if found is None:
        info.warnings.append("no scan sector found in the pixels; using the whole frame")
        return
    if isinstance(found, Fan):
        info.region, info.fan = found.region, found.to_dict()
    else:
        info.region = found


def stream_fps(stream: Any, warnings: list[str] | None = None) -> tuple[float, str] | None:
    """``(fps, origin)`` from a PyAV stream's average or guessed rate, or None if unknown (or
    not plausible: then ``warnings`` says so)."""
    for rate, origin in ((stream.average_rate, "container"), (stream.guessed_rate, "guessed")):
        if rate and Fraction(rate) > 0:
            problem = implausible_fps(float(rate), f"the {origin} frame rate")
            if problem is None:
                return float(rate), origin
            if warnings is not None and problem not in warnings:
                warnings.append(problem)
    return None


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
        pixels, width, height, scale, fmt, pages = self._read(luminance, target_size)
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
        self._pixels = pixels
        self._scale = scale

    def _read(
        self, luminance: bool, target_size: tuple[int, int] | None
    ) -> tuple[np.ndarray, int, int, float, str | None, int]:
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
        except Image.DecompressionBombError:
            raise SourceError(self.name, _too_large("more pixels than Pillow allows")) from None
        except UnidentifiedImageError:
            raise SourceError(self.name, "not an image file Pillow can read") from None
        except (OSError, ValueError, SyntaxError, EOFError) as err:
            problem = " ".join(str(err).split())[:160] or type(err).__name__
            raise SourceError(self.name, f"image cannot be decoded ({problem})") from None
        return pixels, width, height, pixels.shape[1] / width, fmt, pages

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
    "ImageSource",
    "PixelConverter",
    "VideoSource",
    "av_problem",
    "check_options",
    "estimate_from",
]
