"""The live path: frames labelled as they arrive, with latency bounded under overload.

A reader thread puts frames into a small drop-oldest queue (overload drops the oldest frames
and counts them), inference runs batch 1, and a sink thread draws the overlay and writes it out
through its own bounded queue; what the run measured is a :class:`LiveReport` in fixed memory.
Each frame is labelled and drawn by :mod:`.live_frame` (shared with frame-at-a-time callers).
The file path and the shared pieces (:class:`~.pipeline.Engine`, :class:`~.pipeline.FrameResult`)
are in :mod:`.pipeline`.

Example::

    engine = Engine.load("model.onnx", backend="auto")
    with open_source("udp://127.0.0.1:5000", **engine.source_options("udp://…")) as src:
        report = run_live(engine, src, chain_for(engine, cfg["smoother"], fps=30),
                          LiveSettings.from_config(cfg, duration_s=60))
    print(report.summary()["frame_to_label_ms"])
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from .concurrency import switch_interval
from .errors import item_error
from .frame import MIN_FPS, Frame
from .latency import LatencyHistogram
from .live_frame import LiveLabeller, draw_result
from .pipeline import STAGE_NAMES, Engine, FrameResult, timed_frames, timed_preprocess
from .sources.base import FrameSource
from .temporal import Stage

SINK_JOIN_TIMEOUT_S = 30.0  # how long a live run waits for its sink writer to finish


@dataclass
class LiveSettings:
    """How one live run is scheduled and when it ends.

    ``pace``: play a file at its own frame rate (frame timestamps), as a scanner would.
    ``queue_size`` / ``sink_queue_size``: the drop-oldest queues before inference and before
    the sink writer. ``max_frames`` / ``duration_s``: stop after that many frames read or
    seconds (None: when the source ends). ``overlay``: the ``overlay:`` settings (``top_k``).
    ``preprocess_in_reader``: preprocess on the reader thread (overlapping the previous
    frame's inference) instead of the inference thread. ``switch_interval_ms``: the Python
    GIL switch interval during the run (:func:`~echostream.stream.concurrency.switch_interval`:
    shared safely by concurrent runs, restored after the last; default 5 ms): shorter lets
    the inference thread take the GIL back sooner from the reader and sink threads.
    ``sink_nice`` > 0 lowers the overlay/sink thread's CPU priority by that much (the overlay
    is not on the frame-to-label path).
    """

    pace: bool = False
    queue_size: int = 4
    sink_queue_size: int = 8
    max_frames: int | None = None
    duration_s: float | None = None
    overlay: dict[str, Any] = field(default_factory=dict)
    preprocess_in_reader: bool = False
    switch_interval_ms: float | None = None
    sink_nice: int = 0

    @classmethod
    def from_config(cls, cfg: dict[str, Any], **given: Any) -> LiveSettings:
        """The settings from the stream settings' ``live:`` and ``overlay:`` sections, with
        ``given`` fields (e.g. ``pace``, ``max_frames``) set as given.

        >>> LiveSettings.from_config({"live": {"queue_size": 2}}, pace=True).queue_size
        2
        """
        live = cfg.get("live", {})
        ms = live.get("switch_interval_ms")
        settings = cls(
            queue_size=int(live.get("queue_size", 4)),
            sink_queue_size=int(live.get("sink_queue_size", 8)),
            overlay=cfg.get("overlay") or {},
            preprocess_in_reader=bool(live.get("preprocess_in_reader", False)),
            switch_interval_ms=None if ms is None else float(ms),
            sink_nice=int(live.get("sink_nice", 0)),
        )
        return replace(settings, **given)


class DropOldestQueue:
    """A bounded FIFO whose ``put`` never blocks: when full, the oldest item is dropped and
    counted in ``dropped``. ``None`` (the stop signal) is never dropped by a later put."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[Any] = deque()
        self.maxsize = max(1, int(maxsize))
        self.dropped = 0
        self._cond = threading.Condition()

    def put(self, item: Any) -> None:
        with self._cond:
            if item is not None:
                while len(self._items) >= self.maxsize and self._items[0] is not None:
                    self._items.popleft()
                    self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Any:
        """The oldest item; raises ``queue.Empty`` after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout=timeout):
                raise queue.Empty
            return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class FrameSink(Protocol):
    """Receives annotated RGB frames (see :mod:`echostream.stream.sinks`)."""

    def write(self, rgb: np.ndarray, result: FrameResult) -> None: ...

    def close(self) -> None: ...


def _histograms() -> dict[str, LatencyHistogram]:
    return {s: LatencyHistogram() for s in STAGE_NAMES}


@dataclass
class LiveReport:
    """What a live run measured (milliseconds), in fixed memory however long it runs:
    latencies and stage times are streaming histograms (percentiles within 1 %)."""

    frames_in: int = 0
    frames_labelled: int = 0
    dropped_reader: int = 0  # oldest frames dropped before inference (overload)
    dropped_sink: int = 0  # annotated frames dropped before the writer (slow sink)
    dropped_source: int = 0  # gaps the source itself saw (live streams)
    reconnects: int = 0
    wall_s: float = 0.0
    time_to_first_label_s: float | None = None
    latency_ms: LatencyHistogram = field(default_factory=LatencyHistogram)
    stage_ms: dict[str, LatencyHistogram] = field(default_factory=_histograms)
    error: str | None = None
    screen: dict[str, Any] | None = None  # what the annotated output shows (ScreenMask)

    def record(self, result: FrameResult, since_start_s: float) -> None:
        """Count one labelled frame: its frame-to-label latency and stage times."""
        if self.time_to_first_label_s is None:
            self.time_to_first_label_s = since_start_s
        self.frames_labelled += 1
        self.latency_ms.add(result.latency_ms or 0.0)
        for k, v in result.times.items():
            self.stage_ms[k].add(v)

    def summary(self) -> dict[str, Any]:
        fps = self.frames_labelled / self.wall_s if self.wall_s > 0 else None
        return {
            "frames_in": self.frames_in,
            "frames_labelled": self.frames_labelled,
            "fps": fps,
            "dropped": {
                "reader": self.dropped_reader,
                "sink": self.dropped_sink,
                "source": self.dropped_source,
            },
            "reconnects": self.reconnects,
            "time_to_first_label_s": self.time_to_first_label_s,
            "frame_to_label_ms": self.latency_ms.summary(),
            "stages_ms": {k: v.summary() for k, v in self.stage_ms.items() if len(v)},
            "screen": self.screen,
            "error": self.error,
        }


def lower_thread_priority(nice: int) -> bool:
    """Raise the calling thread's nice value by ``nice`` (Linux: per thread; always allowed),
    so it yields the CPU to the inference thread. False where the OS does not support it."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        return False
    return True


def _live_reader(
    source: FrameSource,
    out: DropOldestQueue,
    stop: threading.Event,
    report: LiveReport,
    pace: bool,
    max_frames: int | None,
    pre: Callable[[Frame], np.ndarray] | None = None,
) -> None:
    """Frames into ``out`` as ``(frame, t_arrived, decode ms, x or None, preprocess ms,
    connection)``; ``x`` is preprocessed here when ``pre`` is given (else by the inference
    thread). ``connection`` counts the source's reconnects so far (it changes with the first
    frame of a new connection)."""
    t_start: float | None = None
    stats = getattr(source, "stats", None)
    try:
        for frame, t1, decode_ms in timed_frames(source, stop):
            if pace:  # a file played at its own frame rate
                t_start = t1 - frame.timestamp if t_start is None else t_start
                wait = t_start + frame.timestamp - time.perf_counter()
                if wait > 1.0 / MIN_FPS:  # a jump in timestamps: play on, never stall
                    t_start -= wait - 1.0 / MIN_FPS
                    wait = 1.0 / MIN_FPS
                if wait > 0:
                    time.sleep(wait)
                t1 = time.perf_counter()
            report.frames_in += 1
            x, pre_ms = timed_preprocess(pre, frame) if pre is not None else (None, 0.0)
            out.put((frame, t1, decode_ms, x, pre_ms, getattr(stats, "reconnects", 0)))
            if max_frames is not None and report.frames_in >= max_frames:
                break
    except Exception as err:  # a live reader must not die silently  # noqa: BLE001
        report.error = str(item_error(getattr(source.info, "name", "source"), err))
    finally:
        out.put(None)


def _sink_loop(
    q: DropOldestQueue,
    sinks: Sequence[FrameSink],
    labels: Sequence[str],
    report: LiveReport,
    settings: LiveSettings,
    screen: Any,
    stop: threading.Event,
) -> None:
    """Draw the overlay on each labelled frame and write it to every sink until ``None``.

    Only this thread writes to and closes the sinks (after the last write). A sink whose write
    fails is dropped, the others keep going; an overlay that fails ends the run (``stop``):
    both go into ``report.error``. ``screen`` (a :class:`~echostream.stream.overlay.ScreenMask`)
    says which pixels stay visible."""
    from .overlay import OverlayStyle

    lower_thread_priority(settings.sink_nice)
    live = list(sinks)
    broken = False
    style = OverlayStyle()
    try:
        style = OverlayStyle(top_k=int(settings.overlay.get("top_k", 3)))
    except (TypeError, ValueError) as err:
        report.error = f"overlay settings: {err}"
        broken = True
        stop.set()
    try:
        while (item := q.get()) is not None:
            if broken or not live:
                continue  # drain: the reader and inference threads never wait on us
            result, fps = item
            t0 = time.perf_counter()
            try:
                rgb = draw_result(result, labels, fps=fps, screen=screen, style=style)
            except Exception as err:  # noqa: BLE001 (any overlay bug ends the run, reported)
                report.error = report.error or f"overlay failed: {type(err).__name__}: {err}"
                broken = True
                stop.set()
                continue
            report.stage_ms["overlay"].add((time.perf_counter() - t0) * 1e3)
            for sink in list(live):
                try:
                    sink.write(rgb, result)
                except Exception as err:  # keep serving the other sinks  # noqa: BLE001
                    report.error = report.error or f"{type(sink).__name__}: {err}"
                    live.remove(sink)
    finally:
        for sink in sinks:
            try:
                sink.close()
            except Exception as err:  # noqa: BLE001 (a failed close is reported, not raised)
                report.error = report.error or f"{type(sink).__name__}: close failed: {err}"


class _LiveThreads:
    """The reader and sink-writer threads of one live run, each with its drop-oldest queue
    (``frames``: read frames to label; ``annotated``: labelled frames to draw and write)."""

    def __init__(
        self,
        engine: Engine,
        source: FrameSource,
        sinks: Sequence[FrameSink],
        settings: LiveSettings,
        report: LiveReport,
        screen: Any,
        stop: threading.Event,
    ) -> None:
        self.frames = DropOldestQueue(settings.queue_size)
        self.annotated = DropOldestQueue(settings.sink_queue_size)
        self.sinks, self.report, self.stop = sinks, report, stop
        pre = engine.preprocessor if settings.preprocess_in_reader else None
        self.reader = threading.Thread(
            target=_live_reader,
            args=(source, self.frames, stop, report, settings.pace, settings.max_frames, pre),
            daemon=True,
            name="live-reader",
        )
        self.writer = threading.Thread(
            target=_sink_loop,
            args=(self.annotated, sinks, engine.labels, report, settings, screen, stop),
            daemon=True,
            name="live-sink",
        )

    def start(self) -> None:
        if self.sinks:
            self.writer.start()
        self.reader.start()

    def draw(self, result: FrameResult, fps: float | None) -> None:
        """Hand ``result`` to the sink writer (when there are sinks)."""
        if self.sinks:
            self.annotated.put((result, fps))

    def finish(self, source: FrameSource) -> None:
        """Stop reading (``source`` is closed: that unblocks a live reader waiting for data),
        let the writer drain and close the sinks, and count what was dropped."""
        report = self.report
        source.close()
        self.reader.join(timeout=10.0)
        if self.sinks:
            self.annotated.put(None)  # the writer drains, then closes the sinks itself
            self.writer.join(timeout=SINK_JOIN_TIMEOUT_S)
            if self.writer.is_alive():  # it closes the sinks itself once its write returns
                report.error = report.error or (
                    f"the sink writer did not finish within {SINK_JOIN_TIMEOUT_S:g} s"
                )
        report.dropped_reader = self.frames.dropped
        report.dropped_sink = self.annotated.dropped
        stats = getattr(source, "stats", None)
        if stats is not None:
            report.dropped_source = int(getattr(stats, "dropped", 0))
            report.reconnects = int(getattr(stats, "reconnects", 0))


def _label_until_done(
    labeller: LiveLabeller,
    threads: _LiveThreads,
    settings: LiveSettings,
    on_result: Callable[[FrameResult], None] | None,
    t_begin: float,
) -> None:
    """Label frames as the reader hands them over until the source ends, ``stop`` is set or
    ``settings.duration_s`` passed. The temporal chain is reset when the source reconnects."""
    connection: int | None = None
    while not threads.stop.is_set() and (
        settings.duration_s is None or time.perf_counter() - t_begin <= settings.duration_s
    ):
        try:
            item = threads.frames.get(timeout=0.1)
        except queue.Empty:
            if threads.stop.is_set() and not threads.reader.is_alive():
                break
            continue
        if item is None:
            break
        frame, t_read, decode_ms, x, pre_ms, item_connection = item
        if connection is not None and item_connection != connection:
            labeller.chain.reset()  # the stream came back: labels from before say nothing now
        connection = item_connection
        result = labeller.label(frame, t_read, decode_ms=decode_ms, x=x, pre_ms=pre_ms)
        threads.report.record(result, time.perf_counter() - t_begin)
        if on_result is not None:
            on_result(result)
        threads.draw(result, labeller.fps)


def run_live(
    engine: Engine,
    source: FrameSource,
    chain: Stage,
    settings: LiveSettings | None = None,
    *,
    sinks: Sequence[FrameSink] = (),
    on_result: Callable[[FrameResult], None] | None = None,
    stop: threading.Event | None = None,
    screen: Any = None,
) -> LiveReport:
    """Classify ``source`` as frames arrive (batch 1) until it ends, ``settings.max_frames``
    were read, ``settings.duration_s`` passed or ``stop`` is set (see :class:`LiveSettings`).
    Annotated frames go to ``sinks``; ``on_result`` sees each result as it is labelled.
    ``chain``: the model's temporal chain (:func:`~.temporal.chain_for`, the model file's
    unknown-view gate first).

    ``screen``: the :class:`~echostream.stream.overlay.ScreenMask` for annotated frames (None:
    a default one, which blanks everything outside the ultrasound region). The temporal chain
    is reset when the source reconnects (a new connection is a new view of the heart).
    """
    from .overlay import ScreenMask

    settings = settings or LiveSettings()
    screen = screen if screen is not None else ScreenMask()
    report = LiveReport()
    threads = _LiveThreads(
        engine, source, sinks, settings, report, screen, stop or threading.Event()
    )
    labeller = LiveLabeller(engine, chain)
    chain.reset()
    t_begin = time.perf_counter()
    threads.start()
    with switch_interval(settings.switch_interval_ms):
        try:
            _label_until_done(labeller, threads, settings, on_result, t_begin)
        except KeyboardInterrupt:
            pass
        finally:
            threads.stop.set()
            report.wall_s = time.perf_counter() - t_begin
            threads.finish(source)
            report.screen = screen.describe() if sinks else None
    return report
