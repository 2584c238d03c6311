"""Live sources on loopback only (127.0.0.1), a stdin pipe, and the PTS clock on a file.

Every clip is a flat gray frame whose level encodes its number (``40 + 4 * (k % 50)``), so
the receiver can check that timestamps match the frames that really arrived.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import textwrap
import threading
import time
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from echostream.stream.errors import SourceError
from echostream.stream.sources import open_source
from echostream.stream.sources.live import LiveSource, ReconnectPolicy, redact

FPS, H, W, CYCLE = 25, 48, 64, 50


def level(k: int) -> int:
    return 40 + 4 * (k % CYCLE)


def frame_number(pixels: np.ndarray) -> int:
    """The frame number (mod CYCLE) a received flat frame carries."""
    return round((float(pixels.mean()) - 40) / 4) % CYCLE


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def encode(out: av.container.OutputContainer, pts: list[int], pace: threading.Event | None):
    """Encode flat frames with the given PTS (in frames) into ``out`` (paced in real time when
    ``pace`` is an Event; stops early once it is set)."""
    stream = out.add_stream("mpeg2video", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    stream.gop_size = 5
    start = time.monotonic()
    for n, k in enumerate(pts):
        if pace is not None and pace.is_set():
            break
        frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), level(k), np.uint8), format="rgb24")
        frame.pts = k
        out.mux(stream.encode(frame))
        if pace is not None:
            time.sleep(max(0.0, start + (n + 1) / FPS - time.monotonic()))
    out.mux(stream.encode())


def udp_sender(port: int, stop: threading.Event, n: int = 250, delay: float = 0.3):
    """A thread streaming mpeg-ts to 127.0.0.1:port in real time until ``stop`` (≤ n frames)."""

    def run() -> None:
        time.sleep(delay)  # let the receiver bind first
        with av.open(f"udp://127.0.0.1:{port}?pkt_size=1316", "w", format="mpegts") as out:
            encode(out, list(range(n)), stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def loopback_url(port: int) -> str:
    return f"udp://127.0.0.1:{port}?localaddr=127.0.0.1"


def check_clock(frames: list, tol: float = 0.02) -> None:
    """Timestamps increase and match the frame numbers the pixels carry."""
    ts = np.array([f.timestamp for f in frames])
    assert ts[0] == 0.0 and np.all(np.diff(ts) > 0)
    ks = [frame_number(f.pixels) for f in frames]
    for (k0, t0), (k1, t1) in pairwise(zip(ks, ts, strict=True)):
        assert abs((t1 - t0) - ((k1 - k0) % CYCLE) / FPS) < tol, (k0, k1, t0, t1)


@pytest.mark.timeout(60)
def test_udp_mpegts_on_loopback() -> None:
    port = free_udp_port()
    stop = threading.Event()
    sender = udp_sender(port, stop)
    t0 = time.monotonic()
    frames = []
    try:
        with LiveSource(
            loopback_url(port),
            luminance=True,
            open_timeout=5,
            read_timeout=2,
            reconnect=ReconnectPolicy(max_retries=0),
        ) as src:
            info = src.info
            for frame in src:
                frames.append(frame)
                if len(frames) == 30:
                    break
            stats = src.stats
    finally:
        stop.set()
        sender.join(10)
    assert time.monotonic() - t0 < 20
    assert (info.kind, info.n_frames, info.fps, info.width, info.height) == ("live", None, 25, W, H)
    assert info.name == loopback_url(port) and info.codec == "mpeg2video"
    assert [f.index for f in frames] == list(range(30))
    assert all(f.pixels.shape == (H, W) for f in frames)
    check_clock(frames)
    assert (stats.frames, stats.dropped, stats.reconnects) == (30, 0, 0)


@pytest.mark.timeout(60)
def test_close_from_another_thread_ends_iteration() -> None:
    port = free_udp_port()
    stop = threading.Event()
    sender = udp_sender(port, stop)
    try:
        src = LiveSource(loopback_url(port), read_timeout=1, reconnect=ReconnectPolicy(2, 0.1))
        closer = threading.Timer(0.4, src.close)
        closer.start()
        t0 = time.monotonic()
        n = sum(1 for _ in src)  # would run for ~10 s without the close
        closer.join()
    finally:
        stop.set()
        sender.join(10)
    assert time.monotonic() - t0 < 2.5 and n > 0
    assert src._container is None and src.stats.ended == "closed"


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_reconnects_after_sender_restarts() -> None:
    """The sender stops, then comes back: the source reconnects and counts the gap."""
    port = free_udp_port()
    stop = threading.Event()
    first = udp_sender(port, stop, n=20)
    second = None
    frames = []
    with LiveSource(
        loopback_url(port),
        open_timeout=3,
        read_timeout=0.5,
        reconnect=ReconnectPolicy(max_retries=4, initial_backoff=0.1),
    ) as src:
        for frame in src:
            frames.append(frame)
            if len(frames) == 10:
                first.join(10)  # sender done: the stream goes quiet, the read times out
                second = udp_sender(port, stop, n=250, delay=1.5)
            if src.stats.reconnects and len(frames) >= 25:
                break
        stats = src.stats
    stop.set()
    assert second is not None
    second.join(10)
    ts = [f.timestamp for f in frames]
    assert stats.reconnects == 1 and stats.failed_tries >= 0
    assert all(b > a for a, b in pairwise(ts))
    gap = max(b - a for a, b in pairwise(ts))
    assert gap > 0.5  # the quiet time between the two senders is in the clock
    assert stats.dropped >= round(gap * FPS) - 2  # … and counted as frames missed
    assert stats.last_error is not None


@pytest.mark.timeout(30)
def test_unreachable_udp_fails_fast() -> None:
    port = free_udp_port()  # nobody sends here
    t0 = time.monotonic()
    with pytest.raises(SourceError) as err:
        open_source(
            loopback_url(port),
            open_timeout=0.3,
            read_timeout=0.3,
            reconnect=ReconnectPolicy(max_retries=1, initial_backoff=0.05),
        )
    assert time.monotonic() - t0 < 10
    text = str(err.value)
    assert text.startswith(loopback_url(port) + ": no stream after 2 tries (")
    assert "\n" not in text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("rate_hz", [500, 20])
def test_garbage_udp_says_it_cannot_be_decoded(rate_hz: int) -> None:
    """Random datagrams: FFmpeg's "invalid data" (fast) or "timed out" (slow garbage) both
    become "data arrives but cannot be decoded", not "timed out waiting for data"."""
    port, stop = free_udp_port(), threading.Event()

    def send() -> None:
        rng = np.random.default_rng(0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not stop.is_set():
                sock.sendto(rng.bytes(1316), ("127.0.0.1", port))
                time.sleep(1 / rate_hz)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        with pytest.raises(SourceError) as err:
            LiveSource(loopback_url(port), open_timeout=1, read_timeout=1, connect_timeout=2,
                       reconnect=ReconnectPolicy(max_retries=1, initial_backoff=0.1))  # fmt: skip
    finally:
        stop.set()
        sender.join()
    assert "data arrives but cannot be decoded as a video stream" in str(err.value)


@pytest.mark.timeout(60)
def test_udp_without_sender_gives_up_within_the_connect_timeout() -> None:
    """The default policy (6 tries, back-off) would take ~47 s; connect_timeout bounds it."""
    port = free_udp_port()
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"no data arrived \(waited 1 s\)"):
        LiveSource(loopback_url(port), open_timeout=1, read_timeout=1, connect_timeout=3)
    assert time.monotonic() - t0 < 20  # ~5 s: the budget plus one try (vs ~47 s before)


def test_missing_device_fails_at_once() -> None:
    """No retries for what retrying cannot fix (default policy would wait ~15 s)."""
    name = "/dev/video-echostream-test-missing"
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="no such file or directory$"):
        open_source(name)
    with pytest.raises(SourceError, match="no container format"):
        LiveSource("udp://127.0.0.1:9", format="no-such-format")
    assert time.monotonic() - t0 < 3


def test_pts_gap_counts_drops(tmp_path: Path) -> None:
    """Frames 10–14 never sent: the PTS gap shows as 5 drops and in the timestamps."""
    path = tmp_path / "gap.ts"
    with av.open(str(path), "w", format="mpegts") as out:
        encode(out, [*range(10), *range(15, 25)], None)
    src = LiveSource(f"file:{path}", reconnect=ReconnectPolicy(max_retries=0))
    frames = list(src)
    src.close()
    assert len(frames) == 20
    check_clock(frames)
    assert frames[10].timestamp == pytest.approx(15 / FPS, abs=1e-3)
    assert (src.stats.dropped, src.stats.frames, src.stats.ended) == (5, 20, "end of stream")


def test_sector_found_on_the_first_frame_without_losing_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.ts"
    with av.open(str(path), "w", format="mpegts") as out:
        encode(out, list(range(12)), None)
    sizes: list[int] = []

    def estimator(frames: list[np.ndarray], *, scale: float, full_size: tuple[int, int]):
        sizes.append(len(frames))
        return None

    src = LiveSource(
        f"file:{path}", reconnect=ReconnectPolicy(max_retries=0), estimate_region=estimator
    )
    frames = list(src)
    assert sizes == [1] and src.info.region is None  # no read-ahead: the first label is not delayed
    assert "no scan sector found in the pixels; using the whole frame" in src.info.warnings
    assert len(frames) == 12
    check_clock(frames)


def test_close_stops_and_releases(tmp_path: Path) -> None:
    path = tmp_path / "clip.ts"
    with av.open(str(path), "w", format="mpegts") as out:
        encode(out, list(range(10)), None)
    src = LiveSource(f"file:{path}", reconnect=ReconnectPolicy(max_retries=0))
    it = iter(src)
    next(it)
    src.close()
    src.close()  # twice is fine
    assert list(it) == [] and src._container is None and src.stats.ended == "closed"


def test_options_and_policy() -> None:
    with pytest.raises(TypeError, match="colour"):
        LiveSource("udp://127.0.0.1:9", colour=True)
    with pytest.raises(ValueError):
        ReconnectPolicy(max_retries=-1)
    p = ReconnectPolicy(max_retries=5, initial_backoff=0.5, max_backoff=3, multiplier=2)
    assert [p.delay(k) for k in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert redact("rtsp://u:pw@127.0.0.1/x") == "rtsp://u:***@127.0.0.1/x"


READ_STDIN = textwrap.dedent(
    """
    from echostream.stream.sources import open_source
    with open_source("-", luminance=True, open_timeout=5, read_timeout=5) as src:
        print("info", src.info.kind, src.info.fps, src.info.width, src.info.height)
        for f in src:
            print("frame", f.index, f.timestamp, round(float(f.pixels.mean()), 1))
        print("ended", src.stats.ended)
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["mpegts", "yuv4mpegpipe"])
def test_stdin_pipe(fmt: str) -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        if fmt == "mpegts":
            encode(out, list(range(30)), None)
        else:
            stream = out.add_stream("rawvideo", rate=FPS)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            for k in range(30):
                img = np.full((H, W, 3), level(k), np.uint8)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(stream.encode())
    proc = subprocess.run(
        [sys.executable, "-c", READ_STDIN],
        input=buf.getvalue(),
        capture_output=True,
        timeout=45,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == f"info live 25.0 {W} {H}"
    rows = [line.split() for line in lines if line.startswith("frame")]
    assert len(rows) == 30
    ts = [float(r[2]) for r in rows]
    assert ts == pytest.approx([k / FPS for k in range(30)], abs=1e-3)
    means = [float(r[3]) for r in rows]
    assert means == pytest.approx([level(k) for k in range(30)], abs=3)
    assert lines[-1] == "ended end of stream"


@pytest.mark.timeout(30)
def test_stdin_without_data_times_out() -> None:
    """A writer that never writes: the reader gives up after its timeout, one line."""
    code = READ_STDIN.replace("open_timeout=5, read_timeout=5", "open_timeout=0.5")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        proc.wait(timeout=25)  # stdin stays open and silent meanwhile
    finally:
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode != 0
    last = err.strip().splitlines()[-1]
    assert "SourceError: -: no stream after 1 try (timed out" in last


def test_connection_helpers_doctests() -> None:
    import doctest

    from echostream.stream.sources import live_connection

    assert doctest.testmod(live_connection).failed == 0
