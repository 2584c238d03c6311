"""One cine's annotated playback, drawn while :func:`~echostream.stream.classify.classify_file`
labels it (one decode), and the per-frame record the page's timeline and timings show.

Example::

    playback = CinePlayback(engine.labels, Path("/tmp/demo/3f2a.mp4"))
    try:
        result = classify_file(engine, "a4c.dcm", smoother, observer=playback)
    finally:
        playback.close()
    print(result.view, playback.video, playback.timings()["overlay"])
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from echostream.stream.frame import SourceInfo
from echostream.stream.overlay import NOTHING, OverlayStyle, ScreenMask, draw_overlay, region_box
from echostream.stream.pipeline import STAGE_NAMES, FrameResult, percentiles
from echostream.stream.sinks import VideoSink


class CinePlayback:
    """A :class:`~echostream.stream.classify.FrameObserver` for one cine.

    Keeps each frame's result (without its pixels) and, with ``out``, writes the annotated
    playback there as an H.264 MP4: every frame at full resolution with its label panel and the
    crop box the model sees drawn on, everything outside the ultrasound region blanked unless
    ``keep_screen`` (:class:`~echostream.stream.overlay.ScreenMask`).
    """

    def __init__(
        self,
        labels: Sequence[str],
        out: Path | None = None,
        *,
        keep_screen: bool = False,
        top_k: int = 3,
    ) -> None:
        self.labels = tuple(labels)
        self.out = out
        self.keep_screen = keep_screen
        self.style = OverlayStyle(top_k=top_k)
        self.info: SourceInfo | None = None
        self.results: list[FrameResult] = []
        self.overlay_ms: list[float] = []
        self._sink: VideoSink | None = None
        self._mask: ScreenMask | None = None

    @property
    def video(self) -> Path | None:
        """The playback file, once a frame was written to it."""
        return self.out if self._sink is not None and self.out is not None else None

    def opened(self, info: SourceInfo) -> None:
        self.info = info

    def labelled(self, result: FrameResult) -> None:
        self.results.append(result)
        frame = result.frame
        if self.out is None or frame is None:
            return
        if self._sink is None or self._mask is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._sink = VideoSink(self.out, frame.info.fps, name=self.out.name)
            self._mask = ScreenMask(
                self.keep_screen, frames=max(1, min(8, frame.info.n_frames or 8))
            )
        t0 = time.perf_counter()
        box = self._mask.box(frame)
        rgb = draw_overlay(
            frame.pixels, result.pred, self.labels, fps=frame.info.fps, style=self.style,
            visible=box, crop_box=region_box(frame) if box in (None, NOTHING) else box,
        )  # fmt: skip
        self.overlay_ms.append((time.perf_counter() - t0) * 1e3)
        self._sink.write(rgb)

    def close(self) -> None:
        """Finish the playback file."""
        if self._sink is not None:
            self._sink.close()

    def discard(self) -> None:
        """Delete the playback file (a cine that failed half-way shows none)."""
        if self.out is not None:
            self.out.unlink(missing_ok=True)
        self._sink = None

    # -- what the page shows -----------------------------------------------------------------

    @property
    def times(self) -> np.ndarray:
        """``(N,)`` seconds of each labelled frame."""
        return np.array([r.timestamp for r in self.results])

    @property
    def raw(self) -> np.ndarray:
        """``(N, K)`` probabilities before the temporal chain."""
        return self._stack([r.probs for r in self.results])

    @property
    def smoothed(self) -> np.ndarray:
        """``(N, K)`` probabilities after the temporal chain."""
        return self._stack([r.pred.probs for r in self.results])

    @property
    def shown(self) -> list[str]:
        """The label the overlay showed on each frame ("uncertain" where gated)."""
        return [r.pred.label(self.labels) for r in self.results]

    def timings(self) -> dict[str, dict[str, float] | None]:
        """p50/p95/… milliseconds per frame for each stage that ran, overlay included."""
        stage_ms: dict[str, list[float]] = {s: [] for s in STAGE_NAMES}
        for r in self.results:
            for k, v in r.times.items():
                stage_ms.setdefault(k, []).append(v)
        stage_ms["overlay"] = self.overlay_ms
        return {k: percentiles(v) for k, v in stage_ms.items() if v}

    def _stack(self, rows: list[np.ndarray]) -> np.ndarray:
        return np.stack(rows) if rows else np.zeros((0, len(self.labels)))
