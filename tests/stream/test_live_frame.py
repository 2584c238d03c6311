"""The live per-frame step shared by ``run_live`` and the demo's webcam, the live run's settings,
and the observer ``classify_file`` hands each decoded frame to (the demo's playback)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from echostream.stream.classify import classify_file
from echostream.stream.defaults import load_stream_config
from echostream.stream.frame import Frame, Region, SourceInfo
from echostream.stream.live_frame import LiveLabeller, draw_result
from echostream.stream.overlay import ScreenMask
from echostream.stream.pipeline import Engine, FrameResult
from echostream.stream.pipeline_live import LiveSettings
from echostream.stream.temporal import TemporalChain

LABELS = ("A", "B", "C")


def counting_engine() -> SimpleNamespace:
    """An engine whose model says "B" and counts the frames it preprocessed."""
    seen: list[int] = []

    def pre(frame: Frame) -> np.ndarray:
        seen.append(frame.index)
        return np.zeros((1, 4, 4), np.float32)

    probs = np.array([[0.2, 0.7, 0.1]], np.float32)
    backend = SimpleNamespace(predict=lambda batch: probs)
    return SimpleNamespace(labels=LABELS, preprocessor=pre, backend=backend, seen=seen)


def frame(index: int, h: int = 48, w: int = 64, region: Region | None = None) -> Frame:
    info = SourceInfo("mem", "live", None, 30.0, w, h, region=region)
    return Frame(np.full((h, w, 3), 200, np.uint8), index, index / 30, info)


def test_labeller_runs_the_chain_times_each_stage_and_estimates_the_rate() -> None:
    engine = counting_engine()
    labeller = LiveLabeller(engine, TemporalChain.from_config({"stages": ["ema"]}))
    first = labeller.label(frame(0), t_read=0.0)
    assert labeller.fps is None  # one frame: no rate yet
    assert first.pred.label(LABELS) == "B" and first.frame is not None
    assert set(first.times) == {"decode", "preprocess", "inference", "temporal"}
    a_second_ago = time.perf_counter() - 1.0
    ready = labeller.label(frame(1), a_second_ago, x=np.zeros((1, 4, 4)), pre_ms=1.5)
    assert labeller.fps is not None and labeller.fps > 0
    assert ready.times["preprocess"] == 1.5 and engine.seen == [0]  # given x: not redone
    assert 1000 <= ready.latency_ms < 60_000  # counted from when the frame was read


def test_draw_result_keeps_only_the_ultrasound_region() -> None:
    engine = counting_engine()
    labeller = LiveLabeller(engine, TemporalChain())
    region = Region(160, 120, 320, 240, origin="dicom")
    result = labeller.label(frame(0, h=240, w=320, region=region), 0.0)
    rgb = draw_result(result, LABELS, fps=25.0, screen=ScreenMask())
    assert rgb.shape == (240, 320, 3)
    assert rgb[200:, 120:159].max() == 0 and rgb[200:, 161:].min() > 0  # left of x=160: blank
    kept = draw_result(result, LABELS, fps=25.0)  # no mask: the whole screen
    assert kept[200:, 120:159].min() > 0
    with pytest.raises(ValueError, match="frame"):
        draw_result(FrameResult(0, 0.0, result.probs, result.pred), LABELS, fps=None)


def test_live_settings_from_the_stream_settings() -> None:
    cfg = load_stream_config()
    live = cfg["live"]
    s = LiveSettings.from_config(cfg, pace=True, max_frames=7)
    assert s.pace and s.max_frames == 7 and s.duration_s is None
    assert s.queue_size == live["queue_size"] and s.sink_queue_size == live["sink_queue_size"]
    assert s.preprocess_in_reader == live["preprocess_in_reader"]
    assert s.sink_nice == live["sink_nice"] and s.overlay == cfg["overlay"]
    odd = {"live": {"queue_size": "2", "switch_interval_ms": 1, "sink_nice": "3"}}
    s = LiveSettings.from_config(odd)
    assert (s.queue_size, s.switch_interval_ms, s.sink_nice) == (2, 1.0, 3)
    assert LiveSettings.from_config({}) == LiveSettings()


class Recorder:
    """A :class:`~echostream.stream.classify.FrameObserver` that keeps what it was shown."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.info: SourceInfo | None = None
        self.shapes: list[tuple[int, ...]] = []
        self.results: list[FrameResult] = []
        self.fail_at = fail_at

    def opened(self, info: SourceInfo) -> None:
        assert not self.shapes  # before any frame
        self.info = info

    def labelled(self, result: FrameResult) -> None:
        assert result.frame is not None
        if result.index == self.fail_at:
            raise RuntimeError("playback writer broke")
        self.shapes.append(result.frame.pixels.shape)
        self.results.append(result)


def test_classify_file_shows_each_whole_frame_to_its_observer(
    stream_model: Path, small_cine: Path
) -> None:
    engine = Engine.load(stream_model)
    smoother = load_stream_config()["smoother"]
    seen = Recorder()
    result = classify_file(engine, small_cine, smoother, name="cine", observer=seen)
    assert result.status == "ok" and result.frames == 24 == len(seen.results)
    assert seen.info is not None and seen.info.kind == "dicom"
    assert set(seen.shapes) == {(120, 160, 3)}  # full resolution, colour: ready to draw on
    assert [r.index for r in seen.results] == list(range(24))
    assert all(r.frame is None for r in seen.results)  # pixels not kept after the call
    plain = classify_file(engine, small_cine, smoother, name="cine")
    assert plain.view is not None and plain.frames == 24  # the model's reduced decode
    broken = classify_file(engine, small_cine, smoother, name="cine", observer=Recorder(3))
    assert broken.status == "error" and broken.error is not None
    assert broken.error.startswith("cine: ") and "\n" not in broken.error
