"""Live sources through PyAV: network streams, V4L2 capture devices and a pipe on stdin.

Example::

    from echostream.stream.sources.live import LiveSource, ReconnectPolicy

    policy = ReconnectPolicy(max_retries=3, initial_backoff=0.5)
    with LiveSource("udp://127.0.0.1:5000", reconnect=policy, luminance=True) as src:
        for frame in src:
            print(frame.index, frame.timestamp)  # seconds from the first frame (PTS)
        print(src.stats)  # LiveStats(frames=…, reconnects=…, dropped=…, corrupt=…, …)

Sources: ``udp://``, ``rtp://``, ``rtsp://``, ``srt://``, ``tcp://``, ``http(s)://`` URLs;
``/dev/videoN`` (format ``v4l2``); ``"-"`` for a byte stream on stdin (e.g. ``ffmpeg … -f
mpegts - | echostream …``). Every blocking open/read is bounded by ``open_timeout`` /
``read_timeout``. When a network stream or device fails or ends, the source reconnects with
exponential back-off (:class:`ReconnectPolicy`); when it cannot, iteration ends and
``stats.ended`` says why. A stream that cannot be opened at all raises :class:`SourceError`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, cast

import numpy as np

from ..errors import SourceError, display_name
from ..frame import Frame, SourceInfo
from .base import FrameSource
from .live_connection import (
    ConnectionLost,
    LiveStats,
    PipeReader,
    ReconnectPolicy,
    is_fatal_open_error,
    redact,
)
from .udp_probe import udp_heard
from .video import (
    DEFAULT_FPS,
    PixelConverter,
    RegionEstimator,
    av_problem,
    check_options,
    estimate_from,
    resolve_estimator,
    stream_fps,
)

__all__ = ["LiveSource", "LiveStats", "ReconnectPolicy", "redact"]

log = logging.getLogger(__name__)

_MAX_CORRUPT_RUN = 50  # undecodable packets in a row before the connection counts as lost
_DISCONTINUITY_S = 5.0  # a PTS jump back, or forward by more than this, re-bases the clock


class LiveSource(FrameSource):
    """Frames of a live stream, device or stdin pipe, decoded with PyAV as they arrive.

    Options: ``luminance``, ``target_size``, ``workers``, ``estimate_region`` (as for
    :class:`~echostream.stream.sources.video.VideoSource`; ``name`` defaults to the URL with
    any password removed); ``reconnect`` (a
    :class:`ReconnectPolicy`; stdin is never reopened); ``open_timeout`` / ``read_timeout``
    (seconds any open / read may block); ``connect_timeout`` (seconds the first connection
    may take, retries included, before giving up; None: the policy alone); ``format``
    (FFmpeg demuxer, e.g. ``"mpegts"``, ``"v4l2"`` — guessed when None; ``/dev/video*``
    defaults to ``"v4l2"``); ``options`` (FFmpeg options for the demuxer/protocol, e.g.
    ``{"rtsp_transport": "tcp"}`` or ``{"video_size": "640x480"}``).

    The constructor connects (with retries) and waits for the first frame, so ``info`` holds
    the real size and frame rate; it raises :class:`SourceError` naming the URL (password
    removed) when no stream arrives. ``close()`` may be called from another thread: the reader
    stops within ``read_timeout``.
    """

    def __init__(
        self,
        url: str,
        *,
        luminance: bool = False,
        target_size: tuple[int, int] | None = None,
        workers: int | None = None,
        estimate_region: RegionEstimator | bool | None = True,
        reconnect: ReconnectPolicy | None = None,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        connect_timeout: float | None = 10.0,
        format: str | None = None,
        options: dict[str, str] | None = None,
        **common: Any,
    ) -> None:
        common.pop("prefetch", None)
        name = common.pop("name", None)
        check_options(type(self).__name__, common)
        self.url = str(url)
        self.name = display_name(redact(str(name or self.url)))  # a URL may carry a password
        self.is_pipe = self.url == "-"
        self.policy = reconnect if reconnect is not None else ReconnectPolicy()
        self.open_timeout = float(open_timeout)
        self.read_timeout = float(read_timeout)
        self.connect_timeout = None if connect_timeout is None else float(connect_timeout)
        self.workers = workers
        self.format = format or ("v4l2" if self.url.startswith("/dev/video") else None)
        self.av_options = {str(k): str(v) for k, v in (options or {}).items()}
        self.stats = LiveStats()
        self._closed = threading.Event()
        self._io_lock = threading.Lock()
        self._container: Any = None
        self._av_frames: Iterator[Any] | None = None
        # clock: timestamp = offset + (pts_time - pts_origin); re-based on every connection
        self._pts_origin: float | None = None
        self._offset = 0.0
        self._last_ts: float | None = None
        self._last_wall = 0.0
        self._conn_wall = 0.0
        self._fresh_clock = True
        self._pending: deque[tuple[Any, np.ndarray]] = deque()

        estimator = resolve_estimator(estimate_region)
        first = self._connect(retrying=False)
        if first is None:
            raise SourceError(self.name, self.stats.ended or "closed while connecting")
        try:
            self._describe(first, luminance, target_size, estimator)
        except BaseException:
            self.close()
            raise

    def _describe(
        self,
        first: Any,
        luminance: bool,
        target_size: tuple[int, int] | None,
        estimator: RegionEstimator | None,
    ) -> None:
        """Fill ``info`` from the open stream and its first frame(s)."""
        stream = cast(Any, self._container).streams.video[0]
        warnings: list[str] = []
        fps = stream_fps(stream, warnings)
        if not fps:
            warnings.append(f"frame rate unknown; assuming {DEFAULT_FPS:g} fps")
        self._period = 1.0 / (fps[0] if fps else DEFAULT_FPS)
        self._count_drops = fps is not None
        self._convert = PixelConverter(first.width, first.height, luminance, target_size)
        self.info = SourceInfo(
            name=self.name,
            kind="live",
            n_frames=None,
            fps=fps[0] if fps else DEFAULT_FPS,
            fps_origin=fps[1] if fps else "default",
            width=first.width,
            height=first.height,
            codec=stream.codec_context.name,
            warnings=warnings,
        )
        self._pending.append((first, self._convert(first)))
        # the sector is found on the first frame alone: waiting for more would delay the
        # first label at the bedside
        estimate_from(
            estimator,
            [pixels for _, pixels in self._pending],
            self._convert.scale,
            (first.height, first.width),
            self.info,
        )

    # -- connecting -------------------------------------------------------------------------
    def _open_once(self) -> Any:
        """Open the stream and return its first video frame; raise ``ConnectionLost`` on failure."""
        import av

        target: Any = self.url
        if self.is_pipe:
            try:
                target = PipeReader(sys.stdin.fileno(), self.open_timeout)
            except (OSError, ValueError) as err:
                raise ConnectionLost(f"stdin is not readable ({err})") from None
        try:
            container = av.open(
                target,
                format=self.format,
                options=self.av_options,
                timeout=(self.open_timeout, self.read_timeout),
            )
        except (av.error.FFmpegError, OSError, ValueError) as err:
            fatal = is_fatal_open_error(err, first=self._last_ts is None)
            problem = av_problem(err)
            # garbage bytes can also fail inside PyAV as text (UnicodeDecodeError): undecodable
            if isinstance(err, av.error.ExitError | av.error.InvalidDataError | UnicodeDecodeError):
                problem = self._why_no_stream(problem)
            raise ConnectionLost(problem, fatal=fatal) from None
        if isinstance(target, PipeReader):
            target.timeout = self.read_timeout
        if not container.streams.video:
            container.close()
            raise ConnectionLost("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if self.workers is not None:
            stream.codec_context.thread_count = int(self.workers)
        self._container = container
        self._av_frames = self._decode(container, stream)
        try:
            return self._next_av_frame(clock=False)
        except ConnectionLost:
            self._release()
            raise

    def _why_no_stream(self, problem: str) -> str:
        """FFmpeg says "timed out" both when nothing arrives and when what arrives is no video
        stream; on a UDP URL, listening for a moment tells which."""
        heard = None if self.is_pipe else udp_heard(self.url, min(1.0, self.open_timeout))
        if heard is None:
            return problem
        if not heard:
            return f"no data arrived (waited {self.open_timeout:g} s)"
        if problem == "timed out waiting for data":
            problem = f"none found in it within {self.open_timeout:g} s"
        return f"data arrives but cannot be decoded as a video stream ({problem})"

    def _connect(self, retrying: bool) -> Any:
        """Connect (retrying per the policy) and return the first frame, or None when giving
        up (``stats.ended`` says why) or closed."""
        retries = 0 if self.is_pipe else self.policy.max_retries
        tries = retries if retrying else 1 + retries
        reason = (self.stats.last_error or "stream lost") if retrying else "closed"
        budget = None if retrying or self.connect_timeout is None else self.connect_timeout
        deadline = None if budget is None else time.monotonic() + budget
        for attempt in range(tries):
            wait = self.policy.delay(attempt - (0 if retrying else 1))
            if deadline is not None and attempt and time.monotonic() + wait >= deadline:
                tries = attempt  # the connect budget is spent: give up with what we know
                break
            if (attempt or retrying) and self._closed.wait(wait):
                break
            if self._closed.is_set():
                break
            try:
                with self._io_lock:
                    frame = self._open_once()
            except ConnectionLost as err:
                reason = str(err)
                self.stats.failed_tries += 1
                self.stats.last_error = reason
                log.info("%s: try %d/%d failed: %s", self.name, attempt + 1, tries, reason)
                if err.fatal:
                    tries = 0  # report the reason alone: retrying cannot help
                    break
                continue
            self._start_clock(frame)
            return frame
        if self._closed.is_set():
            self.stats.ended = "closed"
        elif tries == 0:
            self.stats.ended = reason
        else:
            self.stats.ended = (
                f"no stream after {tries} tr{'y' if tries == 1 else 'ies'} ({reason})"
            )
        return None

    def _start_clock(self, frame: Any) -> None:
        now = time.monotonic()
        if self._last_ts is not None:  # after a reconnect: continue from the wall-clock gap
            gap = now - self._last_wall
            self._offset = self._last_ts + gap
            if self._count_drops:
                self.stats.dropped += max(0, round(gap / self._period) - 1)
        self._pts_origin = None if frame.time is None else float(frame.time)
        self._conn_wall = now
        self._fresh_clock = True  # the next timestamp starts this connection: no gap checks

    # -- reading ----------------------------------------------------------------------------
    def _decode(self, container: Any, stream: Any) -> Iterator[Any]:
        """Decoded video frames of one connection; ``ConnectionLost`` when it ends or fails."""
        import av

        corrupt_run = 0
        try:
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.error.ExitError:
                    raise
                except (av.error.FFmpegError, ValueError):
                    self.stats.corrupt += 1
                    corrupt_run += 1
                    if corrupt_run > _MAX_CORRUPT_RUN:
                        raise ConnectionLost(
                            f"{corrupt_run} undecodable packets in a row"
                        ) from None
                    continue
                for frame in decoded:
                    corrupt_run = 0
                    yield frame
        except (av.error.FFmpegError, OSError) as err:
            raise ConnectionLost(av_problem(err)) from None
        raise ConnectionLost("end of stream")

    def _next_av_frame(self, clock: bool = True) -> Any:
        """The next good frame of the current connection (corrupt frames are counted)."""
        assert self._av_frames is not None
        while True:
            frame = next(self._av_frames, None)
            if frame is None:  # the generator was closed
                raise ConnectionLost("closed")
            if not frame.is_corrupt:
                return frame
            self.stats.corrupt += 1
            if clock:
                self._timestamp(frame)  # keeps the PTS clock, so the gap is not also a drop

    def _timestamp(self, frame: Any) -> float:
        now = time.monotonic()
        t = frame.time
        if t is None:  # no PTS: fall back to the arrival clock
            ts = self._offset + (now - self._conn_wall)
        else:
            t = float(t)
            if self._pts_origin is None:
                self._pts_origin = t - (now - self._conn_wall)
            ts = self._offset + (t - self._pts_origin)
            last = None if self._fresh_clock else self._last_ts
            if last is not None and (ts < last or ts - last > _DISCONTINUITY_S):
                # PTS discontinuity (wrap, restarted sender): re-base one interval on
                ts = last + self._period
                self._offset, self._pts_origin = ts, t
            elif last is not None and self._count_drops:
                missing = round((ts - last) / self._period) - 1
                if (ts - last) > 1.5 * self._period and missing > 0:
                    self.stats.dropped += missing
        if self._last_ts is not None:
            ts = max(ts, self._last_ts)
        self._last_ts, self._last_wall = ts, now
        self._fresh_clock = False
        return ts

    def frames(self) -> Iterator[Frame]:
        """Frames as they arrive, until the stream is lost for good or the source is closed."""
        index = self.stats.frames
        try:
            while not self._closed.is_set():
                if self._pending:
                    av_frame, pixels = self._pending.popleft()
                else:
                    if self._av_frames is None:
                        if self.is_pipe:  # stdin cannot be reopened
                            break
                        av_frame = self._connect(retrying=True)
                        if av_frame is None:
                            break
                        self.stats.reconnects += 1
                    else:
                        try:
                            with self._io_lock:
                                if self._closed.is_set():
                                    break
                                av_frame = self._next_av_frame()
                        except ConnectionLost as err:
                            self._lost(str(err))
                            continue
                    pixels = self._convert(av_frame)
                ts = self._timestamp(av_frame)
                self.stats.frames += 1
                yield Frame(pixels, index, ts, self.info, self._convert.scale)
                index += 1
        finally:
            if self._closed.is_set() or self.stats.ended:
                with self._io_lock:
                    self._release()

    def _lost(self, reason: str) -> None:
        self.stats.last_error = reason
        with self._io_lock:
            self._release()
        if self.is_pipe:
            self.stats.ended = reason
        elif self.policy.max_retries:
            log.warning("%s: stream lost (%s); reconnecting", self.name, reason)

    # -- closing ----------------------------------------------------------------------------
    def _release(self) -> None:
        frames, self._av_frames = self._av_frames, None
        container, self._container = self._container, None
        if frames is not None and hasattr(frames, "close"):
            frames.close()
        if container is not None:
            container.close()

    def close(self) -> None:
        """Stop and release the stream. Safe to call twice and from another thread (a read in
        progress there finishes within ``read_timeout``, then releases)."""
        self._closed.set()
        if self.stats.ended is None:
            self.stats.ended = "closed"
        if self._io_lock.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._io_lock.release()


__all__ = ["LiveSource", "LiveStats", "ReconnectPolicy", "redact"]
