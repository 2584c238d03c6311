"""The Mahalanobis unknown-view gate, built into the model file's graph.

A frame is "not one of the views" when its penultimate-layer features (the input of the final
Gemm) lie far from every view's training features: the smallest Mahalanobis distance to the
class means (one shared covariance, Lee et al. 2018) exceeds a threshold. The gate is compiled
into the ONNX graph as a 9th output column named ``OTHER`` whose logit is the best view's logit
plus ``sharpness · (distance − threshold)``: OTHER wins the argmax exactly when the distance
passes the threshold (any temperature keeps that order), and far under it its probability is
nil. Every backend and every stage then applies it as the runtime's ``OTHER`` class rule
(:mod:`echostream.stream.unknown`); the file's ``echostream.unknown`` entry records the score,
the threshold and what they did where they were fitted.

The distance is computed in-graph from initializers: with ``P = L Lᵀ`` (the precision's
Cholesky factor), ``d_c = ‖f L − μ_c L‖²``, so the graph holds ``L`` (D×D) and the means times
``L`` (C×D).

>>> rng = np.random.default_rng(0)
>>> feats = np.r_[rng.normal(0, 1, (200, 4)), rng.normal(5, 1, (200, 4))]
>>> means, prec = fit_class_gaussians(feats, np.r_[np.zeros(200, int), np.ones(200, int)])
>>> d = min_mahalanobis(np.array([[0.0, 0, 0, 0], [20.0, -20, 20, -20]]), means, prec)
>>> bool(d[0] < 10 < d[1])
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from echostream.stream.unknown import OTHER

from .evaluate_onnx import PreparedSplit, SplitRun
from .unknown_fit import UnknownFit, check_fit_inputs

if TYPE_CHECKING:
    import onnx

#: Prefix of the gate's node, tensor and initializer names in the graph.
GATE = "echostream_gate"
#: The view logits' tensor once the gate is in (the graph's output is the gate's concat).
VIEW_LOGITS = f"{GATE}/view_logits"
#: Logit units per standard deviation of the known frames' distance (how sharp the gate is).
SHARPNESS_PER_STD = 20.0
#: Shrinkage of the shared covariance towards a scaled identity (a stable inverse).
SHRINKAGE = 1e-3


def fit_class_gaussians(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class means ``(C, D)`` and the shared precision matrix ``(D, D)`` of ``features`` with
    class indices ``labels`` (0..C-1, every class present)."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    missing = [k for k in range(int(y.max()) + 1) if not (y == k).any()]
    if missing:
        raise ValueError(f"no frames of class(es) {missing} to fit their means on")
    means = np.stack([f[y == k].mean(0) for k in range(int(y.max()) + 1)])
    centred = f - means[y]
    cov = centred.T @ centred / len(f)
    cov += SHRINKAGE * np.trace(cov) / len(cov) * np.eye(len(cov))
    return means, np.linalg.inv(cov)


def min_mahalanobis(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """The squared Mahalanobis distance of each row of ``features`` to its nearest class mean."""
    diff = np.asarray(features, np.float64)[:, None, :] - means[None]
    return np.einsum("nkd,de,nke->nk", diff, precision, diff).min(1)


def penultimate(model: onnx.ModelProto, path: str | Path = "<model>") -> str:
    """The name of the tensor feeding the layer that makes the output (a Gemm or MatMul)."""
    out = model.graph.output[0].name
    last = [n for n in model.graph.node if out in n.output]
    if not last or last[0].op_type not in ("Gemm", "MatMul"):
        raise ValueError(f"{Path(path).name}: its output is not made by a Gemm/MatMul layer")
    return last[0].input[0]


def has_gate(model: onnx.ModelProto) -> bool:
    """Whether ``model`` holds a gate built by :func:`add_gate`."""
    return any(n.name.startswith(GATE) for n in model.graph.node)


def strip_gate(model: onnx.ModelProto) -> None:
    """Remove the gate from ``model`` in place (the view logits become the output again); the
    ``OTHER`` label and ``echostream.unknown`` entry are the caller's to drop."""
    if not has_gate(model):
        return
    g = model.graph
    keep = [n for n in g.node if not n.name.startswith(GATE)]
    out = g.output[0].name
    for node in keep:
        node.output[:] = [out if o == VIEW_LOGITS else o for o in node.output]
    del g.node[:]
    g.node.extend(keep)
    inits = [i for i in g.initializer if not i.name.startswith(GATE)]
    del g.initializer[:]
    g.initializer.extend(inits)
    dims = g.output[0].type.tensor_type.shape.dim
    if len(dims) == 2 and dims[1].dim_value:  # add_gate set it to the views + 1
        _set_output_classes(model, dims[1].dim_value - 1)


def _set_output_classes(model: onnx.ModelProto, classes: int) -> None:
    dims = model.graph.output[0].type.tensor_type.shape.dim
    if len(dims) == 2:
        dims[1].ClearField("dim_param")
        dims[1].dim_value = classes


def add_gate(
    model: onnx.ModelProto,
    means: np.ndarray,
    precision: np.ndarray,
    threshold: float,
    sharpness: float,
    path: str | Path = "<model>",
) -> None:
    """Append the gate to ``model`` in place: its output gains an ``OTHER`` column (see the
    module docstring). ``model`` must not hold one already (:func:`strip_gate`)."""
    from onnx import helper, numpy_helper

    if has_gate(model):
        raise ValueError(f"{Path(path).name}: it already holds an unknown-view gate")
    g = model.graph
    feats, out = penultimate(model, path), g.output[0].name
    num_classes = int(means.shape[0])
    for node in g.node:
        node.output[:] = [VIEW_LOGITS if o == out else o for o in node.output]
    chol = np.linalg.cholesky(precision)  # precision = chol @ chol.T
    consts = {
        "L": chol.astype(np.float32),
        "means_L": (means @ chol)[None].astype(np.float32),  # (1, C, D)
        "threshold": np.array(threshold, np.float32),
        "sharpness": np.array(sharpness, np.float32),
        "axis1": np.array([1], np.int64),
        "axis2": np.array([2], np.int64),
    }
    g.initializer.extend(numpy_helper.from_array(v, _n(k)) for k, v in consts.items())
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    g.node.extend([
        _node("MatMul", [feats, _n("L")], "z"),
        _node("Unsqueeze", [_n("z"), _n("axis1")], "z1") if opset >= 13
        else _node("Unsqueeze", [_n("z")], "z1", axes=[1]),
        _node("Sub", [_n("z1"), _n("means_L")], "diff"),
        _reduce("ReduceSumSquare", _n("diff"), 2, "per_class", opset, keepdims=0),
        _reduce("ReduceMin", _n("per_class"), 1, "distance", opset, keepdims=1),
        _reduce("ReduceMax", VIEW_LOGITS, 1, "best", opset, keepdims=1),
        _node("Sub", [_n("distance"), _n("threshold")], "over"),
        _node("Mul", [_n("over"), _n("sharpness")], "push"),
        _node("Add", [_n("best"), _n("push")], "other"),
        helper.make_node("Concat", [VIEW_LOGITS, _n("other")], [out], name=_n("concat"), axis=1),
    ])  # fmt: skip
    _set_output_classes(model, num_classes + 1)


def _n(name: str) -> str:
    """A gate tensor's, node's or initializer's name."""
    return f"{GATE}/{name}"


def _node(op: str, inputs: list[str], output: str, **attrs: Any) -> onnx.NodeProto:
    """A gate node named after its one output."""
    from onnx import helper

    return helper.make_node(op, inputs, [_n(output)], name=_n(output), **attrs)


def _reduce(op: str, x: str, axis: int, out: str, opset: int, *, keepdims: int) -> onnx.NodeProto:
    """A reduction over one axis: the axes an input from opset 18, an attribute before."""
    if opset >= 18:
        return _node(op, [x, _n(f"axis{axis}")], out, keepdims=keepdims)
    return _node(op, [x], out, axes=[axis], keepdims=keepdims)


@dataclass(frozen=True)
class GateFit(UnknownFit):
    """A fitted distance threshold (frames over it are rejected), the gate's sharpness, and
    what it does on the frames it was fitted on."""

    threshold: float
    sharpness: float = SHARPNESS_PER_STD
    fit_frames: int = 0  # known-view frames the class means came from

    def metadata(self, *, split: str, simulated_data: bool, means_from: str = "") -> dict[str, Any]:
        """The ``echostream.unknown`` entry of a gated model file."""
        entry = super().metadata(split=split, simulated_data=simulated_data)
        entry.update(
            score="mahalanobis",
            threshold=round(self.threshold, 4),
            sharpness=round(self.sharpness, 6),
            method=f"in-graph OTHER output: smallest Mahalanobis distance of the penultimate "
            f"features to the view means, over the lowest threshold rejecting ≤ "
            f"{self.target:.1%} of known-view frames",
            means_fitted_on={"data": means_from, "known_frames": self.fit_frames},
        )
        return entry


def fit_gate_threshold(
    known: np.ndarray, other: np.ndarray, *, target: float, fit_frames: int
) -> GateFit:
    """The lowest distance threshold that rejects (distance above it) at most ``target`` of the
    ``known`` frames' distances; AUROC and rates on ``known`` vs ``other``.

    >>> fit = fit_gate_threshold(np.arange(100.0), np.full(10, 500.0), target=0.02, fit_frames=1)
    >>> fit.threshold, fit.false_rejection, fit.true_rejection
    (97.0, 0.02, 1.0)
    """
    from sklearn.metrics import roc_auc_score

    check_fit_inputs(len(known), len(other), target)
    allowed = int(np.floor(target * len(known) + 1e-9))
    threshold = float(np.sort(known)[::-1][min(allowed, len(known) - 1)])
    truth = np.r_[np.zeros(len(known)), np.ones(len(other))]
    return GateFit(
        threshold=threshold,
        sharpness=SHARPNESS_PER_STD / max(float(np.std(known)), 1e-6),
        target=target,
        auroc=float(roc_auc_score(truth, np.r_[known, other])),
        false_rejection=float((known > threshold).mean()),
        true_rejection=float((other > threshold).mean()),
        known_frames=len(known),
        other_frames=len(other),
        fit_frames=fit_frames,
    )


@dataclass(frozen=True)
class Embedded:
    """Penultimate features of a split's frames: ``labels`` are view indices in the model's
    label order, -1 for frames labelled ``OTHER``."""

    features: np.ndarray
    logits: np.ndarray  # the view logits, before any temperature (the gate left out)
    labels: np.ndarray
    run: SplitRun  # the split's predictions (its probabilities, the model file's info)

    @property
    def simulated(self) -> bool:
        return bool(self.run.prep.manifest.simulated)

    @property
    def known(self) -> np.ndarray:
        return self.labels >= 0


def embed_split(model_file: str | Path, data_dir: str | Path, *, split: str = "all",
                progress: bool = True) -> Embedded:  # fmt: skip
    """The penultimate features of every known-view and ``OTHER`` frame of ``split``, with the
    file's probabilities (its gate, if any, applied) from the same single pass."""
    from echostream.stream.backends.base import probabilities
    from echostream.stream.model_file import load_onnx

    from .evaluate_onnx import prepare_split

    ready = prepare_split(model_file, data_dir, split=split, progress=progress)
    out, logits, features = _run_with_features(load_onnx(model_file), ready, model_file,
                                               progress=progress)  # fmt: skip
    run = ready.with_probs(probabilities(out, ready.info), "onnxruntime")
    other = run.info.labels.index(OTHER) if OTHER in run.info.labels else -2
    extra = np.full(len(ready.other_rows), -1)
    labels = np.r_[np.where(run.labels == other, -1, run.labels), extra]
    return Embedded(features, logits, labels.astype(np.int64), run)


def feature_tensor(model: onnx.ModelProto, path: str | Path = "<model>") -> str:
    """The penultimate tensor's name, whether or not ``model`` holds a gate."""
    if has_gate(model):
        return next(n for n in model.graph.node if n.name == _n("z")).input[0]
    return penultimate(model, path)


def _run_with_features(model: onnx.ModelProto, ready: PreparedSplit, path: str | Path, *,
                       progress: bool, batch: int = 64) -> list[np.ndarray]:  # fmt: skip
    """One ONNX Runtime pass of ``model`` over the split's frames: its raw output, the view
    logits (before the gate) and the penultimate features."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from echostream.stream.preprocess import Preprocessor

    from .frame_store import _progress

    out = model.graph.output[0].name
    names = [out, VIEW_LOGITS if has_gate(model) else out, feature_tensor(model, path)]
    for name in set(names) - {out}:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    pre, rows = Preprocessor.from_model_info(ready.info), ready.store_rows
    inp, got = sess.get_inputs()[0].name, []
    with _progress(progress) as bar:
        task = bar.add_task("predict + features (onnx)", total=len(rows))
        for i in range(0, len(rows), batch):
            x = np.stack([pre.from_pixels(np.asarray(ready.prep.store.frames[r]))
                          for r in rows[i : i + batch]])  # fmt: skip
            got.append([a.reshape(len(x), -1) for a in sess.run(names, {inp: x})])
            bar.advance(task, len(x))
    return [np.concatenate([g[k] for g in got]).astype(np.float32) for k in range(len(names))]


def write_gate(model_file: str | Path, means: np.ndarray, precision: np.ndarray,
               fit: GateFit, entry: dict[str, Any]) -> None:  # fmt: skip
    """Build the gate into ``model_file`` (replacing one it holds): the ``OTHER`` output
    column, its label, the ``echostream.unknown`` entry and the new weights hash; the file is
    replaced atomically."""
    import onnx

    from echostream.stream.atomic import atomic_path
    from echostream.stream.model_file import ModelInfo, load_onnx, weights_sha256, write_metadata

    path = Path(model_file)
    model = load_onnx(path)
    info = ModelInfo.from_model_proto(model, path=path)
    views = base_labels(model, info.labels, path)
    strip_gate(model)
    add_gate(model, means, precision, fit.threshold, fit.sharpness, path)
    info = info.with_(labels=(*views, OTHER), unknown=entry, weights_sha256=weights_sha256(model))
    write_metadata(model, info)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def base_labels(
    model: onnx.ModelProto, labels: tuple[str, ...], path: str | Path
) -> tuple[str, ...]:
    """The view labels under the gate: ``labels`` without the gate's ``OTHER``; a model trained
    with its own ``OTHER`` class cannot take a gate."""
    if has_gate(model):
        return tuple(lab for lab in labels if lab != OTHER)
    if OTHER in labels:
        raise ValueError(
            f"{Path(path).name}: it has a trained {OTHER} class; the Mahalanobis gate is for "
            "models of the views alone"
        )
    return tuple(labels)
