"""The Gradio app: upload a cine (or pick an example), watch it play with the label overlay and
the probability timeline; a live tab for a stream URL or the browser's webcam.

The work is done by the stream pipeline (:mod:`echostream.demo.runner` adapts it); the page's
parts are in :mod:`echostream.demo.layout`, what its buttons do in :mod:`echostream.demo.handlers`
and what it shows in :mod:`echostream.demo.display`; this module puts them together and serves
the page. Gradio is imported by the demo only, never by ``echostream.stream``.

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

from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from echostream.stream.defaults import default_model_path, load_stream_config  # noqa: E402

from . import examples as ex  # noqa: E402
from .files import DELETE_CACHE  # noqa: E402
from .handlers import DemoState, RunSettings, run_live_url, run_upload, run_webcam  # noqa: E402
from .layout import (  # noqa: E402
    CineTab,
    LiveTab,
    cine_tab,
    launch_blocks,
    live_tab,
    settings_controls,
    title,
)
from .uploads import DEFAULT_MAX_UPLOAD_MB  # noqa: E402


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
    if keep_screen is None:
        keep_screen = bool(cfg["overlay"].get("keep_screen", False))
    state = DemoState(
        models=model_choices(models),
        out_dir=Path(out_dir) if out_dir else None,
        max_upload_mb=max_upload_mb,
        smoother=cfg["smoother"],
        keep_screen=keep_screen,
    )
    backends, missing = backend_choices()
    model_names = list(state.models)
    with gr.Blocks(
        title="echostream demo", analytics_enabled=False, delete_cache=DELETE_CACHE
    ) as app:
        title(model_missing=not model_names)
        controls = settings_controls(model_names, backends, missing, cfg["smoother"])
        with gr.Tabs():
            with gr.Tab("Cine", id="cine"):
                _wire_cine(state, cine_tab(ex.example_names(), max_upload_mb), controls)
            with gr.Tab("Live", id="live"):
                _wire_live(state, live_tab(), controls)
        app.unload(_session_end(state))
    app.demo_state = state
    return app


def _session(request: gr.Request | None) -> str | None:
    """The browser session a request belongs to (None outside a served app)."""
    return getattr(request, "session_hash", None)


def _wire_cine(state: DemoState, tab: CineTab, controls: list[Any]) -> None:
    """The Classify button runs :func:`run_upload` (API name ``classify``). Gradio passes the
    ``request`` (whose browser session) by its annotation."""

    def classify(
        request: gr.Request, upload: str | None, example: str | None, *values: Any
    ) -> tuple[Any, ...]:
        return run_upload(state, upload, example, RunSettings(*values), session=_session(request))

    tab.run.click(
        classify,
        inputs=[tab.upload, tab.example, *controls],
        outputs=tab.outputs,
        api_name="classify",
        concurrency_limit=2,
    )


def _wire_live(state: DemoState, tab: LiveTab, controls: list[Any]) -> None:
    """Start plays the stream URL until Stop (:func:`run_live_url`); webcam frames stream
    through :func:`run_webcam`, its session carried from frame to frame."""

    def play(url: str, *values: Any) -> Iterator[tuple[Any, str]]:
        yield from run_live_url(state, url, RunSettings(*values))

    def webcam(frame: Any, session: Any, *values: Any) -> Any:
        return run_webcam(state, frame, session, RunSettings(*values))

    session = gr.State(None)
    started = tab.start.click(
        play, inputs=[tab.url, *controls], outputs=[tab.view, tab.status], concurrency_limit=2
    )
    tab.stop.click(None, cancels=[started])
    tab.webcam.stream(
        webcam,
        inputs=[tab.webcam, session, *controls],
        outputs=[tab.webcam_view, session, tab.status],
        stream_every=0.1,
        concurrency_limit=1,
    )


def _session_end(state: DemoState) -> Any:
    """The handler for a browser session's end (the tab closed or reloaded): its files go."""

    def end_session(request: gr.Request) -> None:
        state.files.end_session(_session(request))

    return end_session


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
    return launch_blocks(
        app,
        host=host,
        port=port,
        block=block,
        allowed_path=str(state.out_dir),
        on_stop=state.files.clear,  # the app stops: every session's uploads and playbacks go
        concurrency=2,
        max_file_size=f"{max_upload_mb:g}mb",
    )
