"""Every stream-side caller that builds a chain or a verdict for a model applies the model
file's unknown-view rule (``chain_for`` / ``verdict_for``): with a 9-output model (an OTHER
class) or an 8-view model with a threshold in its metadata, a frame that is none of the views
shows ``unknown``, never ``OTHER`` and never a view; an 8-view model without metadata behaves
exactly as before.

The models are the brightness models of ``test_unknown.py``: bright frames are A4C, dark frames
are OTHER (9 outputs) or nobody's (8 outputs, max_softmax ≈ 0.14).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from echostream.stream.defaults import load_stream_config
from echostream.stream.pipeline import Engine, FrameResult
from echostream.stream.temporal import TemporalChain, UnknownGate, chain_for
from echostream.stream.unknown import OTHER, UNKNOWN, UnknownRule, rule_for
from echostream.stream.verdict import cine_verdict, verdict_for
from echostream.stream.views import VIEWS

from .test_unknown import NINE, brightness_model, cine

pytestmark = pytest.mark.timeout(180)
THRESHOLD = {"score": "max_softmax", "threshold": 0.5, "method": "test"}


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> dict[str, Engine]:
    """``nine`` (OTHER class), ``gated`` (8 views, threshold 0.5), ``plain`` (8 views, none)."""
    root = tmp_path_factory.mktemp("unknown_callers_models")
    paths = {
        "nine": brightness_model(root / "nine.onnx", NINE),
        "gated": brightness_model(root / "gated.onnx", VIEWS, unknown=THRESHOLD),
        "plain": brightness_model(root / "plain.onnx", VIEWS),
    }
    return {k: Engine.load(p, "onnxruntime", threads=1) for k, p in paths.items()}


@pytest.fixture(scope="module")
def dark(tmp_path_factory) -> Path:
    """A 40-frame cine (1.6 s at 25 fps) no model here calls a view."""
    return cine(tmp_path_factory.mktemp("unknown_callers_cines") / "dark.dcm", [25] * 40)


def model_probs(engine: Engine, brightness: list[float]) -> np.ndarray:
    """``(N, K)`` probabilities of ``engine`` for frames of the given mean brightness (0–1)."""
    x = np.stack([np.full((1, 6, 8), b, np.float32) for b in brightness])
    return np.asarray(engine.backend.predict(x))


SMOOTHER = load_stream_config()["smoother"]


@pytest.mark.parametrize("name", ["nine", "gated"])
def test_chain_for_and_verdict_for_apply_the_model_files_rule(engines, name) -> None:
    engine = engines[name]
    chain = chain_for(engine, SMOOTHER, fps=25.0)
    assert isinstance(chain.stages[0], UnknownGate)
    assert rule_for(engine) == UnknownRule.from_info(engine.info)
    dark = model_probs(engine, [0.1] * 20)
    shown = [p.label(engine.labels) for p in chain.run(dark)]
    assert set(shown) == {UNKNOWN}
    verdict = verdict_for(dark, engine)
    assert verdict.label == UNKNOWN and verdict.reason and verdict.unknown_share == 1.0
    assert {c.label for c in verdict.top2} <= set(VIEWS)  # the best known views, never OTHER
    bright = model_probs(engine, [0.85] * 20)
    assert {p.label(engine.labels) for p in chain.run(bright)} == {"A4C"}
    assert verdict_for(bright, engine).label == "A4C"


def test_gated_model_threshold_is_lost_without_its_rule(engines) -> None:
    """What the callers did before: a chain and a verdict built from the labels alone give the
    8-view model's dark frames a view; the model's own rule makes them unknown."""
    engine = engines["gated"]
    dark = model_probs(engine, [0.1] * 10)
    assert cine_verdict(dark, engine.labels).label in VIEWS
    assert verdict_for(dark, engine).label == UNKNOWN


def test_a_model_without_a_rule_gets_the_chain_and_verdict_it_had(engines) -> None:
    engine = engines["plain"]
    ours = chain_for(engine, SMOOTHER, fps=25.0)
    before = TemporalChain.from_config(SMOOTHER, fps=25.0)
    assert ours.describe() == before.describe()
    rng = np.random.default_rng(0)
    probs = model_probs(engine, list(rng.uniform(0.0, 1.0, 40)))
    got, want = ours.run(probs), before.run(probs)
    assert [(p.index, p.uncertain, p.unknown) for p in got] == [
        (p.index, p.uncertain, p.unknown) for p in want
    ]
    assert asdict(verdict_for(probs, engine)) == asdict(cine_verdict(probs, engine.labels))


@pytest.mark.parametrize("name", ["nine", "gated"])
def test_live_path_shows_unknown_never_other(engines, dark, monkeypatch, name) -> None:
    """``echostream live`` (run_live_view): the chain it hands the live pipeline starts with the
    model's gate, and every frame's label and status line say unknown."""
    from echostream.stream import live
    from echostream.stream.live import print_label, run_live_view

    chains = []
    real = live.run_live

    def spy(engine, source, chain, *args, **kwargs):
        chains.append(chain)
        return real(engine, source, chain, *args, **kwargs)

    monkeypatch.setattr(live, "run_live", spy)
    engine = engines[name]
    results: list[FrameResult] = []
    run_live_view(str(dark), engine, load_stream_config(), pace=False, on_result=results.append)
    assert isinstance(chains[0].stages[0], UnknownGate)
    assert results  # unpaced: the live queue may drop frames, never all of them
    assert {r.pred.label(engine.labels) for r in results} == {UNKNOWN}
    lines = [print_label(r, engine.labels) for r in results]
    assert all(UNKNOWN in line and OTHER not in line for line in lines)


def test_bench_runs_give_their_chains_the_models_gate(engines, dark, monkeypatch) -> None:
    """``bench stream``'s timed runs (the classify pipeline and the live path) run the model's
    own chain, as ``classify`` and ``live`` do."""
    from echostream.stream import bench_runs, pipeline_live

    engine = engines["nine"]
    chains = []
    real_file, real_live = bench_runs.run_file, pipeline_live.run_live

    def spy_file(engine, src, chain, **kwargs):
        chains.append(chain)
        return real_file(engine, src, chain, **kwargs)

    def spy_live(engine, src, chain, *args, **kwargs):
        chains.append(chain)
        return real_live(engine, src, chain, *args, **kwargs)

    monkeypatch.setattr(bench_runs, "run_file", spy_file)
    monkeypatch.setattr(pipeline_live, "run_live", spy_live)
    cfg = load_stream_config()
    run = bench_runs.pipeline_file(engine, str(dark), engine.source_options(str(dark)), cfg)
    assert run["frames"] == 40
    assert bench_runs.live_run(engine, str(dark), cfg, pace=False)["frames_labelled"] > 0
    assert len(chains) == 2 and all(isinstance(c.stages[0], UnknownGate) for c in chains)


def test_steady_metrics_show_unknown_not_the_other_column(engines, dark) -> None:
    from echostream.stream.bench_smoothing import steady_metrics

    out = steady_metrics(engines["nine"], str(dark), load_stream_config())
    shown = {name: s["labels_shown"] for name, s in out["settings"].items()}
    assert shown and all(labels == [UNKNOWN] for labels in shown.values()), shown
    plain = steady_metrics(engines["plain"], str(dark), load_stream_config())
    assert all(set(s["labels_shown"]) <= set(VIEWS) for s in plain["settings"].values())


def test_smoothing_metrics_score_unknown_stretches_against_other_truth(tmp_path) -> None:
    """A sweep that leaves the views: its OTHER stretch is truth ``unknown``; with the model's
    rule raw argmax agrees on every frame and settles there; without it the OTHER column is
    shown and never matches."""
    from echostream.stream.bench_smoothing import UNKNOWN_CODE, pooled_smoothing_metrics, read_truth

    labels = ["A", "B", OTHER]
    sidecar = tmp_path / "sweep.labels.json"
    sidecar.write_text(json.dumps({"labels": ["A"] * 30 + [None] * 2 + [OTHER] * 30, "fps": 30}))
    truth, fps = read_truth(tmp_path / "sweep.dcm", labels)
    assert truth == [0] * 30 + [-1] * 2 + [UNKNOWN_CODE] * 30 and fps == 30
    probs = np.array([[0.8, 0.15, 0.05]] * 32 + [[0.1, 0.2, 0.7]] * 30)
    rule = UnknownRule.from_labels(labels)
    m = pooled_smoothing_metrics([(probs, truth, 30.0)], {}, unknown=rule)["raw"]
    assert m["agreement_on_truth_frames"] == 1.0
    assert m["time_to_stable"]["changes"] == 1 and m["time_to_stable"]["never"] == 0
    assert m["chain"] == "unknown(OTHER class)"
    bare = pooled_smoothing_metrics([(probs, truth, 30.0)], {})["raw"]
    assert bare["agreement_on_truth_frames"] == 0.5 and bare["time_to_stable"]["never"] == 1
