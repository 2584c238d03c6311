"""Which parts of a frame a model's answer rests on: occlusion maps for labelled files.

A grey patch (the frame's mean) slides over the model's input; where it lowers the predicted
view's probability the map is red, where it raises it blue. A second map does the same for
the true view. Used to see which cue sends real echo to the wrong view (issue 13: which part of
a real A4C makes ``realecho_v3`` say A5C) before changing the simulator.

    python scripts/occlusion_maps.py models/zoo/realecho_v3.onnx ../shared/real-dev \\
        --items a4c --out occlusion.png

Each row: the middle frame of one matching item as the model sees it, the map for the
predicted view, the map for the true view; the printed line gives both probabilities.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Predict = Callable[[np.ndarray], np.ndarray]  # (N, C, H, W) float32 → (N, classes) probabilities


def occlusion_map(predict: Predict, x: np.ndarray, cls: int, patch: int, stride: int) -> np.ndarray:
    """(H, W): mean drop of ``cls``'s probability when a ``patch``-sized grey square covers each
    pixel (positive: the pixel supports ``cls``). ``x`` is one input, (C, H, W).

    >>> f = lambda b: np.stack([b[:, 0, :2, :2].mean((1, 2)), 1 - b[:, 0, :2, :2].mean((1, 2))], 1)
    >>> m = occlusion_map(f, np.pad(np.ones((1, 2, 2)), ((0, 0), (0, 6), (0, 6))), 0, 2, 2)
    >>> bool(m[0, 0] > 0 and m[-1, -1] == 0)
    True
    """
    _, h, w = x.shape
    base = predict(x[None])[0, cls]
    ys = list(range(0, max(h - patch, 0) + 1, stride))
    xs = list(range(0, max(w - patch, 0) + 1, stride))
    covered = []
    for y0 in ys:
        for x0 in xs:
            z = x.copy()
            z[:, y0 : y0 + patch, x0 : x0 + patch] = x.mean()
            covered.append(z)
    probs = predict(np.stack(covered).astype(np.float32))[:, cls]
    total, count = np.zeros((h, w)), np.zeros((h, w))
    for p, (y0, x0) in zip(probs, [(y, x_) for y in ys for x_ in xs], strict=True):
        total[y0 : y0 + patch, x0 : x0 + patch] += base - p
        count[y0 : y0 + patch, x0 : x0 + patch] += 1
    return total / np.maximum(count, 1)


def overlay(grey: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """RGB uint8: ``grey`` (0-1) dimmed, red where ``heat`` > 0, blue where < 0."""
    h = heat / (np.abs(heat).max() + 1e-9)
    rgb = np.repeat(grey[..., None], 3, -1) * 0.6
    rgb[..., 0] += 0.4 * np.clip(h, 0, 1)
    rgb[..., 2] += 0.4 * np.clip(-h, 0, 1)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def main() -> None:
    from echostream.stream.backends import load_backend
    from echostream.stream.preprocess import Preprocessor
    from echostream.train.evaluate_onnx import predict_split

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("folder", type=Path, help="labelled folder (labels.csv or a manifest)")
    ap.add_argument("--items", default="", help="comma-separated parts of item names (all: '')")
    ap.add_argument("--out", type=Path, default=Path("occlusion.png"))
    ap.add_argument("--patch", type=float, default=1 / 6, help="patch side, share of the height")
    args = ap.parse_args()

    run = predict_split(args.model, args.folder, split="all", progress=False)
    pre, labels = Preprocessor.from_model_info(run.info), list(run.info.labels)
    predict = load_backend(args.model, "onnxruntime").predict  # the runtime's probabilities
    index, rows = run.prep.index, []
    wanted = [w for w in args.items.split(",") if w]
    for key in dict.fromkeys(index["key"]):
        frames = index[index["key"] == key]
        view = frames["view"].iloc[0]
        if view not in labels or (wanted and not any(w in key for w in wanted)):
            continue
        x = pre.from_pixels(np.asarray(run.prep.store.frames[frames["row"].iloc[len(frames) // 2]]))
        p = predict(x[None])[0]
        top, truth = int(p.argmax()), labels.index(view)
        patch = max(2, round(args.patch * x.shape[1]))
        maps = [occlusion_map(predict, x, c, patch, max(1, patch // 2)) for c in (top, truth)]
        g = x.mean(0)
        g = (g - g.min()) / (np.ptp(g) + 1e-9)
        grey = (np.repeat(g[..., None], 3, -1) * 255).astype(np.uint8)
        rows.append(np.concatenate([grey, *(overlay(g, m) for m in maps)], 1))
        print(f"{key}: truth {view} p={p[truth]:.2f}; predicted {labels[top]} p={p[top]:.2f}")
    if not rows:
        raise SystemExit(f"{args.folder}: no labelled item of the model's views matches {wanted}")
    Image.fromarray(np.concatenate(rows, 0)).save(args.out)
    print(f"written: {args.out} (columns: input, predicted view's map, true view's map)")


if __name__ == "__main__":
    main()
