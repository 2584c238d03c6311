"""The annotate page's parts and what they show: the playback, the cine and part on screen, the
model's suggestion, progress, and one button per action with its key (1-8 the views, ``o``
other, ``s`` skip, ``x`` split at the playback's frame, ``u`` undo, Enter accepts the
suggestion). :func:`render` turns a :class:`~echostream.demo.annotate_session.Shown` into the
components' values; nothing shown names a file or holds a DICOM header field.

Example::

    with gr.Blocks() as app:
        page = annotate_page()
    values = render(session.view(), session.store, done=3, message="saved", send_video=True)
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from echostream.stream.unknown import UNKNOWN  # noqa: E402
from echostream.stream.views import VIEW_NAMES, VIEWS  # noqa: E402

from .annotate_session import Shown  # noqa: E402
from .annotate_store import CHOICES, OTHER, SKIP, LabelStore  # noqa: E402

#: Key → the element id of the button it presses (the page's script reads this table).
KEYS: dict[str, str] = {
    **{str(i + 1): f"label-{v}" for i, v in enumerate(VIEWS)},
    "o": f"label-{OTHER}",
    "s": f"label-{SKIP}",
    "x": "split",
    "u": "undo",
    "Enter": "accept",
}
VIDEO_ID = "annotate-video"
#: CSS: the part's bounds are in a text field the page's script reads, shown to no one.
CSS = ".annotate-hidden { display: none !important; }"


def keyboard_js() -> str:
    """The page's script: a key (outside text fields, without Ctrl/Alt/Meta) clicks its button;
    a playing cine loops over the part being labelled (its bounds in seconds: #annotate-part)."""
    table = ", ".join(f'"{k}": "{v}"' for k, v in KEYS.items())
    return (
        "() => {\n"
        f"  const keys = {{{table}}};\n"
        "  document.addEventListener('keydown', (e) => {\n"
        "    const t = e.target;\n"
        "    if (e.ctrlKey || e.altKey || e.metaKey || e.repeat) return;\n"
        "    if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)))"
        " return;\n"
        "    const id = keys[e.key] || keys[e.key.toLowerCase()];\n"
        "    const button = id && document.getElementById(id);\n"
        "    if (button) { e.preventDefault(); button.click(); }\n"
        "  });\n"
        "  const loop = () => {\n"
        f"    const v = document.querySelector('#{VIDEO_ID} video');\n"
        "    const f = document.querySelector('#annotate-part textarea');\n"
        "    if (v && f && !v.paused && f.value) {\n"
        "      const [start, end] = f.value.split(',').map(Number);\n"
        "      if (v.currentTime < start - 0.02 || v.currentTime >= end) v.currentTime = start;\n"
        "    }\n"
        "    requestAnimationFrame(loop);\n"
        "  };\n"
        "  requestAnimationFrame(loop);\n"
        "}\n"
    )


#: The split button's script: the playback's position (seconds) goes with the page's token.
SPLIT_JS = (
    "(token, seconds) => {"
    f" const v = document.querySelector('#{VIDEO_ID} video');"
    " return [token, v ? v.currentTime : -1]; }"
)


@dataclass
class AnnotatePage:
    """The page's components (see :meth:`outputs` for what :func:`render` fills)."""

    video: Any
    status: Any
    suggestion: Any
    progress: Any
    message: Any
    token: Any
    part: Any
    seconds: Any
    labels: dict[str, Any]
    split: Any
    undo: Any
    accept: Any

    def outputs(self) -> list[Any]:
        return [self.video, self.status, self.suggestion, self.progress, self.message,
                self.token, self.part, *self.labels.values()]  # fmt: skip


def _button_text(choice: str) -> str:
    key = next(k for k, v in KEYS.items() if v == f"label-{choice}")
    return f"{key} · {'Skip' if choice == SKIP else choice}"


def annotate_page(annotator: str, labels_name: str) -> AnnotatePage:
    """Lay out the page inside the open ``gr.Blocks``."""
    who = f" as **{annotator}**" if annotator else ""
    gr.Markdown(
        "# echostream annotate — label echo cines\n"
        f"Labelling{who} into `{labels_name}` (saved after every key). Keys: **1–8** "
        + ", ".join(f"{i + 1} {v}" for i, v in enumerate(VIEWS))
        + "; **o** other; **s** skip; **x** split the cine at the frame shown (the parts "
        "before and after are labelled apart); **u** undo; **Enter** accept the suggestion. "
        "The suggestion comes from a model trained on **simulated** echo."
    )
    with gr.Row():
        with gr.Column(scale=3):
            video = gr.Video(label="Cine", show_label=False, autoplay=True, loop=True,
                             interactive=False, elem_id=VIDEO_ID)  # fmt: skip
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="annotate-status")
            suggestion = gr.Markdown(elem_id="annotate-suggestion")
            progress = gr.Markdown(elem_id="annotate-progress")
            message = gr.Markdown(elem_id="annotate-message")
    with gr.Row():
        labels = {
            c: gr.Button(
                _button_text(c),
                elem_id=f"label-{c}",
                min_width=80,
                variant="stop" if c == SKIP else "secondary",
            )  # fmt: skip
            for c in CHOICES
        }
    with gr.Row():
        accept = gr.Button("Enter · Accept suggestion", variant="primary", elem_id="accept")
        split = gr.Button("x · Split at this frame", elem_id="split")
        undo = gr.Button("u · Undo", elem_id="undo")
    token = gr.Textbox(visible=False, elem_id="annotate-token")
    part = gr.Textbox(elem_id="annotate-part", elem_classes=["annotate-hidden"], show_label=False)
    seconds = gr.Number(visible=False, value=-1, elem_id="annotate-seconds")
    return AnnotatePage(video, status, suggestion, progress, message, token, part, seconds,
                        labels, split, undo, accept)  # fmt: skip


def _frames_text(part: tuple[int, int], fps: float) -> str:
    start, end = part
    return f"frames {start}–{end - 1} ({start / fps:.2f}–{end / fps:.2f} s)"


def status_markdown(shown: Shown) -> str:
    """Which cine (place and content id, never its name) and which part is on screen."""
    if shown.item is None:
        return f"**All {shown.total} cines are labelled.** Close the page and stop the server."
    item = shown.item
    lines = [
        f"**Cine {shown.position} of {shown.total}** · id `{item.cine}` · {item.frames} frames"
    ]
    if shown.part is not None and shown.parts > 1:
        lines.append(
            f"Part {shown.part_index} of {shown.parts}: {_frames_text(shown.part, shown.fps)}"
        )
    if shown.problem:
        lines.append(f"**Problem:** {shown.problem} — press **s** to skip it or label it by eye.")
    return "  \n".join(lines)


def suggestion_markdown(shown: Shown) -> str:
    if shown.item is None or not shown.suggested:
        return ""
    name = VIEW_NAMES.get(shown.suggested, "not one of the 8 views")
    conf = f" (confidence {shown.confidence:.2f})" if shown.confidence is not None else ""
    return f"Model suggests **{shown.suggested}** — {name}{conf}. **Enter** accepts."


def progress_markdown(done: int, total: int, store: LabelStore) -> str:
    counts = ", ".join(f"{k} {n}" for k, n in store.counts().items()) or "none yet"
    return f"{done} of {total} cines done · parts labelled: {counts}"


def render(
    shown: Shown, store: LabelStore, done: int, message: str, *, send_video: bool
) -> list[Any]:
    """The values of :meth:`AnnotatePage.outputs` for ``shown``; the video is sent only when
    ``send_video`` (a new cine), so a cine playing on keeps playing."""
    video: Any = (str(shown.video) if shown.video else None) if send_video else gr.skip()
    # an "unknown" suggestion is the annotator's OTHER (what Enter records)
    suggested = OTHER if shown.suggested == UNKNOWN else shown.suggested
    buttons = [
        gr.update(variant="primary" if c == suggested else "stop" if c == SKIP else "secondary")
        for c in CHOICES
    ]
    progress = progress_markdown(done, shown.total, store)
    part = f"{shown.part[0] / shown.fps:.4f},{shown.part[1] / shown.fps:.4f}" if shown.part else ""
    return [video, status_markdown(shown), suggestion_markdown(shown), progress, message,
            shown.token, part, *buttons]  # fmt: skip
