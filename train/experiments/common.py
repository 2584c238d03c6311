"""Shared helpers of the experiment modules: model sections, labels, table cells."""

from __future__ import annotations

import copy
import math
from typing import Any

from echostream.stream.settings import deep_merge

from .stats import MeanCI, format_ci


def cell_config(d: dict[str, Any], model: dict[str, Any], run: dict[str, Any] | None) -> dict:
    """The experiment's ``base`` run config with a ``model`` section and ``run`` overrides."""
    cfg = copy.deepcopy(d["base"])
    cfg["model"] = deep_merge(cfg.get("model") or {}, model)
    return deep_merge(cfg, run or {})


def init_word(pretrained: str | None) -> str:
    return "random init" if not pretrained else "ImageNet" if pretrained == "imagenet" else "file"


def ci_cell(stat: dict[str, Any] | None) -> str:
    """A summary metric dict (mean, ci95, n) as ``"92.0 ± 5.0 %"``."""
    if not stat or stat.get("mean") is None:
        return "–"
    ci = stat.get("ci95")
    return format_ci(MeanCI(stat["mean"], math.nan if ci is None else ci, int(stat["n"])))


def init_note(cell: dict[str, Any]) -> str:
    """ "ImageNet" / "random init" for a summarised cell, from what its runs actually used."""
    inits = cell.get("init", [])
    rand = any(i.startswith("random") for i in inits)
    imnet = any(i.startswith("ImageNet") for i in inits)
    if rand and imnet:
        return "MIXED: some seeds ImageNet, some random init"
    if rand:
        return "random init"
    if imnet:
        return "ImageNet"
    return ", ".join(inits) or "?"


def model_desc(cell: dict[str, Any]) -> str:
    """What actually ran: ``"mobilenet (mobilenet_v1_025, 128×128)"`` from a summarised cell."""
    size = cell.get("input_size") or []
    hw = f", {size[1]}×{size[2]}" if len(size) == 3 else ""
    return f"{cell['meta'].get('network', '?')} ({cell.get('model', '?')}{hw})"
