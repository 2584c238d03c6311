"""The Gradio app: upload a cine (or pick an example), watch it play with the label overlay and
the probability timeline; a live tab for a stream URL or the browser's webcam.

The work is done by the stream pipeline (:mod:`echostream.demo.runner` adapts it); this module
only lays out the page and turns results into what Gradio shows. Gradio is imported here, never
by ``echostream.stream``.

Privacy: annotated frames show only the ultrasound region unless the app is built with
``keep_screen``; uploads and playbacks are deleted when the browser session ends and when the
app stops (:mod:`echostream.demo.files`); outputs have random names; stream URLs are shown
without passwords or secret query values.

Example::

    from echostream.demo.app import build_app, launch
    app = build_app(models=["model.onnx"])
    launch(app, host="127.0.0.1", port=7860)
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import logging  # noqa: E402
import threading  # noqa: E402
from collections.abc import AsyncIterator, Iterator, Sequence  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from echostream.stream.defaults import default_model_path, load_stream_config  # noqa: E402
from echostream.stream.errors import SourceError, item_error  # noqa: E402
from echostream.stream.model_file import ModelFileError, data_text  # noqa: E402
from echostream.stream.overlay import ScreenMask  # noqa: E402
from echostream.stream.sources import (  # noqa: E402
    source_kind,
)
from echostream.stream.sources.live import redact  # noqa: E402
from echostream.stream.temporal import FALLBACK_FPS  # noqa: E402
from echostream.stream.views import VIEW_NAMES  # noqa: E402

from . import examples as ex  # noqa: E402
from .files import DELETE_CACHE, DemoFiles, in_gradio_cache  # noqa: E402
from .runner import (  # noqa: E402
    SMOOTHER_STAGES,
    CineResult,
    LatestFrameSink,
    LiveClassifier,
    classify_cine,
    load_engine,
    smoother_config,
)
from .uploads import (  # noqa: E402
    DEFAULT_MAX_UPLOAD_MB,
    check_upload,
    upload_label,
)

log = logging.getLogger(__name__)

UNCERTAIN_COLOR = "#9e9e9e"
# System fonts only: the page must not fetch web fonts (it runs offline and at the bedside).
_FONTS = ["ui-sans-serif", "system-ui", "DejaVu Sans", "sans-serif"]
_MONO = ["ui-monospace", "DejaVu Sans Mono", "monospace"]


# -- inputs ------------------------------------------------------------------------------------


def model_choices(extra: Sequence[str | Path] = ()) -> dict[str, str]:
    """Model files by display name: ``extra`` first, then every ``.onnx`` in the model zoo."""
    zoo = default_model_path().parent
    found = [Path(p) for p in extra]
    if zoo.is_dir():
        found += sorted(zoo.glob("*.onnx"))
    out: dict[str, str] = {}
    for p in found:
        name = p.name if p.name not in out else str(p)
        out.setdefault(name, str(p))
    return out


def backend_choices() -> tuple[list[str], str]:
    """(``auto`` + the available backends, a line naming the unavailable ones and why)."""
    from echostream.stream.backends import available_backends

    avail, missing = ["auto"], []
    for name, (ok, reason) in available_backends().items():
        if ok:
            avail.append(name)
        else:
            missing.append(f"{name}: {reason}")
    return avail, "; ".join(missing)


# -- outputs -----------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def verdict_markdown(result: CineResult, backend: str) -> str:
    """The verdict block: view, confidence, vote share, runner-up, model and its data."""
    m = result.model
    simulated = bool(m.get("simulated_data", True))
    model_line = (
        f"Model `{m.get('model', '?')}` {m.get('version', '')} on {backend}; "
        f"training data: {data_text(m.get('data'))}"
        + (" (simulated echo: its labels on real echo are not validated)." if simulated else ".")
    )
    if result.verdict is None:
        return f"### Not classified\n{result.note}\n\n{model_line}"
    v = result.verdict
    lines = [
        f"### Verdict: {v.label} — {VIEW_NAMES.get(v.label, v.label)}",
        f"**confidence {_pct(v.confidence)}** (mean probability) · "
        f"**vote share {_pct(v.vote_share)}** of {v.n_frames} frame"
        + ("s" if v.n_frames != 1 else ""),
    ]
    if len(v.top2) > 1:
        r = v.top2[1]
        lines.append(
            f"runner-up {r.label}: vote {_pct(r.vote_share)}, mean probability {_pct(r.mean_prob)}"
        )
    if not v.agrees:
        lines.append(f"the vote and the mean probability disagree (mean says {v.by_mean})")
    n_unc = sum(1 for s in result.shown if s == "uncertain")
    if n_unc:
        lines.append(f"{n_unc} of {len(result.shown)} frames shown as uncertain by the smoother")
    lines.append(model_line)
    return "\n\n".join(lines)


def facts_rows(result: CineResult, shown_name: str) -> list[list[str]]:
    """Acquisition facts (never a patient field): frames, fps, size, vendor, encoding, region;
    the file as ``shown_name``."""
    i = result.info
    region = i.region
    rows = [
        ["file", shown_name],
        ["kind", i.kind],
        ["frames", str(i.n_frames if i.n_frames is not None else len(result.times))],
        ["fps", f"{i.fps:.2f} ({i.fps_origin})"],
        ["size", f"{i.width}×{i.height}"],
        ["vendor", i.vendor or "—"],
        ["transfer syntax", i.transfer_syntax or i.codec or "—"],
        ["photometric", i.photometric or "—"],
        ["acquisition", i.acquisition.value],
        [
            "ultrasound region",
            "—"
            if region is None
            else f"x {region.x0}–{region.x1}, y {region.y0}–{region.y1} ({region.origin})",
        ],
    ]
    rows += [["warning", w] for w in i.warnings]
    return rows


def timing_rows(result: CineResult) -> list[list[str]]:
    """Per-stage milliseconds per frame: p50 and p95 over the cine's frames."""
    return [
        [stage, f"{p['p50']:.3f}", f"{p['p95']:.3f}"]
        for stage, p in result.timings().items()
        if p is not None
    ]


def timeline_figure(result: CineResult) -> Figure:
    """One line per view over time: smoothed (solid) and raw (dotted); a strip of shown labels."""
    fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [8, 1]})
    colors = [f"C{i}" for i in range(len(result.labels))]
    t = result.times if len(result.times) else np.zeros(0)
    if len(t) == 1:  # a still: draw a short segment so the point is visible
        t = np.array([0.0, 1.0])
        raw, smooth = np.repeat(result.raw, 2, axis=0), np.repeat(result.smoothed, 2, axis=0)
    else:
        raw, smooth = result.raw, result.smoothed
    for k, label in enumerate(result.labels):
        ax.plot(t, smooth[:, k], color=colors[k], lw=2, label=label)
        ax.plot(t, raw[:, k], color=colors[k], lw=1, ls=":", alpha=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title("per-frame view probability — solid: smoothed, dotted: raw", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    shown = result.shown if len(result.shown) == len(t) else result.shown * len(t)
    color_of = dict(zip(result.labels, colors, strict=True))
    for j in range(len(t)):
        t0 = t[j]
        t1 = t[j + 1] if j + 1 < len(t) else t[j] + (t[1] - t[0] if len(t) > 1 else 1.0)
        strip.axvspan(t0, t1, color=color_of.get(shown[j], UNCERTAIN_COLOR), lw=0)
    strip.set_yticks([])
    strip.set_ylabel("shown", rotation=0, ha="right", va="center", fontsize=8)
    strip.set_xlabel("time (s)")
    return fig


# -- handlers ----------------------------------------------------------------------------------


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


def _vote_seconds(vote: dict[str, Any]) -> float:
    """The configured vote window in seconds (a window in frames read at the fallback rate)."""
    if "window_s" in vote:
        return float(vote["window_s"])
    return round(int(vote.get("window", 15)) / FALLBACK_FPS, 2)


def _smoother(stages: Sequence[str], alpha, window, margin, patience, threshold) -> dict:
    return smoother_config(
        stages=list(stages or []),
        alpha=alpha,
        window_s=float(window),
        margin=margin,
        patience=int(patience),
        threshold=threshold,
    )


def run_upload(
    state: DemoState,
    upload: str | None,
    example: str | None,
    model: str | None,
    backend: str,
    stages: Sequence[str],
    alpha: float,
    window: float,
    margin: float,
    patience: float,
    threshold: float,
    *,
    session: str | None = None,
) -> tuple[str, str | None, Figure | None, str, list[list[str]], list[list[str]]]:
    """Classify the upload (or, without one, the picked example).

    Returns (status, playback video, timeline, verdict, facts, timings). Bad input never
    raises: its one-line reason goes into the status and the app keeps serving. The upload
    and the playback are deleted when ``session`` (the browser session) ends.
    """
    empty: tuple[Any, ...] = (None, None, "", [], [])
    if upload:
        if session is not None and in_gradio_cache(upload):  # Gradio's copy, not the original
            state.files.adopt(session, upload)
        path, shown_name = Path(upload), upload_label(upload)
        problem = check_upload(upload, state.max_upload_mb, shown=shown_name)
        if problem:
            return (f"**Problem:** {problem}", *empty)
    elif example:
        try:
            path, shown_name = ex.example_path(example, root=None), example
        except (KeyError, FileNotFoundError, ImportError, OSError) as err:
            return (f"**Problem:** example {example!r} is not available: {err}", *empty)
    else:
        return ("Upload a file or pick an example, then press **Classify**.", *empty)
    try:
        engine = load_engine(state.model_path(model), backend or "auto")
        smoother = _smoother(stages, alpha, window, margin, patience, threshold)
        result = classify_cine(
            path, engine, smoother, out_dir=state.out_dir, keep_screen=state.keep_screen
        )
        if result.video is not None:
            state.files.adopt(session, result.video)
    except SourceError as err:
        return (f"**Problem:** {shown_name}: {err.problem}", *empty)
    except (ModelFileError, RuntimeError) as err:  # the model file or backend: names itself
        return (f"**Problem:** {' '.join(str(err).split())}", *empty)
    except (OSError, ValueError) as err:  # a reader bug must not stop the server
        return (f"**Problem:** {item_error(shown_name, err)}", *empty)
    backend_name = str(result.model.get("backend", {}).get("backend", backend))
    n = len(result.times)
    status = f"**Done:** {shown_name}: {n} frame{'s' if n != 1 else ''} classified in " + (
        f"{result.wall_s:.2f} s ({n / result.wall_s:.0f} frames/s, decode to verdict)"
        if result.wall_s > 0
        else "no time"
    )
    figure = timeline_figure(result) if len(result.times) else None
    return (
        status,
        str(result.video) if result.video else None,
        figure,
        verdict_markdown(result, backend_name),
        facts_rows(result, shown_name),
        timing_rows(result),
    )


def run_webcam(
    state: DemoState,
    frame: np.ndarray | None,
    session: LiveClassifier | None,
    model: str | None,
    backend: str,
    stages: Sequence[str],
    alpha: float,
    window: float,
    margin: float,
    patience: float,
    threshold: float,
) -> tuple[np.ndarray | None, LiveClassifier | None, str]:
    """One webcam frame → (annotated frame, the session carried to the next frame, status)."""
    if frame is None:
        return None, session, ""
    smoother = _smoother(stages, alpha, window, margin, patience, threshold)
    try:
        engine = load_engine(state.model_path(model), backend or "auto")
    except (ModelFileError, RuntimeError, ValueError) as err:
        return None, session, f"**Problem:** {' '.join(str(err).split())}"
    if session is None or session.engine is not engine or session.smoother != smoother:
        session = LiveClassifier(engine, smoother, name="webcam", keep_screen=state.keep_screen)
    rgb = session.step(frame)
    return rgb, session, f"webcam: {session.index} frames classified"


def run_live_url(
    state: DemoState,
    url: str,
    model: str | None,
    backend: str,
    stages: Sequence[str],
    alpha: float,
    window: float,
    margin: float,
    patience: float,
    threshold: float,
    *,
    max_seconds: float | None = None,
) -> Iterator[tuple[np.ndarray | None, str]]:
    """Classify a stream URL as it plays: yields (annotated newest frame, status) pairs.

    Only live sources are accepted (``udp://``, ``rtsp://``, ``http(s)://``, … or
    ``/dev/videoN``): a web page must not open arbitrary files on the server. The page shows
    the URL without its password or secret query values.
    """
    from echostream.stream.pipeline_live import run_live
    from echostream.stream.sources import open_source
    from echostream.stream.temporal import TemporalChain

    url = (url or "").strip()
    shown = redact(url) if url else "(empty)"
    if not url or url == "-" or source_kind(url) != "live":
        yield None, f"**Problem:** {shown}: not a stream URL (udp://, rtsp://, http://, …)"
        return
    try:
        engine = load_engine(state.model_path(model), backend or "auto")
        src = open_source(url)
        chain = TemporalChain.from_config(
            _smoother(stages, alpha, window, margin, patience, threshold), fps=src.info.fps
        )
    except SourceError as err:
        yield None, f"**Problem:** {err}"
        return
    except (ModelFileError, RuntimeError, ValueError) as err:
        yield None, f"**Problem:** {' '.join(str(err).split())}"
        return
    sink = LatestFrameSink()
    stop = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["report"] = run_live(
                engine, src, chain, sinks=[sink], stop=stop, duration_s=max_seconds,
                screen=ScreenMask(state.keep_screen),
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
    s = report.summary()
    lat = s["frame_to_label_ms"] or {}
    msg = (
        f"Stopped {shown}: {s['frames_labelled']} frames labelled, {s['dropped']['reader']} dropped"
        + (f", frame-to-label p50 {lat['p50']:.1f} ms" if lat else "")
        + (f" — {s['error']}" if s["error"] else "")
    )
    rgb, _ = sink.wait(seen, timeout=0)
    yield rgb, msg


# -- layout ------------------------------------------------------------------------------------


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts (no web-font download)."""
    return gr.themes.Default(font=_FONTS, font_mono=_MONO)


def build_app(
    *,
    models: Sequence[str | Path] = (),
    out_dir: str | Path | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    keep_screen: bool | None = None,
) -> gr.Blocks:
    """The demo page. ``models``: extra model files offered before the model zoo's.
    ``out_dir``: where playbacks go (default: a new folder in Gradio's cache). ``keep_screen``:
    annotated frames show the whole screen (default: ``overlay.keep_screen``, false)."""
    cfg = load_stream_config()
    sm = cfg["smoother"]
    state = DemoState(
        models=model_choices(models),
        out_dir=Path(out_dir) if out_dir else None,
        max_upload_mb=max_upload_mb,
        smoother=sm,
        keep_screen=bool(cfg["overlay"].get("keep_screen", False))
        if keep_screen is None
        else keep_screen,
    )
    backends, missing = backend_choices()
    names = ex.example_names()
    model_names = list(state.models)
    default_missing = not model_names

    with gr.Blocks(
        title="echostream demo", analytics_enabled=False, delete_cache=DELETE_CACHE
    ) as app:
        gr.Markdown(
            "# echostream — echo view recognition\n"
            "Labels each frame of an echo cine with one of 8 views (PLAX, SAXMID, SAXBASAL, A5C, "
            "A4C, A3C, A2C, SUB4C), smooths the labels over time and gives a verdict per cine. "
            "The shipped model was trained on **simulated** echo: treat its labels on real echo "
            "as a demonstration, not a diagnosis."
        )
        if default_missing:
            gr.Markdown(
                f"**Problem:** No model file found: {default_model_path()} is missing. "
                "Start the demo with `--model FILE.onnx`."
            )
        with gr.Row():
            model = gr.Dropdown(
                model_names,
                value=model_names[0] if model_names else None,
                label="Model",
                elem_id="model",
            )
            backend = gr.Dropdown(
                backends,
                value="auto",
                label="Backend",
                info=f"unavailable here — {missing}" if missing else "all backends available",
                elem_id="backend",
            )
        with gr.Accordion("Smoothing", open=False):
            with gr.Row():
                stages = gr.CheckboxGroup(
                    list(SMOOTHER_STAGES),
                    value=list(sm.get("stages", [])),
                    label="stages (run in this order; none = raw argmax)",
                )
            with gr.Row():
                alpha = gr.Slider(
                    0.05,
                    1.0,
                    value=sm["ema"]["alpha"],
                    step=0.05,
                    label="EMA alpha (1 = no smoothing)",
                )
                window = gr.Slider(
                    0.05,
                    2.0,
                    value=_vote_seconds(sm["vote"]),
                    step=0.05,
                    label="vote window (s, at the cine's frame rate)",
                )
                margin = gr.Slider(
                    0.0, 0.5, value=sm["hysteresis"]["margin"], step=0.01, label="hysteresis margin"
                )
                patience = gr.Slider(
                    1,
                    30,
                    value=sm["hysteresis"]["patience"],
                    step=1,
                    label="hysteresis patience (frames)",
                )
                threshold = gr.Slider(
                    0.0, 1.0, value=sm["uncertain"]["threshold"], step=0.05, label="uncertain below"
                )
        settings = [model, backend, stages, alpha, window, margin, patience, threshold]

        with gr.Tabs():
            with gr.Tab("Cine", id="cine"):
                with gr.Row():
                    with gr.Column(scale=2):
                        upload = gr.File(
                            label=f"Upload a DICOM cine, MP4/AVI or image (≤ {max_upload_mb:g} MB)",
                            type="filepath",
                            elem_id="upload",
                            height=140,
                        )
                        example = gr.Dropdown(
                            names,
                            value=names[0] if names else None,
                            label="…or a bundled example (used when nothing is uploaded)",
                            elem_id="example",
                        )
                        run = gr.Button("Classify", variant="primary", elem_id="classify")
                        status = gr.Markdown(elem_id="status")
                        verdict = gr.Markdown(elem_id="verdict")
                    with gr.Column(scale=3):
                        gr.Markdown("**Annotated playback** (the live view's overlay)")
                        video = gr.Video(
                            label="Annotated playback",
                            show_label=False,
                            autoplay=True,
                            loop=True,
                            interactive=False,
                            elem_id="playback",
                        )
                        gr.Markdown("**Probability timeline**")
                        timeline = gr.Plot(
                            label="Probability timeline", show_label=False, elem_id="timeline"
                        )
                with gr.Row():
                    facts = gr.Dataframe(
                        headers=["acquisition", "value"],
                        label="Acquisition (no patient fields)",
                        interactive=False,
                        elem_id="facts",
                        wrap=True,
                        column_widths=["35%", "65%"],
                    )
                    timings = gr.Dataframe(
                        headers=["stage", "ms/frame (p50)", "ms/frame (p95)"],
                        label="Per-stage timings (inference: micro-batch time per frame)",
                        interactive=False,
                        elem_id="timings",
                    )
                run.click(
                    _handlers(state)[0],
                    inputs=[upload, example, *settings],
                    outputs=[status, video, timeline, verdict, facts, timings],
                    api_name="classify",
                    concurrency_limit=2,
                )
            with gr.Tab("Live", id="live"):
                gr.Markdown(
                    "Classify a stream as it plays (a scanner's video output sent as UDP/RTSP/"
                    "HTTP), or your webcam (point it at an echo on a screen)."
                )
                with gr.Row():
                    url = gr.Textbox(
                        label="Stream URL",
                        placeholder="udp://127.0.0.1:5000",
                        elem_id="url",
                        scale=4,
                    )
                    start = gr.Button("Start", variant="primary", scale=1)
                    stop = gr.Button("Stop", scale=1)
                live_status = gr.Markdown(elem_id="live-status")
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**Stream, annotated**")
                        live_view = gr.Image(
                            label="Stream, annotated",
                            show_label=False,
                            interactive=False,
                            elem_id="live-view",
                        )
                    with gr.Column():
                        webcam = gr.Image(
                            sources=["webcam"], streaming=True, label="Webcam", elem_id="webcam"
                        )
                        gr.Markdown("**Webcam, annotated**")
                        webcam_view = gr.Image(
                            label="Webcam, annotated",
                            show_label=False,
                            interactive=False,
                            elem_id="webcam-view",
                        )
                session = gr.State(None)
                started = start.click(
                    lambda *a: (yield from run_live_url(state, *a)),
                    inputs=[url, *settings],
                    outputs=[live_view, live_status],
                    concurrency_limit=2,
                )
                stop.click(None, cancels=[started])
                webcam.stream(
                    lambda *a: run_webcam(state, *a),
                    inputs=[webcam, session, *settings],
                    outputs=[webcam_view, session, live_status],
                    stream_every=0.1,
                    concurrency_limit=1,
                )
        app.unload(_handlers(state)[1])
    app.demo_state = state
    return app


def _session(request: gr.Request | None) -> str | None:
    """The browser session a request belongs to (None outside a served app)."""
    return getattr(request, "session_hash", None)


def _handlers(state: DemoState) -> tuple[Any, Any]:
    """(Classify button, session end) handlers bound to ``state``. Gradio passes the
    ``request`` (whose browser session) by its annotation, so these are plain functions."""

    def classify(request: gr.Request, *args: Any) -> tuple[Any, ...]:
        return run_upload(state, *args, session=_session(request))

    def end_session(request: gr.Request) -> None:  # the tab closed or reloaded
        state.files.end_session(_session(request))

    return classify, end_session


def launch(
    app: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    block: bool = True,
) -> tuple[Any, str, str]:
    """Serve ``app`` on ``host:port`` (no share link, no analytics, uploads capped).

    ``block=False`` returns at once (the server runs in a thread; ``app.close()`` stops it).
    """
    state: DemoState = app.demo_state  # type: ignore[attr-defined]

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:  # the app stops: every session's uploads and playbacks go
            state.files.clear()

    return app.queue(default_concurrency_limit=2).launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=not block,
        max_file_size=f"{max_upload_mb:g}mb",
        allowed_paths=[str(state.out_dir)],
        app_kwargs={"lifespan": lifespan},
        ssr_mode=False,
        quiet=not block,
        show_error=False,
        enable_monitoring=False,
        mcp_server=False,
        pwa=False,
        theme=theme(),
    )
