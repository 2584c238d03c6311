"""What the page's buttons and streams do: classify an upload or example, one webcam frame, a
stream URL. Bad input never raises: its one-line reason goes into the status and the app keeps
serving. No Gradio here (the page is :mod:`echostream.demo.layout`, wired in
:mod:`echostream.demo.app`).

Example::

    state = DemoState(model_choices(["model.onnx"]), out_dir=None, max_upload_mb=200,
                      smoother=load_stream_config()["smoother"])
    settings = RunSettings("model.onnx", "auto", ["ema", "vote"], 0.5, 0.7, 0.1, 3, 0.5)
    status, video, figure, verdict, facts, timings = run_upload(state, None, example, settings)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from echostream.stream.defaults import default_model_path
from echostream.stream.errors import SourceError, item_error
from echostream.stream.model_file import ModelFileError
from echostream.stream.overlay import ScreenMask
from echostream.stream.pipeline import Engine
from echostream.stream.sources import source_kind
from echostream.stream.sources.base import FrameSource
from echostream.stream.sources.live import redact
from echostream.stream.temporal import Stage

from . import examples as ex
from .display import (
    done_status,
    facts_rows,
    live_summary,
    timeline_figure,
    timing_rows,
    verdict_markdown,
)
from .files import DemoFiles, in_gradio_cache
from .runner import LatestFrameSink, LiveClassifier, classify_cine, load_engine, smoother_config
from .uploads import check_upload, upload_label

#: What :func:`run_upload` gives the page: status, playback video, timeline, verdict, facts,
#: timings.
UploadOutputs = tuple[str, str | None, Figure | None, str, list[list[str]], list[list[str]]]


class DemoState:
    """What the handlers share: model files, the session files (outputs go to ``out_dir``,
    their folder), the upload limit and whether annotated frames keep the whole screen."""

    def __init__(
        self,
        models: dict[str, str],
        out_dir: Path | None,
        max_upload_mb: float,
        smoother: dict[str, Any],
        keep_screen: bool = False,
    ) -> None:
        self.models = models
        self.files = DemoFiles(out_dir) if out_dir is not None else DemoFiles.in_gradio_cache()
        self.out_dir = self.files.root
        self.max_upload_mb = max_upload_mb
        self.smoother = smoother
        self.keep_screen = keep_screen

    def model_path(self, name: str | None) -> str:
        if not name:
            raise ModelFileError(default_model_path(), "no model file: start with --model FILE")
        return self.models.get(name, name)


@dataclass(frozen=True)
class RunSettings:
    """What the page's controls chose for a run, in their order on the page: the model (its
    display name), the backend and the smoothing sliders (``window_s``: the vote window in
    seconds; ``patience`` in frames)."""

    model: str | None
    backend: str
    stages: Sequence[str]
    alpha: float
    window_s: float
    margin: float
    patience: float
    threshold: float

    def smoother(self) -> dict[str, Any]:
        """The ``smoother:`` section these sliders make (:func:`~.runner.smoother_config`)."""
        return smoother_config(
            stages=list(self.stages or []),
            alpha=self.alpha,
            window_s=float(self.window_s),
            margin=self.margin,
            patience=int(self.patience),
            threshold=self.threshold,
        )

    def engine(self, state: DemoState) -> Engine:
        """The chosen model on the chosen backend (cached; see :func:`~.runner.load_engine`)."""
        return load_engine(state.model_path(self.model), self.backend or "auto")


def _one_line(err: BaseException) -> str:
    return f"**Problem:** {' '.join(str(err).split())}"


def _pick_cine(
    state: DemoState, upload: str | None, example: str | None, session: str | None
) -> tuple[Path, str] | str:
    """(the file to classify, what the page calls it), or the status line saying why none."""
    if upload:
        if session is not None and in_gradio_cache(upload):  # Gradio's copy, not the original
            state.files.adopt(session, upload)
        shown_name = upload_label(upload)
        problem = check_upload(upload, state.max_upload_mb, shown=shown_name)
        return f"**Problem:** {problem}" if problem else (Path(upload), shown_name)
    if example:
        try:
            return ex.example_path(example, root=None), example
        except (KeyError, FileNotFoundError, ImportError, OSError) as err:
            return f"**Problem:** example {example!r} is not available: {err}"
    return "Upload a file or pick an example, then press **Classify**."


def run_upload(
    state: DemoState,
    upload: str | None,
    example: str | None,
    settings: RunSettings,
    *,
    session: str | None = None,
) -> UploadOutputs:
    """Classify the upload (or, without one, the picked example).

    Returns (status, playback video, timeline, verdict, facts, timings). The upload and the
    playback are deleted when ``session`` (the browser session) ends.
    """
    empty: tuple[Any, ...] = (None, None, "", [], [])
    picked = _pick_cine(state, upload, example, session)
    if isinstance(picked, str):
        return (picked, *empty)
    path, shown_name = picked
    try:
        engine = settings.engine(state)
        result, playback = classify_cine(
            path, engine, settings.smoother(), out_dir=state.out_dir,
            keep_screen=state.keep_screen, name=shown_name,
        )  # fmt: skip
    except (ModelFileError, RuntimeError) as err:  # the model file or backend: names itself
        return (_one_line(err), *empty)
    except (OSError, ValueError) as err:  # e.g. the sliders: must not stop the server
        return (f"**Problem:** {item_error(shown_name, err)}", *empty)
    if result.status == "error" or playback.info is None:
        return (f"**Problem:** {result.error}", *empty)
    if playback.video is not None:
        state.files.adopt(session, playback.video)
    model = engine.describe()
    backend_name = str(model.get("backend", {}).get("backend", settings.backend))
    return (
        done_status(shown_name, result, playback),
        str(playback.video) if playback.video else None,
        timeline_figure(playback) if playback.results else None,
        verdict_markdown(result, playback, model, backend_name),
        facts_rows(playback.info, len(playback.results), shown_name),
        timing_rows(playback),
    )


def run_webcam(
    state: DemoState,
    frame: np.ndarray | None,
    session: LiveClassifier | None,
    settings: RunSettings,
) -> tuple[np.ndarray | None, LiveClassifier | None, str]:
    """One webcam frame → (annotated frame, the session carried to the next frame, status)."""
    if frame is None:
        return None, session, ""
    smoother = settings.smoother()
    try:
        engine = settings.engine(state)
    except (ModelFileError, RuntimeError, ValueError) as err:
        return None, session, _one_line(err)
    if session is None or session.engine is not engine or session.smoother != smoother:
        session = LiveClassifier(engine, smoother, name="webcam", keep_screen=state.keep_screen)
    rgb = session.step(frame)
    return rgb, session, f"webcam: {session.index} frames classified"


def run_live_url(
    state: DemoState,
    url: str,
    settings: RunSettings,
    *,
    max_seconds: float | None = None,
) -> Iterator[tuple[np.ndarray | None, str]]:
    """Classify a stream URL as it plays: yields (annotated newest frame, status) pairs.

    Only live sources are accepted (``udp://``, ``rtsp://``, ``http(s)://``, … or
    ``/dev/videoN``): a web page must not open arbitrary files on the server. The page shows
    the URL without its password or secret query values.
    """
    from echostream.stream.sources import open_source
    from echostream.stream.temporal import chain_for

    url = (url or "").strip()
    shown = redact(url) if url else "(empty)"
    if not url or url == "-" or source_kind(url) != "live":
        yield None, f"**Problem:** {shown}: not a stream URL (udp://, rtsp://, http://, …)"
        return
    try:
        engine = settings.engine(state)
        src = open_source(url)
        chain = chain_for(engine, settings.smoother(), fps=src.info.fps)
    except SourceError as err:
        yield None, f"**Problem:** {err}"
        return
    except (ModelFileError, RuntimeError, ValueError) as err:
        yield None, _one_line(err)
        return
    yield from _play_stream(engine, src, chain, ScreenMask(state.keep_screen), shown, max_seconds)


def _play_stream(
    engine: Engine,
    src: FrameSource,
    chain: Stage,
    screen: ScreenMask,
    shown: str,
    max_seconds: float | None,
) -> Iterator[tuple[np.ndarray | None, str]]:
    """Run the live pipeline on ``src`` in a thread, yielding its newest annotated frame as it
    comes; the run stops when the consumer stops iterating (the Stop button) or the stream
    ends, and the last line sums it up."""
    from echostream.stream.pipeline_live import LiveSettings, run_live

    sink = LatestFrameSink()
    stop = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["report"] = run_live(
                engine, src, chain, LiveSettings(duration_s=max_seconds), sinks=[sink],
                stop=stop, screen=screen,
            )  # fmt: skip
        finally:
            sink.close()

    worker = threading.Thread(target=work, daemon=True, name="demo-live")
    worker.start()
    seen = 0
    try:
        while True:
            rgb, seq = sink.wait(seen, timeout=0.5)
            if seq > seen:
                seen = seq
                yield rgb, f"Playing {shown}: {seq} frames shown"
            elif sink.closed or not worker.is_alive():
                break
    finally:
        stop.set()
        worker.join(timeout=15.0)
    report = box.get("report")
    if report is None:
        yield None, f"**Problem:** {shown}: the stream stopped"
        return
    rgb, _ = sink.wait(seen, timeout=0)
    yield rgb, live_summary(report.summary(), shown)
