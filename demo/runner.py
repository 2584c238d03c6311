"""Thin adapters from the demo to the stream pipeline: a whole cine, and one live frame at a time.

Nothing here re-implements the pipeline: a cine runs through
:func:`echostream.stream.pipeline.run_file` (the same fast path as ``echostream classify``), its
verdict comes from :func:`echostream.stream.verdict.cine_verdict`, and the playback is drawn with
:func:`echostream.stream.overlay.draw_overlay` and written by
:class:`echostream.stream.sinks.VideoSink`, as ``echostream live --out`` does.

Example::

    engine = load_engine("models/zoo/realecho_v2.onnx", "auto")
    result = classify_cine("a4c.dcm", engine, smoother_config(alpha=0.3), out_dir="/tmp/demo")
    print(result.verdict.label, result.video)
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echostream.stream.frame import Frame, SourceInfo
from echostream.stream.overlay import NOTHING, ScreenMask, region_box
from echostream.stream.pipeline import STAGE_NAMES, Engine, percentiles, run_file
from echostream.stream.temporal import Prediction, TemporalChain
from echostream.stream.verdict import CineVerdict, cine_verdict

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
    """A ``smoother:`` section (see ``configs/stream.yaml``) from the demo's sliders.

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


@dataclass
class CineResult:
    """Everything the upload tab shows for one cine.

    ``raw`` and ``smoothed`` are ``(N, K)`` per-frame probabilities (before and after the
    temporal chain), ``shown`` the label the overlay showed on each frame ("uncertain" where
    gated), ``stage_ms`` the per-frame milliseconds of each stage. ``verdict`` is None when the
    acquisition is not B-mode (``note`` says why).
    """

    info: SourceInfo
    labels: tuple[str, ...]
    times: np.ndarray  # (N,) seconds
    raw: np.ndarray  # (N, K)
    smoothed: np.ndarray  # (N, K)
    shown: list[str]
    verdict: CineVerdict | None
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    wall_s: float = 0.0
    video: Path | None = None
    model: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    def timings(self) -> dict[str, dict[str, float] | None]:
        """p50/p95/… milliseconds per frame for each stage that ran."""
        return {k: percentiles(v) for k, v in self.stage_ms.items() if v}


def _not_classified(info: SourceInfo) -> str | None:
    """Why a cine is not classified (Doppler, M-mode: as ``echostream classify``), or None."""
    from echostream.stream.classify import NOT_CLASSIFIED

    if info.acquisition not in NOT_CLASSIFIED:
        return None
    return f"{info.acquisition.value} acquisition: not a view of the heart; not classified"


def classify_cine(
    path: str | Path,
    engine: Engine,
    smoother: dict[str, Any],
    *,
    out_dir: str | Path | None = None,
    batch_size: int = 32,
    workers: int = 2,
    overlay_top_k: int = 3,
    keep_screen: bool = False,
) -> CineResult:
    """Classify the cine at ``path`` and (with ``out_dir``) write its annotated playback MP4
    there under a random name (only the ultrasound region shows unless ``keep_screen``).

    Raises :class:`~echostream.stream.errors.SourceError` (one line) for unreadable files.
    """
    from echostream.stream.sources import open_source

    t0 = time.perf_counter()
    with open_source(path, **engine.source_options(path, workers=workers)) as src:
        info = src.info
        chain = TemporalChain.from_config(smoother, fps=info.fps)
        note = _not_classified(info)
        if note is not None:
            return CineResult(
                info, engine.labels, np.zeros(0), *_empty(engine), [], None, note=note
            )
        results = list(run_file(engine, src, chain, batch_size=batch_size))
    wall = time.perf_counter() - t0
    if not results:
        raise ValueError("no frames")  # the caller names the file as the page shows it
    preds = [r.pred for r in results]
    raw = np.stack([r.probs for r in results])  # (N, K)
    stage_ms: dict[str, list[float]] = {s: [] for s in STAGE_NAMES}
    for r in results:
        for k, v in r.times.items():
            stage_ms.setdefault(k, []).append(v)
    result = CineResult(
        info=info,
        labels=engine.labels,
        times=np.array([r.timestamp for r in results]),
        raw=raw,
        smoothed=np.stack([p.probs for p in preds]),
        shown=[p.label(engine.labels) for p in preds],
        verdict=cine_verdict(raw, engine.labels),
        stage_ms=stage_ms,
        wall_s=wall,
        model=engine.describe(),
    )
    if out_dir is not None:
        out = Path(out_dir) / f"{secrets.token_hex(12)}.mp4"  # never the upload's name
        result.video = annotate_video(
            path, preds, engine.labels, out, result, overlay_top_k, keep_screen=keep_screen
        )
    return result


def _empty(engine: Engine) -> tuple[np.ndarray, np.ndarray]:
    k = len(engine.labels)
    return np.zeros((0, k)), np.zeros((0, k))


def annotate_video(
    path: str | Path,
    preds: Sequence[Prediction],
    labels: Sequence[str],
    out: str | Path,
    result: CineResult | None = None,
    top_k: int = 3,
    *,
    keep_screen: bool = False,
) -> Path:
    """Full-resolution frames of ``path`` with each frame's label drawn on, as an H.264 MP4
    at ``out``; everything outside the ultrasound region is blanked unless ``keep_screen``
    (:class:`~echostream.stream.overlay.ScreenMask`).

    The frames are decoded again at full resolution in colour (the classification pass decoded
    only what the model needs); overlay milliseconds go into ``result.stage_ms["overlay"]``.
    """
    from echostream.stream.overlay import OverlayStyle, draw_overlay
    from echostream.stream.sinks import VideoSink
    from echostream.stream.sources import open_source

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    style = OverlayStyle(top_k=top_k)
    mask = ScreenMask(keep_screen, frames=max(1, min(8, len(preds))))
    with open_source(path) as src:
        fps = src.info.fps
        with VideoSink(out, fps, name=out.name) as sink:
            for frame, pred in zip(src, preds, strict=False):
                t0 = time.perf_counter()
                box = mask.box(frame)
                rgb = draw_overlay(
                    frame.pixels,
                    pred,
                    labels,
                    fps=fps,
                    style=style,
                    visible=box,
                    crop_box=region_box(frame) if box in (None, NOTHING) else box,
                )
                if result is not None:
                    result.stage_ms.setdefault("overlay", []).append(
                        (time.perf_counter() - t0) * 1e3
                    )
                sink.write(rgb)
    return out


class LiveClassifier:
    """Classify frames handed in one at a time (the browser webcam), batch 1, and draw them.

    Uses the engine's preprocessing and backend and a temporal chain, exactly as
    :func:`~echostream.stream.pipeline_live.run_live` does per frame; ``fps`` and latency go on the
    overlay. The frames have no ultrasound region: the screen mask estimates one from the
    first frames (blank until then) unless ``keep_screen``.
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
        self.chain = TemporalChain.from_config(smoother)
        self.name = name
        self.screen = ScreenMask(keep_screen)
        self.index = 0
        self._t_first: float | None = None
        self._t_prev: float | None = None
        self.fps: float | None = None
        self.last: Prediction | None = None

    def step(self, rgb: np.ndarray) -> np.ndarray:
        """The annotated ``(H, W, 3)`` uint8 frame for one ``(H, W, 3)`` uint8 input frame."""
        from echostream.stream.overlay import draw_overlay

        t_in = time.perf_counter()
        if self._t_first is None:
            self._t_first = t_in
        pixels = np.ascontiguousarray(rgb[..., :3] if rgb.ndim == 3 else rgb, dtype=np.uint8)
        h, w = pixels.shape[:2]
        info = SourceInfo(name=self.name, kind="live", n_frames=None, fps=0.0, width=w, height=h)
        frame = Frame(pixels, self.index, t_in - self._t_first, info)
        x = self.engine.preprocessor(frame)  # (C, H, W)
        probs = self.engine.backend.predict(x[None])[0]  # (K,)
        self.last = self.chain.update(probs)
        t_out = time.perf_counter()
        if self._t_prev is not None and t_out > self._t_prev:
            inst = 1.0 / (t_out - self._t_prev)
            self.fps = inst if self.fps is None else 0.9 * self.fps + 0.1 * inst
        self._t_prev = t_out
        self.index += 1
        return draw_overlay(
            pixels, self.last, self.engine.labels, fps=self.fps,
            latency_ms=(t_out - t_in) * 1e3, visible=self.screen.box(frame),
        )  # fmt: skip


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
