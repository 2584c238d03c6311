"""Which score tells "none of the views" from the views best? A measurement, not the runtime.

For one ONNX model (logits output, 8 views, no OTHER class) and labelled folders holding
``OTHER`` cines, this compares the unknown-view scores of issue 17 frame by frame and cine by
cine: ``max_softmax`` (the runtime's, :mod:`echostream.stream.unknown`), ``max_logit``,
``energy`` (log-sum-exp of the logits), and two distances in the penultimate layer (the input
of the final Gemm): ``mahalanobis`` (class means and one shared covariance, fitted on ``--fit``,
a simulated training-like folder) and ``cosine`` to the nearest class mean. Per score: the
AUROC of known vs OTHER, and, at the threshold that rejects ``--target`` of the first
``--eval`` folder's known-view frames, how many frames and cines ("mostly rejected") each folder
loses on each side. Nothing is written into the model.

    python scripts/unknown_scores.py models/zoo/realecho_v3.onnx --fit data/sim_train_s201 \\
        --eval data/sim_cal_s4 --eval ../shared/real-dev --json runs/unknown_scores.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from echostream.stream.preprocess import Preprocessor
from echostream.train.evaluate_onnx import predict_split

SCORES = ("max_softmax", "max_logit", "energy", "mahalanobis", "cosine")


def with_embedding(model: Path, out: Path) -> str:
    """A copy of ``model`` whose extra output is the final Gemm's input; returns its name."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(model))
    last = [n for n in m.graph.node if n.output[0] == m.graph.output[0].name]
    if not last or last[0].op_type not in ("Gemm", "MatMul"):
        raise SystemExit(f"{model.name}: its output is not made by a Gemm/MatMul layer")
    name = last[0].input[0]
    m.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    onnx.save(m, str(out))
    return name


def logits_and_features(model: Path, folder: Path, batch: int = 64) -> dict[str, np.ndarray]:
    """Logits and penultimate features of every known and OTHER frame of ``folder``."""
    import onnxruntime as ort

    run = predict_split(model, folder, split="all", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "m.onnx"
        feat = with_embedding(model, copy)
        sess = ort.InferenceSession(str(copy), providers=["CPUExecutionProvider"])
    pre, index = Preprocessor.from_model_info(run.info), run.prep.index
    other = run.other_rows if run.other_rows is not None else run.rows[:0]
    store_rows = index["row"].to_numpy()[np.concatenate([run.rows, other])]
    logits, feats = [], []
    inp = sess.get_inputs()[0].name
    for i in range(0, len(store_rows), batch):
        x = np.stack([pre.from_pixels(np.asarray(run.prep.store.frames[r]))
                      for r in store_rows[i : i + batch]])  # fmt: skip
        lo, f = sess.run([sess.get_outputs()[0].name, feat], {inp: x})
        logits.append(lo)
        feats.append(f.reshape(len(x), -1))
    cines = index["cine"].to_numpy()
    return {
        "logits": np.concatenate(logits),
        "features": np.concatenate(feats),
        "known": np.r_[np.ones(len(run.rows), bool), np.zeros(len(other), bool)],
        "labels": np.r_[run.labels, np.full(len(other), -1)],
        "cines": np.r_[cines[run.rows], cines[other]],
    }


def fit_centroids(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Class means and the shared precision matrix of the known frames' features."""
    f, y = d["features"][d["known"]], d["labels"][d["known"]]
    means = np.stack([f[y == k].mean(0) for k in range(int(y.max()) + 1)])
    centred = f - means[y]
    cov = centred.T @ centred / len(f)
    cov += 1e-3 * np.trace(cov) / len(cov) * np.eye(len(cov))  # shrinkage: a stable inverse
    return means, np.linalg.inv(cov)


def scores(d: dict[str, np.ndarray], means: np.ndarray, prec: np.ndarray) -> dict[str, np.ndarray]:
    """Every score per frame; higher = more like one of the views."""
    lo, f = d["logits"], d["features"]
    lse = logsumexp(lo, axis=1)
    diff = f[:, None, :] - means[None]
    maha = np.einsum("nkd,de,nke->nk", diff, prec, diff).min(1)
    unit = f / np.linalg.norm(f, axis=1, keepdims=True)
    cos = (unit @ (means / np.linalg.norm(means, axis=1, keepdims=True)).T).max(1)
    return {"max_softmax": np.exp(lo.max(1) - lse), "max_logit": lo.max(1), "energy": lse,
            "mahalanobis": -maha, "cosine": cos}  # fmt: skip


def compare(d: dict[str, np.ndarray], s: np.ndarray, threshold: float) -> dict[str, float]:
    """AUROC (frames, cines by mean score) and what ``threshold`` rejects on each side."""
    k = d["known"]
    cine_ids = np.unique(d["cines"])
    cine_known = np.array([k[d["cines"] == c][0] for c in cine_ids])
    cine_mean = np.array([s[d["cines"] == c].mean() for c in cine_ids])
    cine_rej = np.array([(s[d["cines"] == c] < threshold).mean() > 0.5 for c in cine_ids])
    return {
        "auroc_frames": float(roc_auc_score(k, s)) if 0 < k.sum() < len(k) else float("nan"),
        "auroc_cines": float(roc_auc_score(cine_known, cine_mean))
        if 0 < cine_known.sum() < len(cine_known)
        else float("nan"),
        "known_frames_rejected": float((s[k] < threshold).mean()),
        "other_frames_rejected": float((s[~k] < threshold).mean()) if (~k).any() else float("nan"),
        "known_cines_rejected": f"{int(cine_rej[cine_known].sum())}/{int(cine_known.sum())}",
        "other_cines_rejected": f"{int(cine_rej[~cine_known].sum())}/{int((~cine_known).sum())}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--fit", type=Path, required=True, help="folder for the class means")
    ap.add_argument("--eval", type=Path, action="append", required=True)
    ap.add_argument("--target", type=float, default=0.02)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    means, prec = fit_centroids(logits_and_features(a.model, a.fit))
    evals = {str(p): logits_and_features(a.model, p) for p in a.eval}
    per = {name: scores(d, means, prec) for name, d in evals.items()}
    first = str(a.eval[0])
    out: dict[str, dict] = {}
    for score in SCORES:
        th = float(np.quantile(per[first][score][evals[first]["known"]], a.target))
        out[score] = {"threshold": th}
        for name, d in evals.items():
            out[score][name] = compare(d, per[name][score], th)
            r = out[score][name]
            print(f"{score:12s} {name:28s} AUROC frames {r['auroc_frames']:.3f} cines "
                  f"{r['auroc_cines']:.3f}; rejected: known cines {r['known_cines_rejected']}, "
                  f"OTHER cines {r['other_cines_rejected']}")  # fmt: skip
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"model": a.model.name, "target": a.target, **out}, indent=1))


if __name__ == "__main__":
    main()
