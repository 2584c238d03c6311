"""Which score tells "none of the views" from the views best? A measurement, not the runtime.

For one ONNX model (logits output, 8 views, no OTHER class) and labelled folders holding
``OTHER`` cines, this compares the unknown-view scores of issue 17 frame by frame and cine by
cine: ``max_softmax`` (the runtime's, :mod:`echostream.stream.unknown`), ``max_logit``,
``energy`` (log-sum-exp of the logits), and two distances in the penultimate layer (the input
of the final Gemm): ``mahalanobis`` (class means and one shared covariance, fitted on ``--fit``,
a simulated training-like folder: the runtime's gate, :mod:`echostream.train.unknown_gate`) and
``cosine`` to the nearest class mean. Per score: the AUROC of known vs OTHER (on simulated
folders also vs each kind of OTHER cine: off-axis planes, IVC, lung, …), and, at the threshold
that rejects ``--target`` of the first ``--eval`` folder's known-view frames, how many frames and
cines ("mostly rejected") each folder loses on each side. Nothing is written into the model.

    python scripts/unknown_scores.py models/zoo/realecho_v3.onnx --fit data/sim_train_s201 \\
        --eval data/sim_cal_s4 --eval ../shared/real-dev --json runs/unknown_scores.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from echostream.train.unknown_gate import embed_split, fit_class_gaussians, min_mahalanobis

SCORES = ("max_softmax", "max_logit", "energy", "mahalanobis", "cosine")


def logits_and_features(model: Path, folder: Path) -> dict[str, np.ndarray]:
    """Logits and penultimate features of every known and OTHER frame of ``folder``."""
    e = embed_split(model, folder, progress=False)
    other = e.run.other_rows if e.run.other_rows is not None else e.run.rows[:0]
    cines = e.run.prep.index["cine"].to_numpy()[np.concatenate([e.run.rows, other])]
    return {"logits": e.logits, "features": e.features, "known": e.known, "labels": e.labels,
            "cines": cines, "kinds": other_kinds(folder, cines, e.known)}  # fmt: skip


def other_kinds(folder: Path, cines: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Per frame, the simulator's kind of its OTHER cine (``off_axis``, ``ivc_short``, …;
    ``train/simulator/other_families.py``), "" for known views and for folders the simulator
    did not make with OTHER families."""
    import pandas as pd

    from echostream.train.simulator.other_families import draw_other

    out = np.full(len(cines), "", dtype=object)
    sim = folder / "simulation.json"
    if not sim.is_file():
        return out
    settings = json.loads(sim.read_text())
    if "other_families" in settings.get("ablate", []):
        return out
    patients = pd.read_csv(folder / "manifest.csv")["patient_id"].to_numpy()
    for i in np.flatnonzero(~known):
        patient = int(str(patients[cines[i]]).lstrip("P"))
        out[i] = draw_other(settings["seed"], patient, bool(settings.get("sweep"))).kind
    return out


def fit_centroids(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Class means and the shared precision matrix of the known frames' features."""
    return fit_class_gaussians(d["features"][d["known"]], d["labels"][d["known"]])


def scores(d: dict[str, np.ndarray], means: np.ndarray, prec: np.ndarray) -> dict[str, np.ndarray]:
    """Every score per frame; higher = more like one of the views."""
    lo, f = d["logits"], d["features"]
    lse = logsumexp(lo, axis=1)
    maha = min_mahalanobis(f, means, prec)
    unit = f / np.linalg.norm(f, axis=1, keepdims=True)
    cos = (unit @ (means / np.linalg.norm(means, axis=1, keepdims=True)).T).max(1)
    return {"max_softmax": np.exp(lo.max(1) - lse), "max_logit": lo.max(1), "energy": lse,
            "mahalanobis": -maha, "cosine": cos}  # fmt: skip


def _auroc_vs_known(s: np.ndarray, known: np.ndarray, these: np.ndarray) -> float:
    """AUROC of the known frames against ``these`` frames alone."""
    truth = np.r_[np.ones(known.sum()), np.zeros(these.sum())]
    return float(roc_auc_score(truth, np.r_[s[known], s[these]]))


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
        "auroc_frames_by_kind": {
            str(kind): _auroc_vs_known(s, k, d["kinds"] == kind)
            for kind in sorted(set(d["kinds"][~k]) - {""})
        },
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
