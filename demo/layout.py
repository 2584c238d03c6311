"""The demo page's parts: the title, the model and smoothing controls, the cine tab and the live
tab. Each function lays out its part inside the open ``gr.Blocks`` and returns its components;
:func:`echostream.demo.app.build_app` puts them together and wires them to the handlers.

Example::

    with gr.Blocks() as app:
        title(model_missing=False)
        controls = settings_controls(["model.onnx"], ["auto"], "", smoother)
        with gr.Tabs():
            with gr.Tab("Cine", id="cine"):
                cine = cine_tab(example_names(), max_upload_mb=200)
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

from collections.abc import AsyncIterator, Callable, Sequence  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from echostream.stream.defaults import default_model_path  # noqa: E402
from echostream.stream.temporal import FALLBACK_FPS  # noqa: E402

from .runner import SMOOTHER_STAGES  # noqa: E402

# System fonts only: the page must not fetch web fonts (it runs offline and at the bedside).
_FONTS = ["ui-sans-serif", "system-ui", "DejaVu Sans", "sans-serif"]
_MONO = ["ui-monospace", "DejaVu Sans Mono", "monospace"]


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts (no web-font download)."""
    return gr.themes.Default(font=_FONTS, font_mono=_MONO)


def title(*, model_missing: bool) -> None:
    """The page's title and what it does; a problem line when there is no model file."""
    gr.Markdown(
        "# echostream — echo view recognition\n"
        "Labels each frame of an echo cine with one of 8 views (PLAX, SAXMID, SAXBASAL, A5C, "
        "A4C, A3C, A2C, SUB4C), smooths the labels over time and gives a verdict per cine. "
        "The shipped model was trained on **simulated** echo: treat its labels on real echo "
        "as a demonstration, not a diagnosis."
    )
    if model_missing:
        gr.Markdown(
            f"**Problem:** No model file found: {default_model_path()} is missing. "
            "Start the demo with `--model FILE.onnx`."
        )


def vote_seconds(vote: dict[str, Any]) -> float:
    """The configured vote window in seconds (a window in frames read at the fallback rate)."""
    if "window_s" in vote:
        return float(vote["window_s"])
    return round(int(vote.get("window", 15)) / FALLBACK_FPS, 2)


def settings_controls(
    model_names: Sequence[str], backends: Sequence[str], missing: str, sm: dict[str, Any]
) -> list[Any]:
    """The model, backend and smoothing controls (``sm``: the configured ``smoother:``), in
    :class:`~echostream.demo.handlers.RunSettings`' order."""
    with gr.Row():
        model = gr.Dropdown(
            list(model_names),
            value=model_names[0] if model_names else None,
            label="Model",
            elem_id="model",
        )
        backend = gr.Dropdown(
            list(backends),
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
            sliders = [
                gr.Slider(0.05, 1.0, value=sm["ema"]["alpha"], step=0.05,
                          label="EMA alpha (1 = no smoothing)"),
                gr.Slider(0.05, 2.0, value=vote_seconds(sm["vote"]), step=0.05,
                          label="vote window (s, at the cine's frame rate)"),
                gr.Slider(0.0, 0.5, value=sm["hysteresis"]["margin"], step=0.01,
                          label="hysteresis margin"),
                gr.Slider(1, 30, value=sm["hysteresis"]["patience"], step=1,
                          label="hysteresis patience (frames)"),
                gr.Slider(0.0, 1.0, value=sm["uncertain"]["threshold"], step=0.05,
                          label="uncertain below"),
            ]  # fmt: skip
    return [model, backend, stages, *sliders]


@dataclass
class CineTab:
    """The cine tab's inputs, its button and its outputs (in :func:`run_upload`'s order)."""

    upload: Any
    example: Any
    run: Any
    outputs: list[Any]


def cine_tab(example_names: Sequence[str], max_upload_mb: float) -> CineTab:
    """Upload or example, the Classify button, the status and verdict, the playback and the
    timeline, the acquisition facts and timings."""
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(
                label=f"Upload a DICOM cine, MP4/AVI or image (≤ {max_upload_mb:g} MB)",
                type="filepath",
                elem_id="upload",
                height=140,
            )
            example = gr.Dropdown(
                list(example_names),
                value=example_names[0] if example_names else None,
                label="…or a bundled example (used when nothing is uploaded)",
                elem_id="example",
            )
            run = gr.Button("Classify", variant="primary", elem_id="classify")
            status = gr.Markdown(elem_id="status")
            verdict = gr.Markdown(elem_id="verdict")
        with gr.Column(scale=3):
            gr.Markdown("**Annotated playback** (the live view's overlay)")
            video = gr.Video(label="Annotated playback", show_label=False, autoplay=True,
                             loop=True, interactive=False, elem_id="playback")  # fmt: skip
            gr.Markdown("**Probability timeline**")
            timeline = gr.Plot(label="Probability timeline", show_label=False, elem_id="timeline")
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
    return CineTab(upload, example, run, [status, video, timeline, verdict, facts, timings])


@dataclass
class LiveTab:
    """The live tab's components."""

    url: Any
    start: Any
    stop: Any
    status: Any
    view: Any
    webcam: Any
    webcam_view: Any


def live_tab() -> LiveTab:
    """A stream URL with Start and Stop and its annotated view; the webcam and its own."""
    gr.Markdown(
        "Classify a stream as it plays (a scanner's video output sent as UDP/RTSP/"
        "HTTP), or your webcam (point it at an echo on a screen)."
    )
    with gr.Row():
        url = gr.Textbox(
            label="Stream URL", placeholder="udp://127.0.0.1:5000", elem_id="url", scale=4
        )
        start = gr.Button("Start", variant="primary", scale=1)
        stop = gr.Button("Stop", scale=1)
    status = gr.Markdown(elem_id="live-status")
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Stream, annotated**")
            view = gr.Image(
                label="Stream, annotated", show_label=False, interactive=False, elem_id="live-view"
            )
        with gr.Column():
            webcam = gr.Image(sources=["webcam"], streaming=True, label="Webcam", elem_id="webcam")
            gr.Markdown("**Webcam, annotated**")
            webcam_view = gr.Image(
                label="Webcam, annotated",
                show_label=False,
                interactive=False,
                elem_id="webcam-view",
            )
    return LiveTab(url, start, stop, status, view, webcam, webcam_view)


def launch_blocks(
    app: gr.Blocks,
    *,
    host: str,
    port: int,
    block: bool,
    allowed_path: str,
    on_stop: Callable[[], object],
    concurrency: int,
    **launch_kw: Any,
) -> tuple[Any, str, str]:
    """Serve a demo page on ``host:port`` the project's way: no share link, no analytics, no
    monitoring or MCP endpoints, no server-side rendering, errors not shown to the browser;
    only ``allowed_path`` served as files; ``on_stop()`` when the server stops (the page's
    files go). ``block=False`` returns at once (``app.close()`` stops it)."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            on_stop()

    return app.queue(default_concurrency_limit=concurrency).launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=not block,
        allowed_paths=[allowed_path],
        app_kwargs={"lifespan": lifespan},
        ssr_mode=False,
        quiet=not block,
        show_error=False,
        enable_monitoring=False,
        mcp_server=False,
        pwa=False,
        theme=theme(),
        **launch_kw,
    )
