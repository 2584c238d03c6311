"""Where results go: JSON/CSV reports, an annotated video (file or URL), a live view page.

- :func:`write_json` / :func:`write_csv`: a file, or stdout for ``None``/``"-"``.
- :class:`VideoSink`: annotated RGB frames encoded with PyAV to a file (``.mp4``, ``.mkv``,
  ``.avi`` …) or a URL (``udp://``, ``rtp://``, ``srt://`` … as MPEG-TS).
- :class:`MjpegServer`: ``http://127.0.0.1:PORT/`` shows the annotated stream (MJPEG over
  multipart HTTP, standard library only); bound to loopback unless told otherwise.

Example::

    with VideoSink("annotated.mp4", fps=30) as out:
        out.write(rgb, result)
"""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
from collections.abc import Iterable, Mapping
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

URL_PREFIXES = ("udp://", "rtp://", "srt://", "tcp://", "rtmp://", "rtsp://", "http://", "https://")


def _redact(url: str) -> str:
    from .sources.live import redact

    return redact(url)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(o: Any) -> Any:
    """``o`` with every non-finite float (inf, nan) replaced by None, for strict JSON."""
    if isinstance(o, float | np.floating):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, Mapping):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    return o


def to_json(data: Any) -> str:
    """Indented, strict JSON (any parser reads it): inf/nan become null.

    >>> to_json({"reduction": float("inf"), "n": 2})
    '{\\n  "reduction": null,\\n  "n": 2\\n}'
    """
    return json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False)


def write_json(data: Any, path: str | Path | None = None) -> None:
    """Write ``data`` as indented JSON to ``path`` (stdout for None or ``"-"``)."""
    text = to_json(data) + "\n"
    if path is None or str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(path).write_text(text)


def write_csv(
    rows: Iterable[Mapping[str, Any]], fields: list[str], path: str | Path | None = None
) -> None:
    """Write ``rows`` (dicts; extra keys ignored) as CSV with header ``fields``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in fields})
    if path is None or str(path) == "-":
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()
    else:
        Path(path).write_text(buf.getvalue())


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=_json_default)
    return "" if v is None else v


class VideoSink:
    """Encode annotated RGB frames with PyAV; the stream opens on the first frame (its size).

    Files take their container from the suffix; URLs are sent as MPEG-TS. H.264 (libx264,
    ``ultrafast``/``zerolatency``) where available, MPEG-4 part 2 otherwise. ``name``: what
    errors call the target (default: the path, or the URL without its secrets).
    """

    def __init__(
        self, target: str | Path, fps: float, codec: str | None = None, name: str | None = None
    ) -> None:
        self.target = str(target)
        self.name = name or (_redact(self.target) if self.is_url else self.target)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.codec = codec
        self.frames = 0
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None

    @property
    def is_url(self) -> bool:
        return self.target.lower().startswith(URL_PREFIXES)

    def _open(self, width: int, height: int) -> None:
        import av

        fmt = "mpegts" if self.is_url else None
        codec = self.codec or ("libx264" if "libx264" in av.codecs_available else "mpeg4")
        from .sources.video import av_problem

        try:
            self._container = av.open(self.target, mode="w", format=fmt)
        except (av.error.FFmpegError, OSError) as err:  # the message names no path
            raise OSError(f"{self.name}: cannot open for writing ({av_problem(err)})") from None
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        self._stream = stream
        self._size = (width, height)

    def write(self, rgb: np.ndarray, result: Any = None) -> None:
        """Encode one ``(H, W, 3)`` uint8 frame (odd sizes are padded to even)."""
        import av

        h, w = rgb.shape[:2]
        eh, ew = h + (h % 2), w + (w % 2)
        if (eh, ew) != (h, w):
            rgb = np.pad(rgb, ((0, eh - h), (0, ew - w), (0, 0)))
        if self._container is None:
            self._open(ew, eh)
        elif self._size != (ew, eh):
            raise ValueError(f"{self.name}: frame size changed from {self._size} to {(ew, eh)}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        frame.time_base = self._stream.codec_context.time_base or Fraction(1) / Fraction(
            self.fps
        ).limit_denominator(1001)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file/stream. Safe to call twice."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>echostream live</title>
<style>body{{background:#111;color:#ddd;font-family:sans-serif;margin:1em}}
img{{max-width:100%;border:1px solid #333}}</style></head><body>
<h3>echostream live — {name}</h3><img src="/stream.mjpg" alt="live view">
<p>Model: {model}. Labels from a model trained on {data}.</p></body></html>
"""


class MjpegServer:
    """A live view page on ``http://HOST:PORT/`` (MJPEG, ``multipart/x-mixed-replace``).

    ``port=0`` picks a free port (see :attr:`url`). Each ``write`` replaces the latest frame;
    clients get the newest frame when it arrives (slow clients skip frames, never queue them).
    """

    boundary = "echostreamframe"

    def __init__(
        self,
        port: int = 8765,
        host: str = "127.0.0.1",
        *,
        title: str = "",
        model: str = "",
        data: str = "simulated data",
    ) -> None:
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._closed = False
        self.status: dict[str, Any] = {}
        page = _PAGE.format(name=title or "stream", model=model or "?", data=data).encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: no access log on stderr
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path in ("/", "/index.html"):
                    self._send(200, "text/html; charset=utf-8", page)
                elif self.path == "/status.json":
                    self._send(200, "application/json", json.dumps(server.status).encode())
                elif self.path == "/frame.jpg":
                    jpeg = server.latest()
                    if jpeg is None:
                        self._send(503, "text/plain", b"no frame yet")
                    else:
                        self._send(200, "image/jpeg", jpeg)
                elif self.path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header(
                    "Content-Type", f"multipart/x-mixed-replace; boundary={server.boundary}"
                )
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                seq = -1
                try:
                    while True:
                        jpeg, seq = server.wait_frame(seq)
                        if jpeg is None:
                            return
                        self.wfile.write(
                            f"--{server.boundary}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg
                            + b"\r\n"
                        )
                except (BrokenPipeError, ConnectionResetError):
                    return

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            daemon=True,
            name="mjpeg-server",
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{port}/"

    def latest(self) -> bytes | None:
        with self._cond:
            return self._jpeg

    def wait_frame(self, seen: int, timeout: float = 1.0) -> tuple[bytes | None, int]:
        """The newest frame after sequence number ``seen`` (None once the server closed)."""
        with self._cond:
            while not self._closed and self._seq == seen:
                self._cond.wait(timeout)
            return (None if self._closed else self._jpeg), self._seq

    def write(self, rgb: np.ndarray, result: Any = None, labels: Any = None) -> None:
        """Publish one annotated frame (JPEG-encoded once for all clients)."""
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=80)
        with self._cond:
            self._jpeg = buf.getvalue()
            self._seq += 1
            if result is not None:
                self.status = {
                    "index": result.index,
                    "timestamp": result.timestamp,
                    "latency_ms": result.latency_ms,
                }
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()


class NullSink:
    """Receives annotated frames and keeps none (benchmarks: the overlay is drawn, not sent)."""

    def __init__(self) -> None:
        self.frames = 0

    def write(self, rgb: np.ndarray, result: Any = None) -> None:
        self.frames += 1

    def close(self) -> None:
        pass
