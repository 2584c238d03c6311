"""The ``unknown`` outcome: a model's OTHER class and its metadata threshold reject frames and
cines (classify JSON and CSV, per frame and per cine), the temporal stages and the verdict
treat ``unknown`` as a label, the overlay says so, and nothing is rejected without a rule.

The models are tiny ONNX graphs made here whose logits follow the frame's mean brightness:
bright frames are A4C, dark frames are OTHER (9 outputs) or no view in particular (8 outputs).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from echostream.stream import cli_stream
from echostream.stream.temporal import (
    EMA,
    Hysteresis,
    Prediction,
    RollingVote,
    TemporalChain,
    UncertainGate,
    UnknownGate,
)
from echostream.stream.unknown import OTHER, UNKNOWN, UnknownRule
from echostream.stream.verdict import cine_verdict
from echostream.stream.views import VIEWS

pytestmark = pytest.mark.timeout(180)
NINE = (*VIEWS, OTHER)
A4C = VIEWS.index("A4C")


def brightness_model(path: Path, labels: tuple[str, ...], unknown: dict | None = None) -> Path:
    """A self-describing ONNX file: logit(A4C) = 12·m − 4, logit(OTHER) = 4 − 12·m, others 0,
    where m is the input's mean (0–1: the frame's brightness)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from echostream.stream.model_file import ModelInfo, weights_sha256, write_metadata

    k, pixels = len(labels), 6 * 8
    w = np.zeros((pixels, k), np.float32)
    b = np.zeros(k, np.float32)
    w[:, A4C], b[A4C] = 12.0 / pixels, -4.0
    if OTHER in labels:
        w[:, labels.index(OTHER)], b[labels.index(OTHER)] = -12.0 / pixels, 4.0
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"]),
            helper.make_node("MatMul", ["flat", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["logits"]),
        ],
        "brightness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 6, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    info = ModelInfo(
        model_name="brightness",
        labels=labels,
        input_size=(1, 6, 8),
        mean=(0.0,),
        std=(1.0,),
        interpolation="area",
        crop="full",
        weights_sha256=weights_sha256(model),
        provenance={"data": "test fixture", "simulated_data": True},
        unknown=unknown or {},
    )
    write_metadata(model, info)
    onnx.save(model, str(path))
    return path


def cine(path: Path, levels: list[int], seed: int = 0) -> Path:
    """A DICOM cine, one frame per gray ``level`` (plus a little noise)."""
    from echostream.stream.dicom_writer import write_cine

    rng = np.random.default_rng(seed)
    frames = [
        np.clip(level + rng.normal(0, 4, (48, 64)), 0, 255).astype(np.uint8) for level in levels
    ]
    return write_cine(path, frames, fps=25.0, encoding="mono")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """bright.dcm (A4C), dark.dcm (not a view), mostly_dark.dcm (7 dark, 3 bright)."""
    root = tmp_path_factory.mktemp("unknown_study")
    cine(root / "bright.dcm", [210] * 10)
    cine(root / "dark.dcm", [25] * 10)
    cine(root / "mostly_dark.dcm", [25] * 7 + [210] * 3)
    return root


def classify(*args: str | Path):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_stream.register(app, bench)
    return CliRunner().invoke(app, ["classify", *(str(a) for a in args)])


def by_name(report: dict) -> dict[str, dict]:
    return {Path(c["path"]).name: c for c in report["cines"]}


def test_other_class_makes_frames_and_cines_unknown_in_json(study, tmp_path) -> None:
    model = brightness_model(tmp_path / "nine.onnx", NINE)
    res = classify(study, "--model", model, "--json", "--per-frame", "--precision", "fp32")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    cines = by_name(report)
    assert cines["bright.dcm"]["view"] == "A4C" and cines["bright.dcm"]["reason"] is None
    dark = cines["dark.dcm"]
    assert dark["view"] == UNKNOWN and dark["status"] == "ok"
    assert dark["reason"].startswith("10 of 10 frames are not one of the views (OTHER class")
    assert len(dark["top2"]) == 2 and {c["label"] for c in dark["top2"]} <= set(VIEWS)
    assert {f["label"] for f in dark["per_frame"]} == {UNKNOWN}
    assert all(f["raw"] == UNKNOWN and f["reason"] for f in dark["per_frame"])
    mixed = cines["mostly_dark.dcm"]
    assert mixed["view"] == UNKNOWN and mixed["vote_share"] == pytest.approx(0.7)
    assert mixed["top2"][0]["label"] == "A4C" and mixed["top2"][0]["vote_share"] == 0.3
    assert report["model"]["unknown_rule"] == "OTHER class"


def test_unknown_in_csv_rows_and_per_frame_csv(study, tmp_path) -> None:
    model = brightness_model(tmp_path / "nine.onnx", NINE)
    res = classify(study, "--model", model, "--csv", "--precision", "fp32")
    assert res.exit_code == 0, res.output
    rows = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(res.stdout))}
    assert rows["dark.dcm"]["view"] == UNKNOWN and "OTHER class" in rows["dark.dcm"]["reason"]
    assert rows["bright.dcm"]["view"] == "A4C" and rows["bright.dcm"]["reason"] == ""
    res = classify(study / "dark.dcm", "--model", model, "--csv", "--per-frame",
                   "--precision", "fp32")  # fmt: skip
    assert res.exit_code == 0, res.output
    frames = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(frames) == 10 and {f["label"] for f in frames} == {UNKNOWN}
    assert all(f["reason"].startswith("OTHER class") for f in frames)


def test_metadata_threshold_is_applied_and_absent_without_metadata(study, tmp_path) -> None:
    """An 8-view model: dark frames are nobody's (max_softmax ≈ 0.14). Without metadata they
    still get a view; with a threshold of 0.5 in the file they are unknown."""
    plain = brightness_model(tmp_path / "eight.onnx", VIEWS)
    res = classify(study / "dark.dcm", "--model", plain, "--json", "--precision", "fp32")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["cines"][0]["view"] in VIEWS and report["cines"][0]["reason"] is None
    assert report["model"]["unknown_rule"] == "none"
    entry = {"score": "max_softmax", "threshold": 0.5, "method": "test"}
    gated = brightness_model(tmp_path / "eight_gated.onnx", VIEWS, unknown=entry)
    res = classify(study, "--model", gated, "--json", "--per-frame", "--precision", "fp32")
    assert res.exit_code == 0, res.output
    cines = by_name(json.loads(res.stdout))
    assert cines["bright.dcm"]["view"] == "A4C"
    dark = cines["dark.dcm"]
    assert dark["view"] == UNKNOWN and "max_softmax under the threshold on 10" in dark["reason"]
    assert dark["per_frame"][0]["reason"].startswith("max_softmax 0.1")
    assert dark["per_frame"][0]["reason"].endswith("< 0.50")


def test_a_score_this_runtime_cannot_apply_is_a_clear_model_error(tmp_path) -> None:
    from echostream.stream.model_file import ModelFileError, ModelInfo

    path = brightness_model(tmp_path / "m.onnx", VIEWS)
    import onnx

    model = onnx.load(str(path))
    for p in model.metadata_props:
        if p.key == "echostream.unknown":
            p.value = json.dumps({"score": "energy", "threshold": -3.0})
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError, match=r"m\.onnx: unknown-view score 'energy'"):
        ModelInfo.from_onnx(path)


def test_verdict_mostly_unknown_cine_keeps_known_top2() -> None:
    rule = UnknownRule(num_classes=3, threshold=0.6)
    probs = np.array([[0.5, 0.3, 0.2]] * 6 + [[0.1, 0.9, 0.0]] * 4)  # 6 under 0.6, 4 B
    v = cine_verdict(probs, ["A", "B", "C"], unknown=rule)
    assert v.label == UNKNOWN and v.vote_share == pytest.approx(0.6) and v.unknown_share == 0.6
    assert [c.label for c in v.top2] == ["B", "A"] and v.top2[0].vote_share == pytest.approx(0.4)
    assert (
        v.reason == "6 of 10 frames are not one of the views (max_softmax under the threshold on 6)"
    )
    # the same frames with no rule: a view, as before
    plain = cine_verdict(probs, ["A", "B", "C"])
    assert plain.label == "A" and plain.unknown_share == 0.0 and plain.reason is None
    # a minority of unknown frames does not make the cine unknown
    few = cine_verdict(probs[3:], ["A", "B", "C"], unknown=rule)
    assert few.label == "B" and few.unknown_share == pytest.approx(3 / 7)


def test_temporal_stages_carry_unknown_as_a_label() -> None:
    rule = UnknownRule(num_classes=3, other=2)
    known, other = np.array([0.8, 0.15, 0.05]), np.array([0.1, 0.2, 0.7])
    chain = TemporalChain.from_config(
        {"stages": ["ema", "vote", "uncertain"], "ema": {"alpha": 0.5}, "vote": {"window": 5}},
        unknown=rule,
    )
    assert isinstance(chain.stages[0], UnknownGate) and "unknown(OTHER class)" in chain.describe()
    preds = chain.run(np.array([known] * 5 + [other] * 8))
    assert [p.label(["A", "B", "C"]) for p in preds[:5]] == ["A"] * 5
    assert preds[-1].label(["A", "B", "C"]) == UNKNOWN and preds[-1].index != 2  # never OTHER
    assert not preds[-1].uncertain  # unknown is not "uncertain"
    switched = next(i for i, p in enumerate(preds) if p.unknown)
    assert 5 < switched < 13  # smoothed: not on the first OTHER frame
    # without a rule nothing is unknown
    assert not any(p.unknown for p in TemporalChain.from_config({"stages": ["ema"]}).run(
        np.array([other] * 3)))  # fmt: skip


def test_each_stage_alone() -> None:
    gate = UnknownGate(UnknownRule(num_classes=2, threshold=0.7))
    low = gate.update(np.array([0.6, 0.4]))
    assert low.unknown and low.reason == "max_softmax 0.60 < 0.70"
    vote = RollingVote(window=3)
    out = [vote.update(gate.update(np.array(p))) for p in ([0.9, 0.1], [0.6, 0.4], [0.6, 0.4])]
    assert [o.unknown for o in out] == [False, True, True]  # 1-1 tie: unknown wins
    assert out[2].reason == "max_softmax 0.60 < 0.70" and out[2].vote_share == pytest.approx(2 / 3)
    held = Hysteresis(margin=0.1, patience=3)
    held.update(Prediction.from_probs(np.array([0.9, 0.1])))
    assert held.update(low).unknown  # passes at once
    ema = EMA(alpha=0.5)
    assert not ema.update(gate.update(np.array([0.9, 0.1]))).unknown
    assert ema.update(low).unknown  # mark average 0.5: unknown
    gated = UncertainGate(threshold=0.9).update(low)
    assert gated.unknown and not gated.uncertain


def test_overlay_and_live_labeller_show_unknown_view(tmp_path) -> None:
    from echostream.stream.frame import Frame, SourceInfo
    from echostream.stream.live_frame import LiveLabeller, draw_result
    from echostream.stream.overlay import headline
    from echostream.stream.pipeline import Engine

    engine = Engine.load(brightness_model(tmp_path / "nine.onnx", NINE), "onnxruntime", 1)
    labeller = LiveLabeller(engine, TemporalChain())  # a chain built without the model's rule
    dark = np.full((48, 64), 25, np.uint8)
    info = SourceInfo(name="test", kind="live", n_frames=None, fps=25.0, width=64, height=48)
    result = labeller.label(Frame(dark, 0, 0.0, info), t_read=0.0)
    assert result.pred.unknown and result.pred.label(engine.labels) == UNKNOWN
    assert headline(result.pred, engine.labels) == "unknown view"
    rgb = draw_result(result, engine.labels, fps=30.0)
    assert rgb.shape == (48, 64, 3)
    bright = labeller.label(Frame(np.full((48, 64), 220, np.uint8), 1, 0.04, info), t_read=0.0)
    assert headline(bright.pred, engine.labels).startswith("A4C")
