"""The annotate app: the page (:mod:`~echostream.demo.annotate_page`) wired to one
:class:`~echostream.demo.annotate_session.AnnotateSession`, served on localhost.

Every action runs one at a time in the order pressed, and carries the page's token (the cine
and part it showed): a key pressed before the page caught up changes nothing. Playbacks live
in a fresh folder in Gradio's cache under random names and go when the next cine shows and
when the app stops.

Example::

    app = build_annotate_app(session, labels_name="labels.csv")
    launch_annotate(app, port=7861)
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from .annotate_page import (  # noqa: E402
    CSS,
    SPLIT_JS,
    AnnotatePage,
    annotate_page,
    keyboard_js,
    render,
)
from .annotate_session import AnnotateSession  # noqa: E402
from .annotate_store import LabelRow, Split  # noqa: E402
from .files import DELETE_CACHE  # noqa: E402
from .layout import launch_blocks  # noqa: E402

_EVENT = dict(concurrency_limit=1, concurrency_id="annotate", trigger_mode="multiple",
              show_progress="hidden")  # fmt: skip


def _problem(err: Exception) -> str:
    return f"**Problem:** {' '.join(str(err).split())}"


def _saved(row: LabelRow) -> str:
    return f"Saved: cine `{row.cine}` frames {row.start}–{row.end - 1} → **{row.view}**"


def _undone(action: LabelRow | Split | None) -> str:
    if action is None:
        return "Nothing to undo."
    if isinstance(action, Split):
        return f"Undid the split at frame {action.at}."
    return f"Undid: cine `{action.cine}` frames {action.start}–{action.end - 1} → {action.view}."


def _respond(session: AnnotateSession, act: Callable[[], str]) -> list[Any]:
    """Run ``act`` (its message, or its error as a problem line), then what the page shows; the
    video is sent again only when the cine changed."""
    before = session.view().video
    try:
        message = act()
    except (ValueError, OSError) as err:  # e.g. the labels file could not be written
        message = _problem(err)
    shown = session.view()
    return render(shown, session.store, session.done_count(), message,
                  send_video=shown.video != before)  # fmt: skip


def _wire(page: AnnotatePage, session: AnnotateSession) -> None:
    outputs = page.outputs()
    for choice, button in page.labels.items():

        def press(token: str, choice: str = choice) -> list[Any]:
            return _respond(session, lambda: _saved(session.label(choice, token)))

        button.click(press, inputs=[page.token], outputs=outputs, **_EVENT)

    def accept(token: str) -> list[Any]:
        return _respond(session, lambda: _saved(session.label("accept", token)))

    def split(token: str, seconds: float | None) -> list[Any]:
        def act() -> str:
            at = session.split(float(seconds if seconds is not None else -1), token)
            return f"Split at frame {at}: label the part before it, then the part from it."

        return _respond(session, act)

    def undo() -> list[Any]:
        return _respond(session, lambda: _undone(session.undo()))

    page.accept.click(accept, inputs=[page.token], outputs=outputs, **_EVENT)
    page.split.click(split, inputs=[page.token, page.seconds], outputs=outputs, js=SPLIT_JS,
                     **_EVENT)  # fmt: skip
    page.undo.click(undo, outputs=outputs, **_EVENT)


def build_annotate_app(session: AnnotateSession, labels_name: str) -> gr.Blocks:
    """The page for ``session``; ``labels_name``: what the page calls the labels file."""
    with gr.Blocks(
        title="echostream annotate", analytics_enabled=False, delete_cache=DELETE_CACHE
    ) as app:
        page = annotate_page(session.store.annotator, labels_name)
        _wire(page, session)

        def show() -> list[Any]:
            shown = session.view()
            return render(shown, session.store, session.done_count(), "", send_video=True)

        app.load(show, outputs=page.outputs(), concurrency_id="annotate", concurrency_limit=1)
    app.annotate_session = session
    return app


def launch_annotate(
    app: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7861, block: bool = True
) -> tuple[Any, str, str]:
    """Serve ``app`` on ``host:port`` (no share link, no analytics); ``block=False`` returns at
    once (``app.close()`` stops it). The playbacks go when the server stops."""
    session: AnnotateSession = app.annotate_session  # type: ignore[attr-defined]

    def stop() -> None:
        session.close()
        session.files.clear()

    return launch_blocks(
        app,
        host=host,
        port=port,
        block=block,
        allowed_path=str(session.files.root),
        on_stop=stop,
        concurrency=1,
        js=keyboard_js(),
        css=CSS,
    )
