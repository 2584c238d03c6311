"""One live frame, the same wherever frames arrive one at a time (``echostream live``, the
demo's webcam): preprocess → backend (batch 1) → temporal chain, the stream's frame rate as
labels come out, and the annotated frame.

Example::

    labeller = LiveLabeller(engine, TemporalChain.from_config(cfg["smoother"]))
    result = labeller.label(frame, t_read=time.perf_counter())
    rgb = draw_result(result, engine.labels, fps=labeller.fps, screen=ScreenMask())
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .frame import Frame
from .pipeline import Engine, FrameResult, frame_result
from .temporal import Stage, TemporalChain, UnknownGate
from .unknown import rule_for

if TYPE_CHECKING:
    from .overlay import OverlayStyle, ScreenMask


class LiveLabeller:
    """Labels a stream's frames one at a time with ``engine`` and ``chain``; :attr:`fps` is the
    rate labels come out at (an exponential average of the instantaneous rate: 0.9 old, 0.1
    new; None until two frames were labelled). The model file's unknown-view rule
    (:mod:`~echostream.stream.unknown`) marks each frame before ``chain`` when ``chain`` does not
    start with it already, so a live stream shows "unknown view" as a file's verdict would."""

    def __init__(self, engine: Engine, chain: Stage) -> None:
        self.engine = engine
        self.chain = chain
        self._gate = _missing_gate(engine, chain)
        self.fps: float | None = None
        self._t_prev: float | None = None

    def label(
        self,
        frame: Frame,
        t_read: float,
        *,
        decode_ms: float = 0.0,
        x: np.ndarray | None = None,
        pre_ms: float = 0.0,
    ) -> FrameResult:
        """The result for ``frame`` (a :class:`~echostream.stream.frame.Frame`, kept on the
        result for drawing), read at ``t_read`` (``time.perf_counter()``; the latency counts
        from it). ``x``: its preprocessed input when already made (``pre_ms`` took)."""
        t0 = time.perf_counter()
        if x is None:
            x = self.engine.preprocessor(frame)  # (C, H, W)
            pre_ms = (time.perf_counter() - t0) * 1e3
        t1 = time.perf_counter()
        probs = self.engine.backend.predict(x[None])[0]  # (K,)
        t2 = time.perf_counter()
        pred = self.chain.update(probs if self._gate is None else self._gate.update(probs))
        t3 = time.perf_counter()
        self._tick(t3)
        stage_ms = (decode_ms, pre_ms, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return frame_result(frame, frame, probs, pred, stage_ms, (t3 - t_read) * 1e3)

    def _tick(self, t: float) -> None:
        if self._t_prev is not None and t > self._t_prev:
            inst = 1.0 / (t - self._t_prev)
            self.fps = inst if self.fps is None else 0.9 * self.fps + 0.1 * inst
        self._t_prev = t


def _missing_gate(engine: Engine, chain: Stage) -> UnknownGate | None:
    """The gate of ``engine``'s unknown-view rule, unless the rule rejects nothing or ``chain``
    has its gate first already."""
    info = getattr(engine, "info", None)
    if info is None:
        return None
    rule = rule_for(info)
    stages = chain.stages if isinstance(chain, TemporalChain) else [chain]
    if not rule.active or (stages and isinstance(stages[0], UnknownGate)):
        return None
    return UnknownGate(rule)


def draw_result(
    result: FrameResult,
    labels: Sequence[str],
    *,
    fps: float | None,
    screen: ScreenMask | None = None,
    style: OverlayStyle | None = None,
) -> np.ndarray:
    """``result``'s frame as annotated RGB: the label panel with ``fps`` and its latency, only
    ``screen``'s visible box kept (a :class:`~echostream.stream.overlay.ScreenMask`; None: the
    whole frame). ``style``: an :class:`~echostream.stream.overlay.OverlayStyle`."""
    from .overlay import draw_overlay

    frame = result.frame
    if frame is None:
        raise ValueError("draw_result needs the result's frame (FrameResult.frame)")
    box = None if screen is None else screen.box(frame)
    return draw_overlay(
        frame.pixels, result.pred, labels, fps=fps, latency_ms=result.latency_ms,
        style=style, visible=box,
    )  # fmt: skip
