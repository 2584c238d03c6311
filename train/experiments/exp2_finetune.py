"""Experiment 2: fine-tuning pretrained networks (the thesis' Table 4.2, Figures 4.6–4.9).

Cells (``configs/exp2_finetune.yaml``): MobileNet with gradual unfreezing #1 (early stopping on
validation loss, patience 3, ≤ 20 epochs a stage, Adam 1e-4 while only the head trains, 1e-5
after), #2 (exactly 10 epochs a stage at 1e-5), #3 (#2 + each stage's best weights restored);
VGG16 gradual as #2 (batch 16); full fine-tuning from the start (Adam 1e-5) of NASNet-mobile,
InceptionV3, VGG16 and MobileNet; and the baseline CNN as the reference. Stages follow
``model.stages`` (head first, the thesis' Tables D.1/D.2). Networks without reachable ImageNet
weights run from random initialisation and are labelled so.
"""

from __future__ import annotations

from typing import Any

from .common import cell_config, ci_cell, init_note, model_desc
from .grid import CellDef

TITLE = "Table 4.2 — fine-tuning pretrained networks (test split)"


def expand(d: dict[str, Any]) -> list[CellDef]:
    """One :class:`CellDef` per entry of ``cells`` (a network from ``networks`` + a method)."""
    nets = d.get("networks") or {}
    out = []
    for name, c in (d.get("cells") or {}).items():
        if c is None or c.get("skip"):
            continue
        net = c["network"]
        if net not in nets:
            raise ValueError(f"exp2 cell {name}: unknown network {net!r}; known: {', '.join(nets)}")
        model = nets[net]
        out.append(
            CellDef(
                name=name,
                config=cell_config(d, model, c.get("run")),
                meta={
                    "network": net,
                    "method": c["method"],
                    "model_name": model["name"],
                },
                gradual=c.get("gradual"),
                init_fallback="random",
            )
        )
    return out


def table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header and rows of our Table 4.2 (mean ± 95 % CI over seeds)."""
    head = [
        "network",
        "method",
        "init",
        "accuracy",
        "sequence accuracy",
        "precision",
        "recall",
        "seeds",
    ]
    rows = []
    for c in summary.values():
        m = c["meta"]
        rows.append(
            [
                model_desc(c),
                m.get("method", ""),
                init_note(c),
                ci_cell(c["frame_accuracy"]),
                ci_cell(c["sequence_accuracy"]),
                ci_cell(c["macro_precision"]),
                ci_cell(c["macro_recall"]),
                str(len(c["seeds"])),
            ]
        )
    return head, rows, list(summary)
