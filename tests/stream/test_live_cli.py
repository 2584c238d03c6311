"""``echostream live``: a cine streamed over loopback UDP (127.0.0.1 only) comes back as an
annotated video plus a latency report; a file is played through the same path."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from echostream.stream import cli_stream
from echostream.stream.sources import open_source

pytestmark = pytest.mark.timeout(120)


def run(*args: str | Path):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_stream.register(app, bench)
    return CliRunner().invoke(app, ["live", *(str(a) for a in args)])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stream_cine(cine: Path, port: int, stop: threading.Event, fps: int = 25) -> threading.Thread:
    """Send the cine's frames (looped) as MPEG-TS to 127.0.0.1:port in real time until stop."""
    with open_source(cine) as src:
        frames = [f.pixels for f in src]

    def send() -> None:
        time.sleep(0.5)  # let the receiver bind first
        url = f"udp://127.0.0.1:{port}?pkt_size=1316"
        with av.open(url, "w", format="mpegts") as out:
            stream = out.add_stream("mpeg2video", rate=fps)
            h, w = frames[0].shape[:2]
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.gop_size = 5
            start = time.monotonic()
            for n in range(400):
                if stop.is_set():
                    break
                f = av.VideoFrame.from_ndarray(frames[n % len(frames)], format="rgb24")
                f.pts = n
                out.mux(stream.encode(f))
                time.sleep(max(0.0, start + (n + 1) / fps - time.monotonic()))
            out.mux(stream.encode())

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_live_udp_loopback_to_annotated_video(tmp_path, small_cine, stream_model) -> None:
    port = free_udp_port()
    stop = threading.Event()
    sender = stream_cine(small_cine, port, stop)
    out, report = tmp_path / "annotated.mp4", tmp_path / "latency.json"
    try:
        res = run(f"udp://127.0.0.1:{port}?localaddr=127.0.0.1", "--out", out, "--json", report,
                  "--model", stream_model, "--max-frames", 40, "--quiet")  # fmt: skip
    finally:
        stop.set()
        sender.join(timeout=10)
    assert res.exit_code == 0, res.output
    data = json.loads(report.read_text())
    assert data["frames_in"] == 40 and data["source"]["kind"] == "live"
    assert data["frames_labelled"] + data["dropped"]["reader"] == 40
    assert data["frames_written"] == data["frames_labelled"] - data["dropped"]["sink"] > 0
    lat = data["frame_to_label_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert set(data["stages_ms"]) == {"decode", "preprocess", "inference", "temporal", "overlay"}
    assert data["model"]["simulated_data"] is True
    with av.open(str(out)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == data["frames_written"]
    assert decoded[0].shape == (120, 160, 3)
    # The overlay panel (darkened, with text) is in the top-left corner of every frame.
    assert np.mean(decoded[-1][:20, :40]) < np.mean(decoded[-1][60:, 80:])


def test_live_file_played_fast_to_video(tmp_path, small_cine, stream_model) -> None:
    out, report = tmp_path / "annotated.mkv", tmp_path / "latency.json"
    res = run(small_cine, "--out", out, "--json", report, "--model", stream_model, "--fast",
              "--quiet", "--show", "--port", 0)  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(report.read_text())
    assert data["frames_in"] == 24 and data["error"] is None
    assert data["frames_labelled"] + data["dropped"]["reader"] == 24
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == data["frames_written"]
    assert "frame-to-label" in res.stderr
    assert "live view: http://127.0.0.1:" in res.stderr
    assert data["show_url"].startswith("http://127.0.0.1:")


def test_live_bad_source(tmp_path, stream_model) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"nope")
    res = run(bad, "--model", stream_model)
    assert res.exit_code == 1 and str(bad) in res.stderr and res.stderr[-1] == "\n"
