"""Experiment 1: the baseline CNN with RMSprop ± flips and Adam (the thesis' Table 4.1).

Each cell is one of the training configs named in ``runs:`` of ``configs/exp1_baseline.yaml``
(``configs/exp1_baseline_*.yaml``, the same files ``echostream train`` runs) at the grid's
scale, so that the three runs get seeds, 95 % intervals and resumable run folders like the
other experiments; the patient split's test set is the evaluation split.

Example::

    exp = load_experiment("configs/exp1_baseline.yaml", scale="cpu")
    [c.name for c in exp.cells]   # ['exp1_baseline_rmsprop_flips', ..., 'exp1_baseline_adam']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .grid import CellDef

TITLE = "Table 4.1 — the baseline CNN (experiment 1)"


def expand(d: dict[str, Any]) -> list[CellDef]:
    """One :class:`CellDef` per training config in ``runs``, loaded at the grid's scale."""
    from echostream.train.config import load_config

    folder = Path(d.get("source", "configs")).parent
    names = list(d.get("runs") or [])
    if not names:
        raise ValueError("exp1 needs the training configs it runs in 'runs:'")
    scale = d["base"]["scale"]
    out = []
    for name in names:
        cfg = load_config(folder / f"{name}.yaml", scale=scale)
        aug = cfg.augment
        out.append(
            CellDef(
                name=name,
                config=cfg.to_dict(),
                meta={
                    "network": cfg.model.name,
                    "optimizer": cfg.optim.name,
                    "flips": bool(aug.hflip or aug.vflip),
                },
            )
        )
    return out


def method(cell: dict[str, Any]) -> str:
    """``"RMSprop, flips"`` / ``"Adam"`` from a summarised cell's meta."""
    m = cell.get("meta", {})
    names = {"rmsprop": "RMSprop", "adam": "Adam", "sgd": "SGD"}
    opt = names.get(str(m.get("optimizer")), str(m.get("optimizer", "?")))
    return f"{opt}, flips" if m.get("flips") else opt
