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
from echostream.stream.pipeline import DropOldestQueue, Engine, run_file, run_live
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
    report = run_live(slow, src, TemporalChain(), queue_size=2)
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
                          sinks=[sink], pace=True, on_result=seen.append)  # fmt: skip
        wall = time.perf_counter() - t0
    assert wall >= 23 / 25 * 0.9  # played at its own 25 fps
    assert sink.frames == len(seen) == 24 and report.dropped_reader == 0
    assert len(report.stage_ms["overlay"]) == 24
    assert report.summary()["time_to_first_label_s"] is not None


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
