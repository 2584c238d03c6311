"""The Mahalanobis unknown-view gate in the graph (:mod:`echostream.train.unknown_gate`): on a
small hand-built ONNX classifier, the gated file's OTHER output wins exactly where the numpy
distance passes the threshold, the view logits are untouched, and stripping the gate restores
the original graph; the runtime rule names the gate."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from echostream.stream.unknown import OTHER, UnknownRule, check_unknown_entry  # noqa: E402
from echostream.stream.verdict import cine_verdict  # noqa: E402
from echostream.train.unknown_gate import (  # noqa: E402
    add_gate,
    fit_class_gaussians,
    fit_gate_threshold,
    has_gate,
    min_mahalanobis,
    strip_gate,
)

D, C = 6, 3


def tiny_classifier(opset: int) -> onnx.ModelProto:
    """x (N, D) → Relu → features → Gemm → logits (N, C)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 1, (C, D)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(C, np.float32), "b")
    nodes = [
        helper.make_node("Relu", ["x"], ["features"], name="relu"),
        helper.make_node("Gemm", ["features", "w", "b"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", C])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.astype(np.float32)})[0]


@pytest.mark.parametrize("opset", [13, 18])
def test_other_wins_exactly_where_the_distance_passes_the_threshold(opset: int) -> None:
    rng = np.random.default_rng(1)
    centres = rng.uniform(1, 4, (C, D))
    labels = np.repeat(np.arange(C), 300)
    train = np.abs(centres[labels] + rng.normal(0, 0.3, (len(labels), D)))
    means, precision = fit_class_gaussians(train, labels)
    known = np.abs(centres[rng.integers(0, C, 400)] + rng.normal(0, 0.3, (400, D)))
    odd = rng.uniform(0, 6, (400, D))  # mostly far from every class
    x = np.r_[known, odd]
    dist = min_mahalanobis(x, means, precision)
    fit = fit_gate_threshold(dist[:400], dist[400:], target=0.05, fit_frames=len(train))
    assert fit.false_rejection <= 0.05 and fit.true_rejection > 0.5 and fit.auroc > 0.9

    plain = tiny_classifier(opset)
    gated = tiny_classifier(opset)
    add_gate(gated, means, precision, fit.threshold, fit.sharpness)
    onnx.checker.check_model(gated)
    out, before = run(gated, x), run(plain, x)
    assert out.shape == (len(x), C + 1)
    np.testing.assert_allclose(out[:, :C], before, rtol=1e-6)  # the views' logits untouched
    is_other = out.argmax(1) == C
    over = dist > fit.threshold
    close = np.abs(dist - fit.threshold) < 1e-3 * fit.threshold  # float32 vs float64
    assert over.any() and (~over).any()
    assert np.array_equal(is_other[~close], over[~close])
    far_under = dist < 0.5 * fit.threshold  # far under the threshold OTHER has no weight
    p = np.exp(out - out.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert p[far_under, C].max() < 1e-6

    strip_gate(gated)
    assert not has_gate(gated)
    assert gated.SerializeToString() == plain.SerializeToString()


def test_a_gate_is_built_once() -> None:
    model = tiny_classifier(18)
    means, precision = np.zeros((C, D)), np.eye(D)
    add_gate(model, means, precision, 10.0, 1.0)
    with pytest.raises(ValueError, match="already holds"):
        add_gate(model, means, precision, 10.0, 1.0)


def test_the_runtime_rule_names_the_gate() -> None:
    entry = {"score": "mahalanobis", "threshold": 412.5}
    rule = UnknownRule.from_labels(["PLAX", "A4C", OTHER], entry)
    assert rule.other == 2 and rule.threshold is None and rule.gate == 412.5
    assert rule.describe() == "Mahalanobis distance over 412.5"
    reasons = rule.reasons(np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]))
    assert reasons == ["far from every view (Mahalanobis distance over 412.5)", None]
    cine = cine_verdict(np.array([[0.1, 0.2, 0.7]] * 3 + [[0.6, 0.3, 0.1]]), ["PLAX", "A4C", OTHER],
                        rule)  # fmt: skip
    assert cine.label == "unknown"
    assert cine.reason == "3 of 4 frames are not one of the views (Mahalanobis gate on 3)"
    with pytest.raises(ValueError, match="needs the OTHER output"):
        UnknownRule.from_labels(["PLAX", "A4C"], entry)
    with pytest.raises(ValueError, match="positive"):
        check_unknown_entry({"score": "mahalanobis", "threshold": -1.0})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_unknown_entry({"score": "max_softmax", "threshold": 3.0})


def test_docstring_examples_run() -> None:
    import doctest

    from echostream.train import unknown_gate

    assert doctest.testmod(unknown_gate).failed == 0
