"""The bedside live view: classify a stream (or a file played at its own rate) as it arrives.

Annotated frames (``out``, the ``show`` page) show only the ultrasound region: the rest of the
screen, where scanners burn in the patient's name, is blanked (:class:`ScreenMask`) unless
``keep_screen`` (or ``overlay.keep_screen`` in the settings) says to keep it.

Example::

    report = run_live_view("udp://127.0.0.1:5000", engine, cfg, LiveView(out="annotated.mp4"),
                           max_frames=300)
    print(report["frame_to_label_ms"]["p99"], report["screen"])
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model_file import data_text
from .overlay import ScreenMask
from .pipeline import Engine, FrameResult
from .pipeline_live import FrameSink, LiveReport, LiveSettings, run_live
from .sinks import MjpegServer, VideoSink
from .sources import open_source, source_kind
from .temporal import chain_for

log = logging.getLogger(__name__)


def open_live_source(source: str, cfg: dict[str, Any], name: str | None = None) -> Any:
    """Open ``source`` for live use: full frames (the overlay draws on them); live URLs get
    the configured read timeout and the reader's reconnect policy. ``name``: what to call the
    source in reports and errors (default: the path, or the URL without its secrets)."""
    kind = source_kind(source)
    named = {} if name is None else {"name": name}
    if kind == "live":
        timeout = float(cfg.get("live", {}).get("read_timeout", 5.0))
        connect = float(cfg.get("live", {}).get("connect_timeout", 10.0))
        return open_source(
            source, open_timeout=timeout, read_timeout=timeout, connect_timeout=connect, **named
        )
    if kind == "dicom":  # full-resolution frames decoded ahead, as a scanner sends them
        workers = cfg.get("live", {}).get("workers") or cfg.get("reader", {}).get("workers", 2)
        return open_source(source, workers=int(workers), **named)
    return open_source(source, **named)


@dataclass(frozen=True)
class LiveView:
    """Where a live run's annotated frames go and what they show.

    ``out``: a video file or stream URL; ``show``: serve the ``--show`` page (on ``port``,
    default ``live.show_port``) and call ``on_show(url)`` once it serves; ``keep_screen``: write
    and serve the whole screen (default: ``overlay.keep_screen``, false: only the ultrasound
    region); ``out_name``: what reports and errors call ``out`` (default: the path, or the URL
    without its secrets).
    """

    out: str | None = None
    out_name: str | None = None
    show: bool = False
    port: int | None = None
    on_show: Callable[[str], None] | None = None
    keep_screen: bool | None = None


def run_live_view(
    source: str,
    engine: Engine,
    cfg: dict[str, Any],
    view: LiveView | None = None,
    *,
    name: str | None = None,
    max_frames: int | None = None,
    duration_s: float | None = None,
    pace: bool | None = None,
    on_result: Callable[[FrameResult], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the live pipeline and return its latency report (a JSON-able dict).

    Files are played at their own frame rate unless ``pace=False``; live sources as they come.
    ``view`` says where annotated frames go (:class:`LiveView`; default: nowhere). ``name``:
    what the report and errors call the source (default: the path, or the URL without its
    secrets).
    """
    view = view or LiveView()
    out, show, port, on_show = view.out, view.show, view.port, view.on_show
    keep_screen = view.keep_screen
    live_cfg = cfg.get("live", {})
    if keep_screen is None:
        keep_screen = bool(cfg.get("overlay", {}).get("keep_screen", False))
    src = open_live_source(source, cfg, name=name)
    info = src.info
    chain = chain_for(engine, cfg.get("smoother"), fps=info.fps)
    sinks: list[FrameSink] = []
    server: MjpegServer | None = None
    video = VideoSink(out, fps=info.fps or 30.0, name=view.out_name) if out else None
    try:
        if video is not None:
            sinks.append(video)
        if show:
            model = f"{engine.info.model_name} {engine.info.model_version}"
            data = data_text(engine.info.provenance.get("data"))
            server = MjpegServer(
                port=int(port if port is not None else live_cfg.get("show_port", 8765)),
                title=info.name,
                model=model,
                data=data,
            )
            sinks.append(server)
            if on_show is not None:
                on_show(server.url)
        is_file = source_kind(source) != "live"
        settings = LiveSettings.from_config(
            cfg,
            pace=is_file if pace is None else pace,
            max_frames=max_frames,
            duration_s=duration_s,
        )
        report: LiveReport = run_live(
            engine,
            src,
            chain,
            settings,
            sinks=sinks,
            on_result=on_result,
            stop=stop,
            screen=ScreenMask(keep_screen),
        )
    except BaseException:
        for sink in sinks:  # run_live closes them; here it never started
            sink.close()
        raise
    finally:
        src.close()
    summary = report.summary()
    return {
        "source": info.to_dict(),
        "model": engine.describe(),
        "smoother": chain.describe(),
        "out": video.name if video is not None else None,
        "show_url": server.url if server else None,
        "frames_written": video.frames if video is not None else 0,
        **summary,
    }


def print_label(result: FrameResult, labels: tuple[str, ...]) -> str:
    """One status line for a result (used by the CLI)."""
    p = result.pred
    return (
        f"frame {result.index:6d}  t={result.timestamp:8.3f}s  {p.label(labels):>10s} "
        f"{p.confidence:5.1%}  {result.latency_ms or 0:.1f} ms"
    )
