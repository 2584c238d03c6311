"""source → preprocess → backend → temporal → sinks, with threads only at the I/O edges.

Files (:func:`run_file`): a reader thread decodes and preprocesses frames into a bounded queue;
inference takes micro-batches from it; every frame gets a result. ``None`` on a queue means
"stop". The live path (:func:`~.pipeline_live.run_live`: drop-oldest queues, batch 1, a sink
thread, a fixed-memory report) is in :mod:`.pipeline_live`; both share :class:`Engine` and
:class:`FrameResult`.

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
from typing import Any

import numpy as np

from .defaults import missing_model_message
from .frame import Frame
from .model_file import ModelFileError, ModelInfo
from .sources import source_kind
from .sources.base import FrameSource
from .temporal import Prediction, Stage

STAGE_NAMES = ("decode", "preprocess", "inference", "temporal", "overlay")


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


class ReaderFailed:
    """What a reader thread puts on its queue when it fails: the consumer re-raises ``err``."""

    def __init__(self, err: BaseException) -> None:
        self.err = err


def put_or_stop(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put with a timeout loop so a stopped consumer never blocks the producer for good."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def timed_preprocess(pre: Callable[[Frame], np.ndarray], frame: Frame) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    x = pre(frame)
    return x, (time.perf_counter() - t0) * 1e3


def timed_frames(
    source: FrameSource, stop: threading.Event
) -> Iterator[tuple[Frame, float, float]]:
    """``(frame, t_read, decode ms)`` for each frame of ``source`` until it ends or ``stop``."""
    it = iter(source)
    while not stop.is_set():
        t0 = time.perf_counter()
        frame = next(it, None)
        t1 = time.perf_counter()
        if frame is None:
            return
        yield frame, t1, (t1 - t0) * 1e3


def _fused_reader(
    source: Any, pre: Callable[[Frame], np.ndarray], out: queue.Queue, stop: threading.Event
) -> None:
    """Decode + preprocess in the source's own decode workers (``source.map_frames``)."""
    for frame, x, dec_ms, pre_ms in source.map_frames(pre):
        if stop.is_set() or not put_or_stop(
            out, (frame, x, time.perf_counter(), dec_ms, pre_ms), stop
        ):
            return


def _reader(
    source: FrameSource,
    pre: Callable[[Frame], np.ndarray],
    out: queue.Queue,
    stop: threading.Event,
    workers: int = 1,
    fuse: bool = True,
) -> None:
    """Decode and preprocess frames into ``out`` in order; ``None`` at the end, ``ReaderFailed`` on
    error. A source with ``map_frames`` (DICOM) preprocesses each frame in the decode worker
    that decoded it when ``fuse`` (so both scale with its workers). Otherwise, with
    ``workers`` > 1, preprocessing runs in that many threads (Pillow releases the GIL while it
    resizes), a bounded window of frames ahead; with 1, in this thread."""
    from concurrent.futures import Future, ThreadPoolExecutor

    if fuse and workers <= 1 and hasattr(source, "map_frames"):
        try:
            _fused_reader(source, pre, out, stop)
        except BaseException as err:  # handed to the consumer, which re-raises it
            put_or_stop(out, ReaderFailed(err), stop)
            return
        put_or_stop(out, None, stop)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="preprocess") if workers > 1 else None
    pending: deque[tuple[Frame, Future, float, float]] = deque()

    def emit(frame: Frame, x: np.ndarray, t_read: float, dec_ms: float, pre_ms: float) -> bool:
        return put_or_stop(out, (frame, x, t_read, dec_ms, pre_ms), stop)

    try:
        for frame, t1, decode_ms in timed_frames(source, stop):
            if pool is None:
                x, pre_ms = timed_preprocess(pre, frame)
                if not emit(frame, x, t1, decode_ms, pre_ms):
                    return
                continue
            pending.append((frame, pool.submit(timed_preprocess, pre, frame), t1, decode_ms))
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
        put_or_stop(out, ReaderFailed(err), stop)
        return
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    put_or_stop(out, None, stop)


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
                if isinstance(item, ReaderFailed):
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
                yield frame_result(
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


def frame_result(
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
