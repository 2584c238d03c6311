"""``echostream report``: ``docs/reproduction.md`` — the thesis' tables beside ours.

For each of the thesis' Tables 4.1, 4.2, 4.4 and 4.6 the report gives the thesis' numbers
(where we have them — we do not: only the thesis' abstract is reachable from here, so those
columns say "not available here") and ours, marked "simulated data, scale X, N seeds, 95 % CI",
with figures (learning curves with stage boundaries, confusion matrices and t-SNE, validation
curves per vendor split, accuracy against training-set size), then a short reading of which of
the thesis' findings our runs reproduce. Figures go to ``docs/reproduction/`` next to the file.

Example::

    write_report("runs/experiments", "docs/reproduction.md")
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .grid import EXPERIMENTS, collect, experiment_module, summarise
from .report_figures import figures_markdown
from .report_reading import at_chance, reading

SCALES = ("full", "smoke", "tiny")  # preference order when several exist
THESIS = (
    "a 2020 master thesis (Linköping University, DiVA record liu-165276, indexed at "
    "http://search.ndltd.org/show.php?id=oai%3Aunion.ndltd.org%3AUPSALLA1%2Foai%3ADiVA.org%3Aliu-165276)"
)
THESIS_FINDINGS = (
    "Its abstract (the only part of the thesis reachable from here) states: all fine-tuned "
    "networks perform very similarly, InceptionV3 slightly best; full fine-tuning of the whole "
    "network beats gradual unfreezing; networks can generalize to ultrasound machines they were "
    "not trained on, and a mix of machines in the training data generalizes better; with less "
    "training data the baseline CNN's performance suffers the least (compared with MobileNet "
    "from ImageNet and from random initialisation)."
)
NA = "not available here"
TINY_WARNING = (
    "**Tiny scale: these runs are the test suite's seconds-long grid (a few images, one epoch). "
    "Their numbers are not meaningful and say nothing about the methods.**"
)
SIM_WARNING = (
    "All our numbers are measured on **simulated** echo (the project's simulator), never on "
    "real patients; they do not estimate accuracy on real scans."
)


CHANCE_NOTE = (
    "**No cell of this table leaves chance level (12.5 % for 8 balanced views) by more than 7 "
    "points: at this scale the runs are too short to learn, so the table checks the machinery, "
    "not the methods.**"
)


def find_experiments(runs: str | Path, scale: str | None = None) -> dict[str, Path]:
    """``{exp key: folder}`` of each experiment's runs (the given scale, else the largest)."""
    runs = Path(runs)
    out: dict[str, Path] = {}
    for key, name in EXPERIMENTS.items():
        for sc in [scale] if scale else SCALES:
            d = runs / f"{name}-{sc}"
            if d.is_dir() and collect(d):
                out[key] = d
                break
    return out


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _label(results: list[dict[str, Any]]) -> tuple[str, str]:
    """The "simulated data, scale X, N seeds, 95 % CI" label and the scale."""
    scale = results[0].get("scale", "?") if results else "?"
    per_cell: dict[str, set[int]] = {}
    for r in results:
        per_cell.setdefault(r["cell"], set()).add(r["seed"])
    counts = sorted({len(v) for v in per_cell.values()}) or [0]
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    seeds = f"{n} seed(s)" if len(counts) == 1 else f"{n} seeds per cell (see the seeds column)"
    sim = "simulated data" if all(r.get("simulated_data", True) for r in results) else "REAL data"
    return f"{sim}, scale {scale}, {seeds}, mean ± 95 % CI (t)", scale


def _plan(d: Path) -> dict[str, Any]:
    p = d / "experiment.yaml"
    return yaml.safe_load(p.read_text()) if p.is_file() else {}


# -- the reading -----------------------------------------------------------------------------


# -- the document ------------------------------------------------------------------------------


def _exp1_rows(runs: Path) -> list[list[str]]:
    """Experiment 1's single runs (``echostream train``) found beside the grid folders."""
    rows = []
    for p in sorted(runs.parent.glob("exp1_*/eval_test/metrics.json")):
        m = json.loads(p.read_text())
        mm = m.get("metrics", {})
        rows.append(
            [
                p.parent.parent.name,
                str(m.get("scale", "?")),
                f"{100 * mm.get('frame_accuracy', math.nan):.1f} %",
                f"{100 * mm.get('sequence_accuracy', math.nan):.1f} %",
                "1 (no CI)",
            ]
        )
    return rows


def write_report(runs: str | Path, out: str | Path, *, scale: str | None = None) -> Path:
    """Write the report from the experiment folders under ``runs``; returns its path."""
    runs, out = Path(runs), Path(out)
    found = find_experiments(runs, scale)
    figdir = out.parent / out.stem
    if figdir.is_dir():
        shutil.rmtree(figdir)
    sums: dict[str, dict[str, Any]] = {}
    labels: dict[str, str] = {}
    scales: dict[str, str] = {}
    walls: dict[str, float] = {}
    for key, d in found.items():
        results = collect(d)
        sums[key] = summarise(results)
        labels[key], scales[key] = _label(results)
        walls[key] = sum(float(r.get("wall_seconds") or 0) for r in results)
        for name, c in sums[key].items():
            c["_values"] = [r["metrics"]["frame_accuracy"] for r in results if r["cell"] == name]
    L = ["# Reproducing the thesis' experiments", ""]
    L += [
        f"The thesis: {THESIS}. It re-implemented the CNN of Madani et al. 2018 (91.7 % per "
        "frame, 97.8 % per cine on real echo) and compared ImageNet-pretrained networks on 8 "
        "views from 3 scanners. " + THESIS_FINDINGS,
        "",
        f"**The thesis' table numbers are {NA}**: the thesis text could not be reached from this "
        "machine, and no number is copied from memory or invented. Its columns below say so.",
        "",
        SIM_WARNING,
        "",
        "Written by `echostream report` from the run folders under "
        f"`{runs}`; every cell of our columns is the mean over seeds with a 95 % confidence "
        "interval (Student's t); `(1 seed)` marks a cell without an interval.",
        "",
    ]
    tiny = [k for k, s in scales.items() if s == "tiny"]
    if tiny:
        L += [f"{TINY_WARNING} (Tiny-scale tables here: {', '.join(tiny)}.)", ""]
    if not found:
        L += [
            f"No finished experiment runs under `{runs}` yet: run `echostream experiment exp2 "
            "--data DIR --scale smoke` (and exp3, exp4) first.",
            "",
        ]

    # Table 4.1
    L += ["## Table 4.1 — the baseline CNN (experiment 1)", ""]
    rows = _exp1_rows(runs)
    if "exp2" in sums and "baseline_reference" in sums["exp2"]:
        from .common import ci_cell

        c = sums["exp2"]["baseline_reference"]
        rows.append(
            [
                "exp2 baseline_reference (Adam)",
                scales["exp2"],
                ci_cell(c["frame_accuracy"]),
                ci_cell(c["sequence_accuracy"]),
                str(len(c["seeds"])),
            ]
        )
    if rows:
        L += _md_table(
            ["run", "scale", "ours: accuracy", "ours: sequence accuracy", "seeds"],
            [r for r in rows],
        )
        L += [
            "",
            f"Thesis Table 4.1: {NA}. Madani et al. 2018 (real data, their 15 views): "
            "91.7 % per frame, 97.8 % per cine.",
            "",
        ]
    else:
        L += [f"No baseline runs found. Thesis: {NA}.", ""]

    for key in ("exp2", "exp3", "exp4"):
        mod = experiment_module(key)
        L += [f"## {mod.TITLE}", ""]
        if key not in sums:
            L += [
                f"Not run yet (`echostream experiment {key} --data DIR --scale smoke`). "
                f"Thesis: {NA}.",
                "",
            ]
            continue
        head, rows = mod.table(sums[key])
        if at_chance(sums[key]) and scales[key] != "tiny":
            L += [CHANCE_NOTE, ""]
        L += [f"Ours: {labels[key]}. Thesis column: {NA}.", ""]
        if scales[key] == "tiny":
            L += [TINY_WARNING, ""]
        L += _md_table([*head, "thesis"], [[*r, NA] for r in rows])
        plan = _plan(found[key])
        results = collect(found[key])
        plan.setdefault("data", results[0].get("data_dir", "DATA") if results else "DATA")
        plan.setdefault("seeds", sorted({r["seed"] for r in results}))
        planned = len(plan.get("cells", [])) * len(plan.get("seeds", []))
        of = f" of {planned} planned" if planned else ""
        L += [
            "",
            f"Runs: `{found[key]}` ({len(results)} finished{of}, "
            f"{walls[key] / 60:.1f} min of run time in all); command: "
            f"`echostream experiment {key} --data {plan.get('data', 'DATA')} --scale "
            f"{scales[key]} --seeds {len(plan.get('seeds', [])) or '?'}`.",
            "",
        ]
        cards = sorted((found[key] / "best").glob("*.onnx"))
        if cards:
            L += [
                f"Best run exported: `{cards[-1]}` with `{found[key] / 'best' / 'MODEL_CARD.md'}`.",
                "",
            ]
        sim = _simulate_command(plan.get("data"))
        if sim:
            L += [f"Data: `{sim}`.", ""]
        L += figures_markdown(key, found[key], sums[key], figdir, out.parent)
    L += ["## Reading", ""]
    lines = reading(sums, scales)
    L += lines or ["Nothing to compare yet."]
    L += [
        "",
        "Why ours may differ from the thesis: the simulator's vendors differ in screen style "
        "(text, ECG trace, fan geometry, tint) over the same simulated anatomy, so vendor shift "
        "is milder than between real scanners; our smaller scales use small inputs (MobileNet "
        "v1 0.25 at 128×128, VGG16/NASNet at 32×32, InceptionV3 at 75×75), few images and few "
        "epochs; VGG16, InceptionV3 and NASNet-mobile have no ImageNet weights reachable offline "
        "and ran from random initialisation (labelled in the tables), so experiment 2 does not "
        "test *pretrained* versions of them here."
        + (
            " At smoke scale, fine-tuning learning rates are ten times the thesis' (1e-4, head "
            "1e-3; said in each method label), because at 1e-5 runs this short barely leave "
            "chance."
            if "smoke" in scales.values()
            else ""
        ),
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(L))
    return out


def _simulate_command(data: str | None) -> str | None:
    """The ``echostream simulate`` command that made ``data`` (from its ``dataset.json``)."""
    if not data:
        return None
    for name in ("dataset.json", "simulation.json"):
        p = Path(data) / name
        if p.is_file():
            d = json.loads(p.read_text())
            cmd = f"echostream simulate --out {data} --patients {d.get('patients')}"
            cmd += f" --seed {d.get('seed')}"
            if d.get("n_frames"):
                cmd += f" --frames-per-cine {d['n_frames']}"
            if d.get("scale"):
                cmd += f" --scale {d['scale']}"
            if d.get("vendors"):
                cmd += f" --vendors {','.join(d['vendors'])}"
            return cmd
    return None
