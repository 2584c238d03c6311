"""Per-item results of an evaluation: one row per cine or still (``items.csv``), for reading
a small real labelled set item by item.

Example::

    rows = item_results(labels, probs, cines, VIEWS, keys={0: "a4c.png"})
    print("\n".join(item_rows_markdown(rows)))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def item_results(
    labels: np.ndarray,
    probs: np.ndarray,
    cines: np.ndarray,
    names: Sequence[str],
    keys: dict[Any, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per cine (or still): truth, the majority-vote view and the runner-up (by
    vote share, then mean probability), their shares, and whether top-1 / top-2 are right.

    >>> rows = item_results(np.array([0, 0]), np.array([[.6, .4], [.3, .7]]), np.array([5, 5]),
    ...                     ["A", "B"], {5: "clip.mp4"})
    >>> rows[0]["item"], rows[0]["top1"], rows[0]["top2"], rows[0]["top2_right"]
    ('clip.mp4', 'B', 'A', True)
    """
    pred = probs.argmax(1)
    out = []
    for cine in dict.fromkeys(cines.tolist()):
        m = cines == cine
        share = np.bincount(pred[m], minlength=len(names)) / m.sum()
        mean = probs[m].mean(0)
        order = np.lexsort((-mean, -share))  # by vote share, ties by mean probability
        truth = int(labels[m][0])
        out.append(
            {
                "item": (keys or {}).get(cine, str(cine)),
                "frames": int(m.sum()),
                "truth": names[truth],
                "top1": names[order[0]],
                "top1_share": round(float(share[order[0]]), 3),
                "top1_mean_prob": round(float(mean[order[0]]), 3),
                "top2": names[order[1]],
                "top2_share": round(float(share[order[1]]), 3),
                "truth_mean_prob": round(float(mean[truth]), 3),
                "top1_right": bool(order[0] == truth),
                "top2_right": bool(truth in order[:2]),
            }
        )
    return out


def item_rows_markdown(items: list[dict[str, Any]]) -> list[str]:
    """A markdown table of :func:`item_results` (with top-1 / top-2 totals)."""
    n = len(items)
    top1 = sum(i["top1_right"] for i in items)
    top2 = sum(i["top2_right"] for i in items)
    lines = [
        f"Per item (majority vote over each item's frames): top-1 {top1}/{n}, top-2 {top2}/{n}.",
        "",
        "| item | truth | top-1 (vote share) | top-2 | right |",
        "|---|---|---|---|---|",
    ]
    for i in items:
        mark = "yes" if i["top1_right"] else "top-2" if i["top2_right"] else "no"
        lines.append(
            f"| {i['item']} | {i['truth']} | {i['top1']} ({100 * i['top1_share']:.0f} %) | "
            f"{i['top2']} | {mark} |"
        )
    return lines
