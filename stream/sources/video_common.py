"""What the file and live video readers share: their options, PyAV error text, the reduced
decode size, frame conversion, frame rates and the region estimate from the first frames.

Example::

    convert = PixelConverter(720, 540, luminance=True, target_size=(60, 80))
    pixels = convert(av_frame)            # H×W uint8 at convert.scale of the full frame
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from ..frame import Region, SourceInfo, implausible_fps
from .sector import Fan

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
