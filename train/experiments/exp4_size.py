"""Experiment 4: training-set size (the thesis' Table 4.6, Figure 4.12).

0.1, 1, 5, 10 and 25 % of the training split, sampled per class, for the baseline, MobileNet
from ImageNet and MobileNet from random initialisation; validation and test sets fixed. Every
run sees about as many images as the ``reference_fraction`` run does in its epochs (the thesis'
own hindsight): small sets are repeated within an epoch (see :mod:`.cell`).
"""

from __future__ import annotations

from typing import Any

from .common import cell_config, ci_cell, init_note, model_desc
from .grid import CellDef

TITLE = "Table 4.6 — training-set size (test split)"


def expand(d: dict[str, Any]) -> list[CellDef]:
    fractions = [float(f) for f in d.get("fractions") or []]
    if not fractions:
        raise ValueError("exp4 needs 'fractions:'")
    ref = float(d.get("reference_fraction", max(fractions)))
    out = []
    for mname, m in (d.get("models") or {}).items():
        for f in fractions:
            out.append(
                CellDef(
                    name=f"{mname}__{f * 100:g}pct",
                    config=cell_config(d, m["model"], m.get("run")),
                    meta={"network": mname, "fraction": f},
                    sampling={
                        "kind": "fraction",
                        "fraction": f,
                        "reference_fraction": ref,
                        "max_repeats": int(d.get("max_repeats", 1000)),
                    },
                    init_fallback=None,  # experiment 4 compares ImageNet vs random: no silent swap
                )
            )
    return out


def table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    head = [
        "network",
        "init",
        "training fraction",
        "train frames",
        "accuracy",
        "sequence accuracy",
        "images seen",
        "seeds",
    ]
    rows = []
    names = sorted(
        summary, key=lambda n: (model_desc(summary[n]), summary[n]["meta"].get("fraction", 0))
    )
    for c in (summary[n] for n in names):  # each network's fractions in increasing order
        m = c["meta"]
        rows.append(
            [
                model_desc(c),
                init_note(c),
                f"{100 * m.get('fraction', 0):g} %",
                "/".join(str(n) for n in c["train_frames"]),
                ci_cell(c["frame_accuracy"]),
                ci_cell(c["sequence_accuracy"]),
                f"{c['images_seen']:.0f}",
                str(len(c["seeds"])),
            ]
        )
    return head, rows, names
