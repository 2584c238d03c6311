"""Thin adapters from the demo to the stream pipeline: a whole cine, and one live frame at a time.

Nothing here re-implements the pipeline: a cine runs through
:func:`echostream.stream.classify.classify_file` (``echostream classify``'s function and result),
its playback drawn from the same decode (:class:`~echostream.demo.playback.CinePlayback`);
webcam frames take ``echostream live``'s per-frame step (:mod:`echostream.stream.live_frame`).

Example::

    engine = load_engine("models/zoo/realecho_v4.onnx", "auto")
    result, playback = classify_cine("a4c.dcm", engine, smoother_config(alpha=0.3),
                                     out_dir="/tmp/demo")
    print(result.view, result.vote_share, playback.video)
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from echostream.stream.classify import CineResult, classify_file
from echostream.stream.frame import Frame, SourceInfo
from echostream.stream.live_frame import LiveLabeller, draw_result
from echostream.stream.overlay import ScreenMask
from echostream.stream.pipeline import Engine, FrameResult
from echostream.stream.temporal import chain_for

from .playback import CinePlayback

#: Temporal stages the demo's sliders drive, in the order they run.
SMOOTHER_STAGES = ("ema", "vote", "hysteresis", "uncertain")

_ENGINES: dict[tuple[str, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def load_engine(model: str | Path, backend: str = "auto") -> Engine:
    """A loaded :class:`Engine`, cached per (model file, backend) for the server's lifetime."""
    key = (str(Path(model).resolve()), backend)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = Engine.load(model, backend=backend)
        return _ENGINES[key]


def smoother_config(
    *,
    stages: Sequence[str] = ("ema", "vote", "uncertain"),
    alpha: float = 0.5,
    window_s: float = 0.7,
    margin: float = 0.1,
    patience: int = 3,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """A ``smoother:`` section (see ``stream/stream.yaml``) from the demo's sliders.

    The vote window is in seconds (frames at each cine's own rate, see
    :meth:`~echostream.stream.temporal.TemporalChain.from_config`).

    >>> smoother_config(stages=["vote", "ema"], window_s=0.5)["stages"]
    ['ema', 'vote']
    """
    unknown = set(stages) - set(SMOOTHER_STAGES)
    if unknown:
        raise ValueError(f"unknown smoother stage(s): {', '.join(sorted(unknown))}")
    return {
        "stages": [s for s in SMOOTHER_STAGES if s in stages],
        "ema": {"alpha": float(alpha)},
        "vote": {"window_s": float(window_s)},
        "hysteresis": {"margin": float(margin), "patience": int(patience)},
        "uncertain": {"threshold": float(threshold)},
    }


def classify_cine(
    path: str | Path,
    engine: Engine,
    smoother: dict[str, Any],
    *,
    out_dir: str | Path | None = None,
    keep_screen: bool = False,
    name: str | None = None,
) -> tuple[CineResult, CinePlayback]:
    """Classify the cine at ``path`` with ``echostream classify``'s function (its result, named
    ``name``), and (with ``out_dir``) draw its annotated playback there under a random name
    from the same decode, at full resolution (only the ultrasound region shows unless
    ``keep_screen``).

    Never raises for a bad file: its one-line reason is the result's ``error``; a file that
    failed or was not classified has no playback.
    """
    out = Path(out_dir) / f"{secrets.token_hex(12)}.mp4" if out_dir else None  # never the upload's
    playback = CinePlayback(engine.labels, out, keep_screen=keep_screen)
    try:
        result = classify_file(
            engine, path, smoother, workers=2, batch_size=32, name=name, observer=playback
        )
    finally:
        playback.close()
    if result.status != "ok":
        playback.discard()
    return result, playback


class LiveClassifier:
    """Classify frames handed in one at a time (the browser webcam), batch 1, and draw them,
    with the step ``echostream live`` takes per frame
    (:class:`~echostream.stream.live_frame.LiveLabeller`,
    :func:`~echostream.stream.live_frame.draw_result`); ``fps`` and latency go on the overlay.
    The frames have no ultrasound region: the screen mask estimates one from the first frames
    (blank until then) unless ``keep_screen``.
    """

    def __init__(
        self,
        engine: Engine,
        smoother: dict[str, Any],
        name: str = "webcam",
        keep_screen: bool = False,
    ) -> None:
        self.engine = engine
        self.smoother = smoother
        self.labeller = LiveLabeller(engine, chain_for(engine, smoother))
        self.name = name
        self.screen = ScreenMask(keep_screen)
        self.index = 0
        self._t_first: float | None = None
        self.last: FrameResult | None = None

    def step(self, rgb: np.ndarray) -> np.ndarray:
        """The annotated ``(H, W, 3)`` uint8 frame for one ``(H, W, 3)`` uint8 input frame."""
        t_in = time.perf_counter()
        if self._t_first is None:
            self._t_first = t_in
        pixels = np.ascontiguousarray(rgb[..., :3] if rgb.ndim == 3 else rgb, dtype=np.uint8)
        h, w = pixels.shape[:2]
        info = SourceInfo(name=self.name, kind="live", n_frames=None, fps=0.0, width=w, height=h)
        frame = Frame(pixels, self.index, t_in - self._t_first, info)
        self.last = self.labeller.label(frame, t_in)
        self.index += 1
        return draw_result(self.last, self.engine.labels, fps=self.labeller.fps, screen=self.screen)


class LatestFrameSink:
    """A :class:`~echostream.stream.pipeline_live.FrameSink` that keeps only the newest annotated
    frame, for a page that polls it (the live tab's stream URL)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rgb: np.ndarray | None = None
        self._seq = 0
        self.closed = False

    def write(self, rgb: np.ndarray, result: Any = None) -> None:
        with self._cond:
            self._rgb, self._seq = rgb, self._seq + 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float = 1.0) -> tuple[np.ndarray | None, int]:
        """The newest frame once one newer than ``seen`` arrives (or the old one on timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seen or self.closed, timeout=timeout)
            return self._rgb, self._seq

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
