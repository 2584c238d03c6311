"""``echostream report``: ``docs/reproduction.md`` — the thesis' tables beside ours.

For each of the thesis' Tables 4.1, 4.2, 4.4 and 4.6 the report gives the thesis' numbers
(:mod:`.thesis`, transcribed from its text; ``—`` where it has none for a cell) and ours, marked
"simulated data, scale X, N seeds, 95 % CI",
with figures (learning curves with stage boundaries, confusion matrices and t-SNE, validation
curves per vendor split, accuracy against training-set size), then a short reading of which of
the thesis' findings our runs reproduce. Figures go to ``docs/reproduction/`` next to the file.

Example::

    write_report("runs/experiments", "docs/reproduction.md")
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .grid import EXPERIMENTS, collect, experiment_module, summarise
from .report_figures import figures_markdown
from .report_reading import at_chance, reading
from .report_verdicts import verdict_table
from .thesis import our_cells, thesis_findings, thesis_table, thesis_value

SCALES = ("full", "gpu", "cpu", "smoke", "tiny")  # preference order when several exist
THESIS = (
    "a 2020 master thesis (Linköping University, DiVA record liu-165276, indexed at "
    "http://search.ndltd.org/show.php?id=oai%3Aunion.ndltd.org%3AUPSALLA1%2Foai%3ADiVA.org%3Aliu-165276)"
)
NONE = "—"  # a cell the thesis has no number for
#: Table 4.1's metrics: the thesis gives the maximum validation accuracy for all three runs
BASELINE_METRICS = ("max_val_accuracy", "frame_accuracy", "sequence_accuracy")
#: What the thesis' column of each experiment's table shows (its ``headline`` metric).
THESIS_METRIC = {
    "frame_accuracy": "test accuracy",
    "max_val_accuracy": "best held-out validation accuracy (best epoch; ours: last epoch)",
}
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
    for key in ("exp1", "exp2", "exp3", "exp4"):  # the thesis' grids (not the labels curve)
        name = EXPERIMENTS[key]
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


# -- the document ------------------------------------------------------------------------------


@dataclass
class _Experiment:
    """One experiment's finished runs: its folder, results, per-cell summary and labels."""

    folder: Path
    results: list[dict[str, Any]]
    summary: dict[str, Any]
    label: str  # "simulated data, scale X, N seeds, 95 % CI"
    scale: str
    wall: float  # run time of all runs, seconds

    @staticmethod
    def load(folder: Path) -> _Experiment:
        results = collect(folder)
        summary = summarise(results)
        for name, c in summary.items():
            c["_values"] = [r["metrics"]["frame_accuracy"] for r in results if r["cell"] == name]
        label, scale = _label(results)
        wall = sum(float(r.get("wall_seconds") or 0) for r in results)
        return _Experiment(folder, results, summary, label, scale, wall)


def write_report(runs: str | Path, out: str | Path, *, scale: str | None = None) -> Path:
    """Write the report from the experiment folders under ``runs``; returns its path."""
    runs, out = Path(runs), Path(out)
    found = find_experiments(runs, scale)
    figdir = out.parent / out.stem
    if figdir.is_dir():
        shutil.rmtree(figdir)
    exps = {key: _Experiment.load(d) for key, d in found.items()}
    sums = {key: e.summary for key, e in exps.items()}
    scales = {key: e.scale for key, e in exps.items()}
    L = _introduction(runs, scales, bool(found))
    L += _baseline_table(exps.get("exp1"), exps.get("exp2"))
    for key in ("exp2", "exp3", "exp4"):
        L += _experiment_section(key, exps.get(key), figdir, out.parent)
    incomplete = _incomplete(exps)
    L += verdict_table(sums, scales, incomplete)
    L += ["## Reading", ""]
    done = {k: v for k, v in sums.items() if k not in incomplete}
    L += reading(done, scales) or ["Nothing to compare yet."]
    L += [f"- {k}: not read yet ({why})." for k, why in sorted(incomplete.items())]
    L += ["", _why_ours_differ(set(scales.values())), ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(L))
    return out


def _introduction(runs: Path, scales: dict[str, str], found: bool) -> list[str]:
    """The thesis, its findings, how our numbers were made."""
    L = [
        "# Reproducing the thesis' experiments",
        "",
        f"The thesis: {THESIS}. It re-implemented the CNN of Madani et al. 2018 (91.7 % per "
        "frame, 97.8 % per cine on real echo) and compared ImageNet-pretrained networks on 8 "
        "views from 3 scanners. Its numbers below are transcribed from its full text "
        "(`../shared/thesis/`) into `train/experiments/thesis_tables.yaml`, each with its table "
        "or text line (checked against the text by `tests/train/test_thesis_tables.py`); they are "
        "on the thesis' real data, ours on simulated data. Its abstract's four findings:",
        "",
        *[
            f'{i}. "{f.quote}" (abstract, lines {f.lines[0]}–{f.lines[1]})'
            for i, f in enumerate(thesis_findings(), 1)
        ],
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
            f"No finished experiment runs under `{runs}` yet: run `echostream experiment all "
            "--data DIR --scale cpu` first.",
            "",
        ]
    return L


def _baseline_table(exp1: _Experiment | None, exp2: _Experiment | None) -> list[str]:
    """Table 4.1: experiment 1's cells and experiment 2's baseline reference cell, each beside
    the thesis' value for the same run."""
    from .common import ci_cell
    from .exp1_baseline import TITLE, method

    L = [f"## {TITLE}", ""]
    cells = [(exp1, name) for name in (exp1.summary if exp1 else {})]
    if exp2 is not None and "baseline_reference" in exp2.summary:
        cells.append((exp2, "baseline_reference"))
    rows = [
        [
            f"exp1 {name} ({method(exp.summary[name])})"
            if exp is exp1
            else f"exp2 {name} ({exp.summary[name]['meta'].get('method', '?')})",
            exp.scale,
            ci_cell(exp.summary[name]["best_val_acc"]),
            ci_cell(exp.summary[name]["frame_accuracy"]),
            ci_cell(exp.summary[name]["sequence_accuracy"]),
            str(len(exp.summary[name]["seeds"])),
            *_thesis_cells("exp1" if exp is exp1 else "exp2", name, BASELINE_METRICS),
        ]
        for exp, name in cells
    ]
    t41 = thesis_table("4.1")
    thesis = (
        f"Thesis Table 4.1 ({t41.caption.rstrip('.')}): "
        + ", ".join(f"{str(r[0]).lower()} {r[1]}" for r in t41.rows)
        + ". Its RMSprop runs have only a maximum validation accuracy, in the text: "
        + ", ".join(
            f"{name} {v.text} ({v.source})"
            for name in ("exp1_baseline_rmsprop", "exp1_baseline_rmsprop_flips")
            if (v := thesis_value("exp1", name, "max_val_accuracy")) is not None
        )
        + ". Madani et al. 2018 (real data, their 15 views): 91.7 % per frame, 97.8 % per cine."
    )
    if not rows:
        return [*L, f"No baseline runs found (`echostream experiment exp1`). {thesis}", ""]
    head = ["run", "scale", "ours: best validation", "ours: accuracy", "ours: sequence accuracy"]
    thesis_head = ["thesis: max validation", "thesis: accuracy", "thesis: sequence accuracy"]
    L += _md_table([*head, "seeds", *thesis_head], rows)
    L += ["", thesis, ""]
    if exp1 is not None:
        L += [f"Ours: {exp1.label}.", "", _runs_line("exp1", exp1, _plan(exp1)), ""]
    return L


def _thesis_cells(
    experiment: str, cell: str, metrics: Sequence[str] = ("frame_accuracy", "sequence_accuracy")
) -> list[str]:
    """The thesis' value of each of ``metrics`` for our ``cell`` (``—`` where none)."""
    values = [thesis_value(experiment, cell, m) for m in metrics]
    return [f"{v.text} ({v.source})" if v is not None else NONE for v in values]


def _experiment_section(key: str, exp: _Experiment | None, figdir: Path, base: Path) -> list[str]:
    """One experiment's table (ours beside the thesis' column), runs, command and figures."""
    mod = experiment_module(key)
    L = [f"## {mod.TITLE}", ""]
    if exp is None:
        return [
            *L,
            f"Not run yet (`echostream experiment {key} --data DIR --scale cpu`).",
            "",
        ]
    head, rows, cells = mod.table(exp.summary)
    if at_chance(exp.summary) and exp.scale != "tiny":
        L += [CHANCE_NOTE, ""]
    metric = THESIS_METRIC[our_cells(key)["headline"]]
    L += [f"Ours: {exp.label}. Thesis column: its {metric} on its real data, where it has one.", ""]
    if exp.scale == "tiny":
        L += [TINY_WARNING, ""]
    thesis = [thesis_value(key, cell) for cell in cells]
    L += _md_table(
        [*head, f"thesis: {metric}"],
        [[*r, f"{v.text} ({v.source})" if v else NONE] for r, v in zip(rows, thesis, strict=True)],
    )
    plan = _plan(exp)
    L += ["", _runs_line(key, exp, plan), ""]
    cards = sorted((exp.folder / "best").glob("*.onnx"))
    if cards:
        L += [
            f"Best run exported: `{cards[-1]}` with `{exp.folder / 'best' / 'MODEL_CARD.md'}`.",
            "",
        ]
    sim = _simulate_command(plan.get("data"))
    if sim:
        L += [f"Data: `{sim}`.", ""]
    return L + figures_markdown(key, exp.folder, exp.summary, figdir, base)


def _plan(exp: _Experiment) -> dict[str, Any]:
    """The experiment's plan (``experiment.yaml``), its data and seeds filled from the runs."""
    p = exp.folder / "experiment.yaml"
    plan = yaml.safe_load(p.read_text()) if p.is_file() else {}
    results = exp.results
    plan.setdefault("data", results[0].get("data_dir", "DATA") if results else "DATA")
    plan.setdefault("seeds", sorted({r["seed"] for r in results}))
    return plan


def _incomplete(exps: dict[str, _Experiment]) -> dict[str, str]:
    """Experiments with fewer finished runs than planned → "k of n runs finished"."""
    out = {}
    for key, exp in exps.items():
        plan = _plan(exp)
        planned = len(plan.get("cells", [])) * len(plan.get("seeds", []))
        if planned and len(exp.results) < planned:
            out[key] = f"{len(exp.results)} of {planned} runs finished"
    return out


def _runs_line(key: str, exp: _Experiment, plan: dict[str, Any]) -> str:
    """Where the runs are, how many finished of those planned, and the command."""
    planned = len(plan.get("cells", [])) * len(plan.get("seeds", []))
    of = f" of {planned} planned" if planned else ""
    return (
        f"Runs: `{exp.folder}` ({len(exp.results)} finished{of}, "
        f"{exp.wall / 60:.1f} min of run time in all); command: "
        f"`echostream experiment {key} --data {plan.get('data', 'DATA')} --scale "
        f"{exp.scale} --seeds {len(plan.get('seeds', [])) or '?'}`."
    )


def _why_ours_differ(scales: set[str]) -> str:
    """The paragraph on why our numbers may differ from the thesis', for the scales shown."""
    text = (
        "Why ours may differ from the thesis: the simulator's vendors differ in screen style "
        "(text, ECG trace, fan geometry, tint) over the same simulated anatomy, so vendor shift "
        "is milder than between real scanners; our smaller scales use small inputs and few "
        "images and epochs; VGG16, InceptionV3 and NASNet-mobile have no ImageNet weights "
        "reachable offline and run from random initialisation (labelled in the tables), so "
        "experiment 2 does not test *pretrained* versions of them here."
    )
    if "smoke" in scales:
        text += (
            " At smoke scale VGG16/NASNet run at 32×32 and InceptionV3 at 75×75, and fine-tuning "
            "learning rates are ten times the thesis' (1e-4, head 1e-3; said in each method "
            "label), because at 1e-5 runs this short barely leave chance."
        )
    if "cpu" in scales:
        text += (
            " At cpu scale VGG16, InceptionV3 and NASNet-mobile are left out (at their real input "
            "sizes they train at 0.2–1.3 s an image on this 2-core machine, from random "
            "weights); MobileNet v1 0.25 (128×128) and the baseline (60×80) train at Adam 1e-3, "
            "100 times the thesis' fine-tuning rate (said in each method label): at 1e-4 runs of "
            "this length reach half the accuracy."
        )
    return text


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
