"""The demo and ``echostream annotate`` apply the model file's unknown-view rule: with a
9-output model (an OTHER class) or an 8-view model with a threshold in its metadata, a cine or
frame that is none of the views shows ``unknown`` (never ``OTHER``, never a view) in the upload's
verdict and per-frame labels, the webcam's and a stream URL's labels, and annotate's suggestion
(which **Enter** records as the annotator's ``OTHER``).

The models and cines are ``tests/stream/test_unknown.py``'s: bright frames are A4C, dark frames
are OTHER (9 outputs) or nobody's (8 outputs, max_softmax ≈ 0.14).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from echostream.demo import app as demo_app
from echostream.demo.handlers import DemoState, RunSettings, run_live_url, run_upload, run_webcam
from echostream.demo.runner import classify_cine, load_engine, smoother_config
from echostream.stream.frame import Frame, SourceInfo
from echostream.stream.sources.base import FrameSource
from echostream.stream.temporal import UnknownGate
from echostream.stream.unknown import OTHER, UNKNOWN
from echostream.stream.views import VIEWS

pytestmark = pytest.mark.timeout(180)
THRESHOLD = {"score": "max_softmax", "threshold": 0.5, "method": "test"}
SETTINGS = dict(stages=["ema", "vote", "uncertain"], alpha=0.5, window_s=0.7, margin=0.1,
                patience=3, threshold=0.5)  # fmt: skip


def _unknown_tests():
    """tests/stream/test_unknown.py, for its brightness models and cines (one place)."""
    path = Path(__file__).parents[1] / "stream" / "test_unknown.py"
    spec = importlib.util.spec_from_file_location("_stream_test_unknown", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


UT = _unknown_tests()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """``nine`` (OTHER class) and ``gated`` (8 views, threshold 0.5 in the metadata)."""
    root = tmp_path_factory.mktemp("unknown_demo_models")
    return {
        "nine": UT.brightness_model(root / "nine.onnx", UT.NINE),
        "gated": UT.brightness_model(root / "gated.onnx", VIEWS, unknown=THRESHOLD),
    }


@pytest.fixture(scope="module")
def dark(tmp_path_factory) -> Path:
    return UT.cine(tmp_path_factory.mktemp("unknown_demo_cines") / "dark.dcm", [25] * 20)


def state_for(model: Path, out: Path) -> DemoState:
    return DemoState(models=demo_app.model_choices([model]), out_dir=out, max_upload_mb=5.0,
                     smoother=smoother_config())  # fmt: skip


def settings(state: DemoState) -> RunSettings:
    return RunSettings(next(iter(state.models)), "onnxruntime", **SETTINGS)


@pytest.mark.parametrize("name", ["nine", "gated"])
def test_upload_verdict_and_per_frame_labels_say_unknown(models, dark, tmp_path, name) -> None:
    engine = load_engine(models[name], "onnxruntime")
    result, playback = classify_cine(dark, engine, smoother_config(), out_dir=tmp_path)
    assert result.status == "ok" and result.view == UNKNOWN and result.reason
    assert len(playback.shown) == 20 and set(playback.shown) == {UNKNOWN}
    state = state_for(models[name], tmp_path / "page")
    status, video, _figure, verdict, _facts, _timings = run_upload(
        state, str(dark), None, settings(state)
    )
    assert status.startswith("**Done:**") and video is not None
    assert f"Verdict: {UNKNOWN} — not one of the model's views" in verdict
    assert result.reason in verdict and "closest view" in verdict  # why, and the closest view
    assert f"Verdict: {OTHER}" not in verdict and f"closest view {OTHER}" not in verdict


@pytest.mark.parametrize("name", ["nine", "gated"])
def test_webcam_frames_say_unknown(models, tmp_path, name) -> None:
    state = state_for(models[name], tmp_path)
    session = None
    for _ in range(4):
        frame = np.full((48, 64, 3), 25, np.uint8)
        out, session, status = run_webcam(state, frame, session, settings(state))
        assert out is not None, status
        assert isinstance(session.labeller.chain.stages[0], UnknownGate)
        assert session.last.pred.label(session.engine.labels) == UNKNOWN
    bright = np.full((48, 64, 3), 220, np.uint8)
    for _ in range(20):  # the smoother lets the known view back in
        run_webcam(state, bright, session, settings(state))
    assert session is not None and session.last is not None
    assert session.last.pred.label(session.engine.labels) == "A4C"


class DarkStream(FrameSource):
    """A live source of ``n`` dark frames (what a stream URL opens to, without a network)."""

    def __init__(self, n: int = 15) -> None:
        self.info = SourceInfo("stream", "live", None, 25.0, 64, 48)
        self.n = n

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n):
            yield Frame(np.full((48, 64), 25, np.uint8), i, i / 25.0, self.info)


@pytest.mark.parametrize("name", ["nine", "gated"])
def test_stream_url_labels_say_unknown(models, tmp_path, monkeypatch, name) -> None:
    from echostream.stream import pipeline_live, sources

    labels: list[str] = []
    chains = []
    real = pipeline_live.run_live

    def spy(engine, source, chain, *args, **kwargs):
        chains.append(chain)
        kwargs["on_result"] = lambda r: labels.append(r.pred.label(engine.labels))
        return real(engine, source, chain, *args, **kwargs)

    monkeypatch.setattr(sources, "open_source", lambda url, **kw: DarkStream())
    monkeypatch.setattr(pipeline_live, "run_live", spy)
    state = state_for(models[name], tmp_path)
    out = list(run_live_url(state, "udp://127.0.0.1:5004", settings(state), max_seconds=20))
    assert out and out[-1][1].startswith("Stopped"), out[-1][1]
    assert isinstance(chains[0].stages[0], UnknownGate)
    assert labels and set(labels) == {UNKNOWN}


@pytest.mark.parametrize("name", ["nine", "gated"])
def test_annotate_suggests_unknown_and_enter_records_other(models, tmp_path, name) -> None:
    """A cine of 10 bright then 10 dark frames: the whole cine's suggestion, then each part's
    after a split, come from the model's rule; accepting ``unknown`` labels the part OTHER."""
    from echostream.demo.annotate_setup import start_session

    root = tmp_path / "cines"
    UT.cine(root / "half.dcm", [220] * 10 + [25] * 10)
    UT.cine(root / "dark.dcm", [25] * 20)
    session = start_session(root, model=models[name], annotator="alice", progress=False)
    try:
        suggested = {q.file: q.suggested for q in session.queue}
        assert suggested["dark.dcm"] == UNKNOWN
        while (shown := session.view()).item is not None and shown.item.file != "half.dcm":
            assert shown.suggested == UNKNOWN
            row = session.label("accept", token=shown.token)
            assert (row.view, row.suggested) == (OTHER, UNKNOWN)
        shown = session.view()
        assert shown.item is not None and shown.item.file == "half.dcm"
        assert session.split(0.4, shown.token) == 10  # 0.4 s at 25 fps
        first = session.view()
        assert first.part == (0, 10) and first.suggested == "A4C"
        session.label("accept", token=first.token)
        second = session.view()
        assert second.part == (10, 20) and second.suggested == UNKNOWN
        from echostream.demo.annotate_page import render
        from echostream.demo.annotate_store import CHOICES

        buttons = render(second, session.store, 0, "", send_video=False)[-len(CHOICES) :]
        primary = [c for c, b in zip(CHOICES, buttons, strict=True) if b["variant"] == "primary"]
        assert primary == [OTHER]  # the button Enter stands for is the highlighted one
        row = session.label("accept", token=second.token)
        assert (row.view, row.suggested) == (OTHER, UNKNOWN)
    finally:
        session.close()
        session.files.clear()
