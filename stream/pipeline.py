"""source → preprocess → backend → temporal → sinks, with threads only at the I/O edges.

Files (:func:`run_file`): a reader thread decodes and preprocesses frames into a bounded queue;
inference takes micro-batches from it; every frame gets a result. Live (:func:`run_live`): a
reader thread puts frames into a small drop-oldest queue (overload drops the oldest frames and
counts them, so latency stays bounded), inference runs batch 1, and a sink thread draws the
overlay and writes it out through its own bounded queue. ``None`` on a queue means "stop".

Example::

    engine = Engine.load("model.onnx", backend="auto")
    with open_source("a4c.dcm", **engine.source_options("a4c.dcm")) as src:
        for r in run_file(engine, src, TemporalChain.from_config(cfg["smoother"])):
            print(r.index, engine.labels[r.pred.index], r.times)
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .concurrency import switch_interval
from .defaults import missing_model_message
from .errors import item_error
from .frame import MIN_FPS, Frame
from .latency import LatencyHistogram
from .model_file import ModelFileError, ModelInfo
from .sources import source_kind
from .sources.base import FrameSource
from .temporal import Prediction, Stage

STAGE_NAMES = ("decode", "preprocess", "inference", "temporal", "overlay")
SINK_JOIN_TIMEOUT_S = 30.0  # how long a live run waits for its sink writer to finish


@dataclass
class Engine:
    """A loaded model: its metadata, preprocessing and backend."""

    info: ModelInfo
    preprocessor: Any  # stream.preprocess.Preprocessor
    backend: Any  # stream.backends.base.Backend
    path: Path

    @classmethod
    def load(
        cls, model: str | Path, backend: str = "auto", threads: int = 0, spin: bool | None = None
    ) -> Engine:
        """Load ``model`` (ONNX file) on ``backend``; raises ModelFileError naming the file.

        ``threads`` / ``spin``: CPU inference threads and whether idle ones busy-wait
        (onnxruntime; see :func:`backend_options` for the configured values)."""
        from .backends import load_backend
        from .preprocess import Preprocessor

        path = Path(model)
        if not path.is_file():
            raise ModelFileError(path, missing_model_message(path).split(": ", 1)[-1])
        info = ModelInfo.from_onnx(path)
        be = load_backend(path, backend, threads=threads, spin=spin)
        return cls(info, Preprocessor.from_model_info(info), be, path)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def describe(self) -> dict[str, Any]:
        """Model file, name, version, training data (simulated or not), backend."""
        d = {"file": str(self.path), **self.info.summary()}
        try:
            d["backend"] = self.backend.describe()
        except Exception:  # a backend's describe is informational only  # noqa: BLE001
            d["backend"] = {"backend": getattr(self.backend, "name", "?")}
        return d

    def source_options(self, source: str | Path, *, workers: int = 1, reduced: bool = True) -> dict:
        """Options for :func:`open_source` that let ``source`` decode only what the model needs.

        Files decode at reduced scale and luminance-only for a 1-channel model; DICOM also gets
        ``workers`` parallel decode threads. Live sources give full frames (for the overlay).
        """
        kind = source_kind(source)
        if kind == "live":
            return {}
        opts: dict[str, Any] = {"luminance": bool(self.preprocessor.luminance)}
        if reduced:
            opts["target_size"] = tuple(self.preprocessor.target_size)
        if kind == "dicom" and workers > 1:
            opts["workers"] = int(workers)
        return opts

    def warmup(self, batch_size: int) -> None:
        self.backend.warmup(batch_sizes=tuple(sorted({1, int(batch_size)})))


def backend_options(cfg: dict[str, Any], *, live: bool = False) -> dict[str, Any]:
    """``threads`` and ``spin`` for :meth:`Engine.load` from the stream settings.

    Files: ``backend.threads`` (0 = every core: with spinning off, idle inference threads sleep
    and leave their core to the decode workers; measured faster than leaving the decode
    workers' cores free) and ``backend.spin``. Live (batch 1, reader and sink threads busy
    beside it): ``live.threads`` / ``live.spin`` where set, else the file values.

    >>> backend_options({"backend": {"threads": 2, "spin": False}})
    {'threads': 2, 'spin': False}
    """

    be, lv = cfg.get("backend", {}), cfg.get("live", {})
    threads = int(be.get("threads", 0))
    spin = be.get("spin")
    if live:
        threads = int(lv.get("threads", threads) or threads)
        spin = lv.get("spin", spin)
    if threads == 0:
        threads = os.cpu_count() or 1
    return {"threads": threads, "spin": None if spin is None else bool(spin)}


@dataclass
class FrameResult:
    """One frame's outcome. ``times`` are milliseconds per stage; ``latency_ms`` is
    frame-to-label (frame read → label ready, queue waits included)."""

    index: int
    timestamp: float
    probs: np.ndarray  # (K,) raw probabilities
    pred: Prediction
    times: dict[str, float] = field(default_factory=dict)
    latency_ms: float | None = None
    frame: Frame | None = None


class _Failed:
    def __init__(self, err: BaseException) -> None:
        self.err = err


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put with a timeout loop so a stopped consumer never blocks the producer for good."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _timed(pre: Callable[[Frame], np.ndarray], frame: Frame) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    x = pre(frame)
    return x, (time.perf_counter() - t0) * 1e3


def _fused_reader(
    source: Any, pre: Callable[[Frame], np.ndarray], out: queue.Queue, stop: threading.Event
) -> None:
    """Decode + preprocess in the source's own decode workers (``source.map_frames``)."""
    for frame, x, dec_ms, pre_ms in source.map_frames(pre):
        if stop.is_set() or not _put(out, (frame, x, time.perf_counter(), dec_ms, pre_ms), stop):
            return


def _reader(
    source: FrameSource,
    pre: Callable[[Frame], np.ndarray],
    out: queue.Queue,
    stop: threading.Event,
    workers: int = 1,
    fuse: bool = True,
) -> None:
    """Decode and preprocess frames into ``out`` in order; ``None`` at the end, ``_Failed`` on
    error. A source with ``map_frames`` (DICOM) preprocesses each frame in the decode worker
    that decoded it when ``fuse`` (so both scale with its workers). Otherwise, with
    ``workers`` > 1, preprocessing runs in that many threads (Pillow releases the GIL while it
    resizes), a bounded window of frames ahead; with 1, in this thread."""
    from concurrent.futures import Future, ThreadPoolExecutor

    if fuse and workers <= 1 and hasattr(source, "map_frames"):
        try:
            _fused_reader(source, pre, out, stop)
        except BaseException as err:  # handed to the consumer, which re-raises it
            _put(out, _Failed(err), stop)
            return
        _put(out, None, stop)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="preprocess") if workers > 1 else None
    pending: deque[tuple[Frame, Future, float, float]] = deque()

    def emit(frame: Frame, x: np.ndarray, t_read: float, dec_ms: float, pre_ms: float) -> bool:
        return _put(out, (frame, x, t_read, dec_ms, pre_ms), stop)

    try:
        it = iter(source)
        while not stop.is_set():
            t0 = time.perf_counter()
            frame = next(it, None)
            t1 = time.perf_counter()
            if frame is None:
                break
            if pool is None:
                x, pre_ms = _timed(pre, frame)
                if not emit(frame, x, t1, (t1 - t0) * 1e3, pre_ms):
                    return
                continue
            pending.append((frame, pool.submit(_timed, pre, frame), t1, (t1 - t0) * 1e3))
            while len(pending) > 2 * workers or (pending and pending[0][1].done()):
                f, fut, t_read, dec_ms = pending.popleft()
                x, pre_ms = fut.result()
                if not emit(f, x, t_read, dec_ms, pre_ms):
                    return
        while pending and not stop.is_set():
            f, fut, t_read, dec_ms = pending.popleft()
            x, pre_ms = fut.result()
            if not emit(f, x, t_read, dec_ms, pre_ms):
                return
    except BaseException as err:  # handed to the consumer, which re-raises it
        _put(out, _Failed(err), stop)
        return
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    _put(out, None, stop)


def run_file(
    engine: Engine,
    source: FrameSource,
    chain: Stage,
    *,
    batch_size: int = 8,
    queue_size: int = 64,
    keep_frames: bool = False,
    preprocess_workers: int = 1,
    fuse: bool = True,
) -> Iterator[FrameResult]:
    """Results for every frame of ``source``, in order (micro-batches of ``batch_size``).

    Sources that can (DICOM: ``map_frames``) preprocess each frame in their decode workers
    (``fuse=False``: in the reader thread instead; the results are the same).
    ``preprocess_workers`` > 1 preprocesses frames in a separate pool of threads instead.

    Source errors (:class:`SourceError`) raised while reading come out of this generator.
    """
    q: queue.Queue = queue.Queue(maxsize=max(queue_size, batch_size))
    stop = threading.Event()
    reader = threading.Thread(
        target=_reader,
        args=(source, engine.preprocessor, q, stop, preprocess_workers, fuse),
        daemon=True,
        name="reader",
    )
    reader.start()
    chain.reset()
    done = False
    try:
        while not done:
            items: list[tuple] = []
            while len(items) < batch_size:
                item = q.get()
                if item is None:
                    done = True
                    break
                if isinstance(item, _Failed):
                    raise item.err
                items.append(item)
            if not items:
                break
            t0 = time.perf_counter()
            probs = engine.backend.predict(np.stack([it[1] for it in items]))  # (B, K)
            t1 = time.perf_counter()
            infer_ms = (t1 - t0) * 1e3 / len(items)
            for (frame, _x, t_read, dec_ms, pre_ms), p in zip(items, probs, strict=True):
                ts = time.perf_counter()
                pred = chain.update(p)
                te = time.perf_counter()
                yield _frame_result(
                    frame if keep_frames else None,
                    frame,
                    p,
                    pred,
                    (dec_ms, pre_ms, infer_ms, (te - ts) * 1e3),
                    (te - t_read) * 1e3,
                )
    finally:
        stop.set()
        reader.join(timeout=5.0)


# -- live --------------------------------------------------------------------------------------


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


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    """p50/p95/p99/mean/max of ``values`` (None when empty)."""
    if not len(values):
        return None
    a = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "mean": float(a.mean()),
        "max": float(a.max()),
        "n": int(a.size),
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
        it = iter(source)
        while not stop.is_set():
            t0 = time.perf_counter()
            frame = next(it, None)
            t1 = time.perf_counter()
            if frame is None:
                break
            decode_ms = (t1 - t0) * 1e3
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
            x, pre_ms = _timed(pre, frame) if pre is not None else (None, 0.0)
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
    overlay_cfg: dict[str, Any],
    nice: int = 0,
    screen: Any = None,
    stop: threading.Event | None = None,
) -> None:
    """Draw the overlay on each labelled frame and write it to every sink until ``None``.

    Only this thread writes to and closes the sinks (after the last write). A sink whose write
    fails is dropped, the others keep going; an overlay that fails ends the run (``stop``):
    both go into ``report.error``. ``screen`` (a :class:`~echostream.stream.overlay.ScreenMask`)
    says which pixels stay visible."""
    from .overlay import OverlayStyle, draw_overlay

    lower_thread_priority(nice)
    live = list(sinks)
    broken = False
    style = OverlayStyle()
    try:
        style = OverlayStyle(top_k=int(overlay_cfg.get("top_k", 3)))
    except (TypeError, ValueError) as err:
        report.error = f"overlay settings: {err}"
        broken = True
        if stop is not None:
            stop.set()
    try:
        while (item := q.get()) is not None:
            if broken or not live:
                continue  # drain: the reader and inference threads never wait on us
            result, fps = item
            t0 = time.perf_counter()
            try:
                box = None if screen is None else screen.box(result.frame)
                rgb = draw_overlay(
                    result.frame.pixels, result.pred, labels, fps=fps,
                    latency_ms=result.latency_ms, style=style, visible=box,
                )  # fmt: skip
            except Exception as err:  # noqa: BLE001 (any overlay bug ends the run, reported)
                report.error = report.error or f"overlay failed: {type(err).__name__}: {err}"
                broken = True
                if stop is not None:
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


def _label_frame(engine: Engine, chain: Stage, item: tuple) -> FrameResult:
    """Preprocess (unless the reader did), infer (batch 1) and smooth one queued frame."""
    frame, t_read, dec_ms, x, pre_ms, _connection = item
    t0 = time.perf_counter()
    if x is None:
        x = engine.preprocessor(frame)  # (C, H, W)
        pre_ms = (time.perf_counter() - t0) * 1e3
    t1 = time.perf_counter()
    probs = engine.backend.predict(x[None])[0]  # (K,)
    t2 = time.perf_counter()
    pred = chain.update(probs)
    t3 = time.perf_counter()
    stage_ms = (dec_ms, pre_ms, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
    return _frame_result(frame, frame, probs, pred, stage_ms, (t3 - t_read) * 1e3)


def _frame_result(
    kept: Frame | None,
    frame: Frame,
    probs: np.ndarray,
    pred: Prediction,
    stage_ms: tuple[float, float, float, float],
    latency_ms: float,
) -> FrameResult:
    """One labelled frame: ``stage_ms`` are decode, preprocess, inference and temporal."""
    return FrameResult(
        index=frame.index,
        timestamp=frame.timestamp,
        probs=probs,
        pred=pred,
        times=dict(zip(STAGE_NAMES[:4], stage_ms, strict=True)),
        latency_ms=latency_ms,
        frame=kept,
    )


def run_live(
    engine: Engine,
    source: FrameSource,
    chain: Stage,
    *,
    sinks: Sequence[FrameSink] = (),
    on_result: Callable[[FrameResult], None] | None = None,
    pace: bool = False,
    queue_size: int = 4,
    sink_queue_size: int = 8,
    max_frames: int | None = None,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    overlay_cfg: dict[str, Any] | None = None,
    preprocess_in_reader: bool = False,
    switch_interval_ms: float | None = None,
    sink_nice: int = 0,
    screen: Any = None,
) -> LiveReport:
    """Classify ``source`` as frames arrive (batch 1) until it ends, ``max_frames`` were read,
    ``duration_s`` passed or ``stop`` is set. Annotated frames go to ``sinks``.

    ``pace=True`` plays a file at its own frame rate (frame timestamps), as a scanner would.
    ``preprocess_in_reader``: preprocess on the reader thread (overlapping the previous
    frame's inference) instead of the inference thread. ``switch_interval_ms``: the Python
    GIL switch interval during the run (:func:`~echostream.stream.concurrency.switch_interval`:
    shared safely by concurrent runs, restored after the last; default 5 ms): shorter lets
    the inference thread take the GIL back sooner from the reader and sink threads.
    ``sink_nice`` > 0 lowers the overlay/sink thread's CPU priority by that much (the overlay
    is not on the frame-to-label path). ``screen``: the
    :class:`~echostream.stream.overlay.ScreenMask` for annotated frames (None: a default one,
    which blanks everything outside the ultrasound region). The temporal chain is reset when
    the source reconnects (a new connection is a new view of the heart).
    """
    from .overlay import ScreenMask

    report = LiveReport()
    screen = screen if screen is not None else ScreenMask()
    stop = stop or threading.Event()
    frames_q = DropOldestQueue(queue_size)
    sink_q = DropOldestQueue(sink_queue_size)
    reader = threading.Thread(
        target=_live_reader,
        args=(
            source,
            frames_q,
            stop,
            report,
            pace,
            max_frames,
            engine.preprocessor if preprocess_in_reader else None,
        ),  # fmt: skip
        daemon=True,
        name="live-reader",
    )
    writer = threading.Thread(
        target=_sink_loop,
        args=(sink_q, sinks, engine.labels, report, overlay_cfg or {}, sink_nice, screen, stop),
        daemon=True,
        name="live-sink",
    )
    chain.reset()
    connection: int | None = None
    fps_ema: float | None = None
    t_prev: float | None = None
    t_begin = time.perf_counter()
    if sinks:
        writer.start()
    reader.start()
    with switch_interval(switch_interval_ms):
        try:
            while not stop.is_set() and (
                duration_s is None or time.perf_counter() - t_begin <= duration_s
            ):
                try:
                    item = frames_q.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set() and not reader.is_alive():
                        break
                    continue
                if item is None:
                    break
                if connection is not None and item[-1] != connection:
                    chain.reset()  # the stream came back: labels from before say nothing now
                connection = item[-1]
                result = _label_frame(engine, chain, item)
                report.record(result, time.perf_counter() - t_begin)
                t3 = time.perf_counter()
                if t_prev is not None and t3 > t_prev:
                    inst = 1.0 / (t3 - t_prev)
                    fps_ema = inst if fps_ema is None else 0.9 * fps_ema + 0.1 * inst
                t_prev = t3
                if on_result is not None:
                    on_result(result)
                if sinks:
                    sink_q.put((result, fps_ema))
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            report.wall_s = time.perf_counter() - t_begin
            source.close()  # unblocks a live reader waiting for data
            reader.join(timeout=10.0)
            if sinks:
                sink_q.put(None)  # the writer drains, then closes the sinks itself
                writer.join(timeout=SINK_JOIN_TIMEOUT_S)
                if writer.is_alive():  # it closes the sinks itself once its write returns
                    report.error = report.error or (
                        f"the sink writer did not finish within {SINK_JOIN_TIMEOUT_S:g} s"
                    )
            report.screen = screen.describe() if sinks else None
            report.dropped_reader = frames_q.dropped
            report.dropped_sink = sink_q.dropped
            stats = getattr(source, "stats", None)
            if stats is not None:
                report.dropped_source = int(getattr(stats, "dropped", 0))
                report.reconnects = int(getattr(stats, "reconnects", 0))
    return report
