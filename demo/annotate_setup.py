"""Start an annotation: which labels file, whose, and the session over the cines still to label.

Example::

    session = start_session(Path("cines"), annotator="alice", model=default_model_path())
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from echostream.stream.defaults import load_stream_config

from .annotate_queue import build_queue, find_cines
from .annotate_session import AnnotateSession
from .annotate_store import LabelStore
from .files import DemoFiles
from .runner import load_engine

LABELS_FILE = "labels.csv"  # what `echostream import` reads from a folder by default
_ANNOTATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


def check_annotator(name: str | None) -> str:
    """``name`` when it is a usable annotator name (letters, digits, ``_``, ``-``; ≤ 40), else a
    one-line ``ValueError``; "" for none."""
    if not name:
        return ""
    if not _ANNOTATOR.fullmatch(name):
        raise ValueError(
            f"annotator {name!r}: use letters, digits, '_' or '-' (at most 40), e.g. alice"
        )
    return name


def labels_path(root: Path, annotator: str = "", labels: Path | None = None) -> Path:
    """``labels`` when given, else ``ROOT/labels.csv``, or ``ROOT/labels.NAME.csv`` for an
    annotator (each annotator writes a file of their own)."""
    if labels is not None:
        return labels
    return root / (f"labels.{annotator}.csv" if annotator else LABELS_FILE)


def start_session(
    root: Path,
    *,
    model: Path,
    annotator: str = "",
    labels: Path | None = None,
    backend: str = "auto",
    progress: bool = True,
) -> AnnotateSession:
    """Open (or resume) the labels file, classify the cines not done yet and queue them.

    Raises ``FileNotFoundError``/``ValueError`` with one line (no folder, no cines, a labels file
    that is not one)."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    path = labels_path(root, check_annotator(annotator), labels)
    folder = path.parent if path.parent.is_dir() else root
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{path}: cannot be written here; pass --labels FILE (a folder you own)")
    store = LabelStore.open(path, annotator)
    cines = find_cines(root)
    if not cines:
        raise ValueError(f"{root}: no cines found (DICOM, MP4/AVI or image files)")
    frames_of = {r.file: r.frames for r in store.rows}

    def done(file: str) -> bool:
        return file in frames_of and store.is_done(file, frames_of[file])

    engine = load_engine(model, backend)
    smoother = load_stream_config()["smoother"]
    queue = build_queue(root, engine, smoother, done=done, progress=progress, cines=cines)
    return AnnotateSession(
        store, queue, engine, smoother, DemoFiles.in_gradio_cache(), root=root,
        done_before=sum(done(f) for f, _ in cines),
    )  # fmt: skip
