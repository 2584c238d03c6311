"""The pipeline: file path in micro-batches, the live path's drop-oldest queue under overload,
the sinks (video file, live view page)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import av
import numpy as np
import pytest

from echostream.stream.defaults import load_stream_config
from echostream.stream.errors import SourceError
from echostream.stream.frame import Frame, SourceInfo
from echostream.stream.pipeline import Engine, run_file
from echostream.stream.pipeline_live import DropOldestQueue, LiveSettings, run_live
from echostream.stream.sinks import MjpegServer, NullSink, VideoSink
from echostream.stream.sources import open_source
from echostream.stream.sources.base import FrameSource
from echostream.stream.temporal import TemporalChain

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def engine(stream_model) -> Engine:
    return Engine.load(stream_model, "onnxruntime", threads=1)


class ListSource(FrameSource):
    """Frames from memory, optionally slow, optionally failing after ``fail_at`` frames."""

    def __init__(self, n: int, fps: float = 100.0, delay: float = 0.0, fail_at: int | None = None):
        self.info = SourceInfo("mem", "video", n, fps, 80, 60)
        self.n, self.delay, self.fail_at = n, delay, fail_at

    def frames(self):
        rng = np.random.default_rng(1)
        for i in range(self.n):
            if self.fail_at is not None and i == self.fail_at:
                raise SourceError("mem", f"frame {i}: corrupt")
            time.sleep(self.delay)
            px = rng.integers(0, 255, (60, 80), dtype=np.uint8)
            yield Frame(px, i, i / self.info.fps, self.info)


def test_run_file_classifies_every_frame_in_order(engine, small_cine) -> None:
    cfg = load_stream_config()
    opts = engine.source_options(small_cine, workers=2)
    assert opts["luminance"] is True and opts["target_size"] == (60, 80)
    with open_source(small_cine, **opts) as src:
        results = list(run_file(engine, src, TemporalChain.from_config(cfg["smoother"]),
                                batch_size=5))  # fmt: skip
    assert [r.index for r in results] == list(range(24))
    assert all(r.probs.shape == (8,) and abs(r.probs.sum() - 1) < 1e-4 for r in results)
    assert set(results[0].times) == {"decode", "preprocess", "inference", "temporal"}
    # The same frames one at a time give the same raw probabilities (batching is invisible).
    with open_source(small_cine, **opts) as src:
        single = list(run_file(engine, src, TemporalChain(), batch_size=1))
    np.testing.assert_allclose(
        np.stack([r.probs for r in results]), np.stack([r.probs for r in single]), atol=1e-5
    )
    # Parallel preprocessing keeps the order and the numbers.
    with open_source(small_cine, **opts) as src:
        par = list(run_file(engine, src, TemporalChain(), batch_size=7, preprocess_workers=3))
    assert [r.index for r in par] == list(range(24))
    for r in par:  # timings are per-frame milliseconds, in their right slots
        assert 0 <= r.times["preprocess"] < 10_000 and 0 <= r.times["decode"] < 10_000
        assert 0 < r.latency_ms < 60_000
    np.testing.assert_allclose(
        np.stack([r.probs for r in par]), np.stack([r.probs for r in single]), atol=1e-5
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_run_file_raises_source_errors(engine, workers) -> None:
    with pytest.raises(SourceError, match="frame 7: corrupt"):
        list(run_file(engine, ListSource(20, fail_at=7), TemporalChain(), batch_size=4,
                      preprocess_workers=workers))  # fmt: skip


def test_drop_oldest_queue() -> None:
    q = DropOldestQueue(3)
    for i in range(5):
        q.put(i)
    assert q.dropped == 2 and [q.get(0.1) for _ in range(3)] == [2, 3, 4]
    q.put(None)
    q.put(9)  # the stop signal is never dropped
    assert q.get(0.1) is None


class SlowBackend:
    """Wraps a backend and sleeps per call: inference slower than the frames arrive."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def predict(self, batch):
        time.sleep(self.delay)
        return self.inner.predict(batch)


def test_live_drops_oldest_under_overload(engine) -> None:
    slow = Engine(engine.info, engine.preprocessor, SlowBackend(engine.backend, 0.02), engine.path)
    src = ListSource(120, fps=200.0, delay=0.005)
    report = run_live(slow, src, TemporalChain(), LiveSettings(queue_size=2))
    s = report.summary()
    assert s["frames_in"] == 120
    assert report.dropped_reader > 30  # frames arrive ~4× faster than they are classified
    assert s["frames_labelled"] + report.dropped_reader == 120
    # Latency stays bounded by the queue (≈ queue_size × 20 ms), not the backlog.
    assert s["frame_to_label_ms"]["p99"] < 400


def test_live_paced_file_with_overlay_sink(engine, small_cine) -> None:
    sink = NullSink()
    seen = []
    with open_source(small_cine) as src:
        t0 = time.perf_counter()
        report = run_live(engine, src, TemporalChain.from_config(load_stream_config()["smoother"]),
                          LiveSettings(pace=True), sinks=[sink], on_result=seen.append)  # fmt: skip
        wall = time.perf_counter() - t0
    assert wall >= 23 / 25 * 0.9  # played at its own 25 fps
    assert sink.frames == len(seen) == 24 and report.dropped_reader == 0
    assert len(report.stage_ms["overlay"]) == 24
    assert report.summary()["time_to_first_label_s"] is not None


def test_paced_file_never_stalls_on_a_timestamp_jump(engine) -> None:
    """A file whose timestamps jump by 1000 s (a corrupt PTS or timing tag) plays on after at
    most 1 / MIN_FPS (2 s) instead of waiting 1000 s."""

    class Jumping(ListSource):
        def frames(self):
            for frame in super().frames():
                frame.timestamp += 1000.0 if frame.index >= 3 else 0.0
                yield frame

    t0 = time.perf_counter()
    report = run_live(engine, Jumping(8, fps=50.0), TemporalChain(), LiveSettings(pace=True))
    assert report.summary()["frames_labelled"] == 8
    assert time.perf_counter() - t0 < 60  # ~2.2 s; 1000 s without the cap


def test_video_sink_writes_a_readable_file(tmp_path) -> None:
    path = tmp_path / "out.mp4"
    with VideoSink(path, fps=25) as sink:
        for i in range(10):
            sink.write(np.full((61, 81, 3), i * 20, np.uint8))  # odd sizes are padded
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 10 and (frames[0].width, frames[0].height) == (82, 62)


def test_mjpeg_server_on_loopback() -> None:
    server = MjpegServer(port=0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert "/stream.mjpg" in page
        server.write(np.zeros((32, 32, 3), np.uint8))
        jpeg = urllib.request.urlopen(server.url + "frame.jpg", timeout=5).read()
        assert jpeg[:2] == b"\xff\xd8"
        got: list[bytes] = []

        def read_stream() -> None:
            with urllib.request.urlopen(server.url + "stream.mjpg", timeout=5) as r:
                got.append(r.read(400))

        t = threading.Thread(target=read_stream)
        t.start()
        time.sleep(0.3)
        for _ in range(5):
            server.write(np.full((32, 32, 3), 128, np.uint8))
            time.sleep(0.05)
        t.join(timeout=5)
        assert got and b"--echostreamframe" in got[0] and b"image/jpeg" in got[0]
        assert (
            json.loads(urllib.request.urlopen(server.url + "status.json", timeout=5).read()) == {}
        )
    finally:
        server.close()


# -- decode + preprocess fused in the decode workers; scheduling options ----------------------


class ThreadRecorder:
    """Wraps a preprocessor and records which thread ran each call."""

    def __init__(self, inner) -> None:
        self.inner, self.threads = inner, []
        self.target_size, self.luminance = inner.target_size, inner.luminance

    def __call__(self, frame):
        self.threads.append(threading.current_thread().name)
        return self.inner(frame)


def test_fused_preprocess_runs_in_decode_workers_with_the_same_results(engine, small_cine):
    rec = ThreadRecorder(engine.preprocessor)
    fused_engine = Engine(engine.info, rec, engine.backend, engine.path)
    opts = engine.source_options(small_cine, workers=3)
    with open_source(small_cine, **opts) as src:
        fused = list(run_file(fused_engine, src, TemporalChain(), batch_size=5))
    assert len(rec.threads) == 24 and all(t.startswith("decode") for t in rec.threads)
    rec.threads.clear()
    with open_source(small_cine, **opts) as src:
        serial = list(run_file(fused_engine, src, TemporalChain(), batch_size=5, fuse=False))
    assert rec.threads == ["reader"] * 24
    assert [r.index for r in fused] == [r.index for r in serial] == list(range(24))
    np.testing.assert_array_equal(
        np.stack([r.probs for r in fused]), np.stack([r.probs for r in serial])
    )
    for r in fused:
        assert set(r.times) == {"decode", "preprocess", "inference", "temporal"}
        assert r.times["decode"] > 0 and r.times["preprocess"] > 0


def test_map_frames_keeps_order_and_matches_frames(small_cine) -> None:
    with open_source(small_cine, luminance=True, target_size=(60, 80), workers=3) as src:
        plain = [f.pixels for f in src]
        mapped = list(src.map_frames(lambda f: (f.index, f.pixels.sum())))
    assert [m[0].index for m in mapped] == [m[1][0] for m in mapped] == list(range(24))
    assert all(np.array_equal(m[0].pixels, p) for m, p in zip(mapped, plain, strict=True))


@pytest.mark.parametrize("workers", [1, 3])
def test_fused_reader_hands_on_source_and_preprocess_errors(engine, small_cine, workers):
    class FailingMap(ListSource):
        def map_frames(self, fn):
            for f in self.frames():
                yield f, fn(f), 0.1, 0.1

    with pytest.raises(SourceError, match="frame 7: corrupt"):
        list(run_file(engine, FailingMap(20, fail_at=7), TemporalChain(), batch_size=4))

    def bad_pre(frame):
        if frame.index == 5:
            raise ValueError("frame (or its ultrasound region) is empty")
        return engine.preprocessor(frame)

    broken = Engine(engine.info, bad_pre, engine.backend, engine.path)
    opts = {"luminance": True, "target_size": (60, 80), "workers": workers}
    with open_source(small_cine, **opts) as src, pytest.raises(ValueError, match="empty"):
        list(run_file(broken, src, TemporalChain(), batch_size=4))


def test_backend_options_for_files_and_live() -> None:
    import os

    from echostream.stream.pipeline import backend_options

    cfg = load_stream_config()
    assert cfg["backend"]["spin"] is False and cfg["live"]["threads"] == 1
    opts = backend_options(cfg)  # threads 0: every core (idle ones sleep: spin off)
    assert opts == {"threads": os.cpu_count() or 1, "spin": False}
    assert backend_options(cfg, live=True) == {"threads": 1, "spin": False}
    both = {"backend": {"threads": 3, "spin": True}, "live": {}}
    assert backend_options(both, live=True) == {"threads": 3, "spin": True}
    assert backend_options({"backend": {"threads": 2}})["spin"] is None  # runtime default


def test_ort_spin_option_reaches_the_session(stream_model) -> None:
    from echostream.stream.backends.ort_backend import SPIN_KEY

    x = np.random.default_rng(0).standard_normal((3, 1, 60, 80)).astype(np.float32)
    probs = {}
    for spin in (None, False, True):
        e = Engine.load(stream_model, "onnxruntime", threads=1, spin=spin)
        entry = e.backend.session.get_session_options().get_session_config_entry
        if spin is None:
            with pytest.raises(Exception):  # noqa: B017, PT011 (onnxruntime's own error type)
                entry(SPIN_KEY)
        else:
            assert entry(SPIN_KEY) == ("1" if spin else "0")
        assert e.describe()["backend"]["spin"] is spin
        probs[spin] = e.backend.predict(x)
    np.testing.assert_allclose(probs[False], probs[None], atol=1e-6)
    np.testing.assert_allclose(probs[True], probs[None], atol=1e-6)


@pytest.mark.parametrize("in_reader", [False, True])
def test_live_scheduling_options_keep_results(engine, in_reader) -> None:
    import sys

    before = sys.getswitchinterval()
    seen: list = []
    settings = LiveSettings(
        queue_size=64, preprocess_in_reader=in_reader, switch_interval_ms=0.5, sink_nice=5
    )
    report = run_live(engine, ListSource(30, fps=100.0, delay=0.002), TemporalChain(), settings,
                      on_result=seen.append, sinks=[NullSink()])  # fmt: skip
    assert sys.getswitchinterval() == before  # restored
    assert report.frames_labelled == 30 and report.dropped_reader == 0
    src = ListSource(30)
    expected = engine.backend.predict(np.stack([engine.preprocessor(f) for f in src.frames()]))
    np.testing.assert_allclose(np.stack([r.probs for r in seen]), expected, atol=1e-5)
    assert all(r.times["preprocess"] > 0 for r in seen)


def test_lower_thread_priority_only_touches_the_calling_thread() -> None:
    import os

    from echostream.stream.pipeline_live import lower_thread_priority

    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread priorities on this OS")
    main_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def work() -> None:
        tid = threading.get_native_id()
        seen["ok"] = lower_thread_priority(3)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, tid)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen["ok"] and seen["nice"] == min(19, main_nice + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_nice
    assert lower_thread_priority(0) is False
