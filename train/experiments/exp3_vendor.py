"""Experiment 3: vendor generalization (the thesis' Tables 4.3/4.4, Figure 4.11).

Train on one vendor or a pair, validate on the rest (every patient of the held-out vendors; one
vendor per patient is checked). The training set has the smallest vendor's frame count, sampled
per class, half from each vendor of a pair. The curves' validation set *is* the held-out vendors
(as the thesis' Figure 4.11), so there is no early stopping and no best-weight restore: the
reported model is the last epoch's, never picked on the held-out data.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from .common import cell_config, ci_cell, init_note, model_desc
from .grid import CellDef

TITLE = "Table 4.4 — vendor generalization (accuracy on the held-out vendors)"


def vendor_splits(vendors: list[str]) -> list[tuple[list[str], list[str]]]:
    """Every single vendor and every pair as training set, the rest held out (6 for 3).

    >>> [(t, h) for t, h in vendor_splits(["a", "b", "c"])][3]
    (['a', 'b'], ['c'])
    """
    out = []
    for k in (1, 2):
        for train in combinations(vendors, k):
            held = [v for v in vendors if v not in train]
            if held:
                out.append((list(train), held))
    return out


def expand(d: dict[str, Any]) -> list[CellDef]:
    vendors = list(d.get("vendors") or [])
    if len(vendors) < 2:
        raise ValueError("exp3 needs at least two vendors in 'vendors:'")
    out = []
    for mname, m in (d.get("models") or {}).items():
        for train, held in vendor_splits(vendors):
            out.append(
                CellDef(
                    name=f"{mname}__{'+'.join(train)}",
                    config=cell_config(d, m["model"], m.get("run")),
                    meta={
                        "network": mname,
                        "train": train,
                        "heldout": held,
                    },
                    sampling={"kind": "vendor", "train": train, "heldout": held},
                    init_fallback="random",
                )
            )
    return out


def table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    head = [
        "network",
        "init",
        "trained on",
        "validated on",
        "accuracy",
        "sequence accuracy",
        "train frames",
        "seeds",
    ]
    rows = []
    for c in summary.values():
        m = c["meta"]
        rows.append(
            [
                model_desc(c),
                init_note(c),
                " + ".join(m.get("train", [])),
                " + ".join(m.get("heldout", [])),
                ci_cell(c["frame_accuracy"]),
                ci_cell(c["sequence_accuracy"]),
                "/".join(str(n) for n in c["train_frames"]),
                str(len(c["seeds"])),
            ]
        )
    return head, rows, list(summary)
