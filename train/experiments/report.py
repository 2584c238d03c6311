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

from .common import init_note, model_desc
from .grid import EXPERIMENTS, collect, experiment_module, summarise

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


CHANCE = 1 / 8  # 8 balanced views
CHANCE_NOTE = (
    "**No cell of this table leaves chance level (12.5 % for 8 balanced views) by more than 7 "
    "points: at this scale the runs are too short to learn, so the table checks the machinery, "
    "not the methods.**"
)


def at_chance(summary: dict[str, Any], margin: float = 0.07) -> bool:
    """True when every cell's mean accuracy is within ``margin`` of chance."""
    ms = [c["frame_accuracy"]["mean"] for c in summary.values()]
    return all(m is None or m < CHANCE + margin for m in ms)


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


def _copy(src: Path, dst: Path) -> str | None:
    if not src.is_file():
        return None
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst.name


# -- figures ---------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _histories(run_dirs: list[Path]) -> list[list[dict[str, Any]]]:
    from echostream.train.history import read_history

    return [read_history(d / "history.csv") for d in run_dirs if (d / "history.csv").is_file()]


def fig_vendor_curves(d: Path, summary: dict[str, Any], path: Path) -> bool:
    """Figure 4.11: validation (held-out vendor) accuracy per epoch, mean over seeds, per split."""
    import numpy as np

    plt = _plt()
    nets = sorted({c["meta"].get("network") for c in summary.values()})
    fig, axes = plt.subplots(1, len(nets), figsize=(5.2 * len(nets), 3.8), squeeze=False)
    drawn = False
    for ax, net in zip(axes[0], nets, strict=True):
        for name, c in summary.items():
            if c["meta"].get("network") != net:
                continue
            hs = _histories(sorted((d / name).glob("seed*")))
            if not hs:
                continue
            n = min(len(h) for h in hs)
            acc = np.mean([[r["val_acc"] for r in h[:n]] for h in hs], axis=0)
            ax.plot(
                range(1, n + 1),
                acc,
                marker=".",
                label=f"{'+'.join(c['meta']['train'])} → {'+'.join(c['meta']['heldout'])}",
            )
            drawn = True
        ax.set_title(str(net), fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("held-out vendor accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if drawn:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def fig_size(summary: dict[str, Any], path: Path) -> bool:
    """Figure 4.12: test accuracy against training fraction (log x), mean ± 95 % CI."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    by: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for c in summary.values():
        by.setdefault(model_desc(c), []).append((c["meta"]["fraction"], c))
    for label, pts in by.items():
        pts.sort(key=lambda p: p[0])
        xs = [100 * f for f, _ in pts]
        ys = [100 * (c["frame_accuracy"]["mean"] or 0) for _, c in pts]
        es = [100 * (c["frame_accuracy"]["ci95"] or 0) for _, c in pts]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training set (% of the training split)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return bool(by)


# -- the reading -----------------------------------------------------------------------------


def compare(a: dict[str, Any] | None, b: dict[str, Any] | None) -> tuple[float, str]:
    """Difference of means ``a - b`` and a verdict word from the 95 % intervals."""
    if not a or not b or a.get("mean") is None or b.get("mean") is None:
        return math.nan, "not run"
    diff = a["mean"] - b["mean"]
    if a.get("ci95") is None or b.get("ci95") is None:
        return diff, "higher" if diff > 0 else "not higher"
    if a["low"] > b["high"]:
        return diff, "higher (intervals apart)"
    if a["high"] < b["low"]:
        return diff, "lower (intervals apart)"
    return diff, "within noise (intervals overlap)"


def _acc(summary: dict[str, Any], cell: str) -> dict[str, Any] | None:
    c = summary.get(cell)
    return c["frame_accuracy"] if c else None


def _pooled(summary: dict[str, Any], cells: list[str]) -> dict[str, Any] | None:
    """Mean ± CI over all seeds of several cells (each run one value)."""
    from .stats import mean_ci

    vals: list[float] = []
    for name in cells:
        vals += [r for r in summary[name].get("_values", [])]
    return mean_ci(vals).to_dict() if vals else None


def reading(sums: dict[str, dict[str, Any]], scales: dict[str, str]) -> list[str]:
    """Bullet lines: each thesis finding against our runs."""
    lines = []

    def pre_of(key: str) -> str:
        if scales.get(key) == "tiny":
            return "(tiny scale: not meaningful) "
        if key in sums and at_chance(sums[key]):
            return f"({scales.get(key)} scale, all cells near chance: not meaningful) "
        return ""

    pre = pre_of("exp2")
    s2 = sums.get("exp2")
    if s2:
        full = _acc(s2, "mobilenet_full")
        grads = [c for c in s2 if c.startswith("mobilenet_gradual")]
        best = max(grads, key=lambda c: s2[c]["frame_accuracy"]["mean"] or 0, default=None)
        diff, word = compare(full, _acc(s2, best) if best else None)
        each = []
        for g in sorted(grads):
            d_g, w_g = compare(full, _acc(s2, g))
            if not math.isnan(d_g):
                each.append(f"{g} {100 * d_g:+.1f} ({w_g.split(' (')[0]})")
        lines.append(
            f"- {pre}*Full fine-tuning beats gradual unfreezing* (MobileNet, full vs the best "
            f"gradual schedule, {best}): full is {word}, difference {100 * diff:+.1f} points"
            + (f"; full minus each schedule: {', '.join(each)}" if each else "")
            + ". The schedules differ in learning rates and epochs as well as in what "
            "trains when (see the method column), so only equal-rate, equal-epoch pairs compare "
            "the unfreezing itself."
        )
        g2, g3 = _acc(s2, "mobilenet_gradual_2"), _acc(s2, "mobilenet_gradual_3")
        if g2 and g3 and g2.get("mean") is not None and g2.get("mean") == g3.get("mean"):
            lines.append(
                f"- {pre}Gradual #3 (best weights restored after each stage) equals #2 here "
                "to the last digit: restoring changed nothing, which is what happens when each "
                "stage's lowest validation loss falls on its last epoch (still improving)."
            )
        nets = {k: v for k, v in s2.items() if k.endswith("_full")}
        if nets:
            top = max(nets, key=lambda c: nets[c]["frame_accuracy"]["mean"] or 0)
            lines.append(
                f"- {pre}*InceptionV3 slightly best, all similar*: our best full fine-tune is "
                f"{model_desc(s2[top])} ({init_note(s2[top])}); spread of the means "
                f"{100 * _spread(nets):.1f} points. Networks without reachable ImageNet weights "
                "ran from random initialisation, so this comparison is not the thesis' one."
            )
    s3 = sums.get("exp3")
    pre = pre_of("exp3")
    if s3:
        for net in sorted({c["meta"].get("network") for c in s3.values()}):
            single = [
                k
                for k, c in s3.items()
                if c["meta"].get("network") == net and len(c["meta"].get("train", [])) == 1
            ]
            pair = [
                k
                for k, c in s3.items()
                if c["meta"].get("network") == net and len(c["meta"].get("train", [])) == 2
            ]
            mp = _mean_of(s3, pair)
            ms = _mean_of(s3, single)
            if math.isnan(mp) or math.isnan(ms):
                continue
            diff, word = compare(_pooled(s3, pair), _pooled(s3, single))
            lines.append(
                f"- {pre}*Mixing vendors generalizes better* ({net}): trained on a pair, held-out "
                f"accuracy averages {100 * mp:.1f} %, on one vendor {100 * ms:.1f} % — "
                f"{word}, {100 * diff:+.1f} points (all runs of each kind pooled for the "
                "interval; a pair is tested on one vendor, a single on two, so the test sets "
                "differ)."
            )
    s4 = sums.get("exp4")
    pre = pre_of("exp4")
    if s4:
        fr = sorted({c["meta"]["fraction"] for c in s4.values()})
        # the smallest fraction at which some network learns at all (else the comparison is
        # between runs that all sit at chance)
        learnable = [
            f
            for f in fr
            if any(
                c["meta"]["fraction"] == f and (c["frame_accuracy"]["mean"] or 0) >= CHANCE + 0.07
                for c in s4.values()
            )
        ]
        if len(fr) >= 2 and not (learnable and learnable[0] < fr[-1]):
            lines.append(
                f"- {pre}*Training-set size*: no smaller fraction than the largest has a network "
                "above chance level, so the findings on little data cannot be tested at this "
                "scale."
            )
        if len(fr) >= 2 and learnable and learnable[0] < fr[-1]:
            below = [f for f in fr if f < learnable[0]]
            if below:
                lines.append(
                    f"- {pre}At {', '.join(f'{100 * f:g} %' for f in below)} of the training "
                    "split every network stays at chance level; the comparisons below use the "
                    f"smallest fraction at which one learns, {100 * learnable[0]:g} %."
                )
            lo, hi = learnable[0], fr[-1]

            def cell(net: str, f: float) -> str:
                return f"{net}__{f * 100:g}pct"

            d_lo, w_lo = compare(
                _acc(s4, cell("mobilenet_imagenet", lo)), _acc(s4, cell("mobilenet_random", lo))
            )
            d_hi, w_hi = compare(
                _acc(s4, cell("mobilenet_imagenet", hi)), _acc(s4, cell("mobilenet_random", hi))
            )
            if not (math.isnan(d_lo) or math.isnan(d_hi)):
                lines.append(
                    f"- {pre}*Pretraining helps most with little data*: ImageNet minus random "
                    f"MobileNet is {100 * d_lo:+.1f} points at {100 * lo:g} % ({w_lo}) and "
                    f"{100 * d_hi:+.1f} at {100 * hi:g} % ({w_hi}) — "
                    + (
                        "not testable here: both differences are within noise"
                        if w_lo.startswith("within") and w_hi.startswith("within")
                        else "reproduced in direction"
                        if d_lo > d_hi
                        else "not reproduced"
                    )
                    + "."
                )
            drops = {}
            for net in ("baseline", "mobilenet_imagenet", "mobilenet_random"):
                a, b = _acc(s4, cell(net, hi)), _acc(s4, cell(net, lo))
                if a and b and a.get("mean") is not None and b.get("mean") is not None:
                    drops[net] = a["mean"] - b["mean"]
            if len(drops) == 3:
                least = min(drops, key=lambda k: drops[k])
                noisy = all(
                    compare(_acc(s4, cell(n, hi)), _acc(s4, cell(n, lo)))[1].startswith("within")
                    for n in drops
                )
                verdict = (
                    "not testable here: every network's drop is within noise (its two "
                    "intervals overlap)"
                    if noisy
                    else "reproduced"
                    if least == "baseline"
                    else "not reproduced"
                )
                lines.append(
                    f"- {pre}*The baseline suffers least from less data*: accuracy drops from "
                    f"{100 * hi:g} % to {100 * lo:g} % by "
                    + ", ".join(f"{k} {100 * v:.1f}" for k, v in drops.items())
                    + f" points; least: {least} — {verdict}."
                )
            top = max(s4.values(), key=lambda c: c["frame_accuracy"]["mean"] or 0)
            lines.append(
                f"- {pre}At this scale the best training-set-size cell reaches "
                f"{100 * (top['frame_accuracy']['mean'] or 0):.1f} % ({model_desc(top)}, "
                f"{100 * top['meta']['fraction']:g} %): every run sees only "
                f"~{top['images_seen']:.0f} images, so these runs separate little."
            )
    return lines


def _spread(cells: dict[str, Any]) -> float:
    ms = [
        c["frame_accuracy"]["mean"]
        for c in cells.values()
        if c["frame_accuracy"]["mean"] is not None
    ]
    return max(ms) - min(ms) if ms else math.nan


def _mean_of(s: dict[str, Any], cells: list[str]) -> float:
    ms = [
        s[c]["frame_accuracy"]["mean"] for c in cells if s[c]["frame_accuracy"]["mean"] is not None
    ]
    return sum(ms) / len(ms) if ms else math.nan


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
        L += _figures(key, found[key], sums[key], figdir, out.parent)
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


def _figures(key: str, d: Path, summary: dict[str, Any], figdir: Path, base: Path) -> list[str]:
    """Copy or draw the experiment's figures; markdown lines that show them."""
    L: list[str] = []

    def rel(p: Path) -> str:
        return str(p.relative_to(base))

    if key == "exp2":
        L += [
            "Learning curves of seed 0 (dashed lines: stage boundaries; thesis Figures 4.6, "
            "4.7), then the test confusion matrix and t-SNE of the penultimate layer per "
            "network (Figures 4.8, 4.9):",
            "",
        ]
        for name in summary:
            run = d / name / "seed0"
            parts = []
            for src, tag in (
                (run / "curves.png", "curves"),
                (run / "eval_test" / "confusion.png", "confusion"),
                (run / "eval_test" / "tsne.png", "tsne"),
            ):
                dst = figdir / f"exp2_{name}_{tag}.png"
                if _copy(src, dst):
                    parts.append(f"![{name} {tag}]({rel(dst)})")
            if parts:
                L += [f"- {name}: " + " ".join(parts)]
        L += [""]
    elif key == "exp3":
        p = figdir / "exp3_vendor_curves.png"
        if fig_vendor_curves(d, summary, p):
            L += [
                "Held-out-vendor accuracy per epoch, mean over seeds (thesis Figure 4.11):",
                "",
                f"![vendor curves]({rel(p)})",
                "",
            ]
    elif key == "exp4":
        p = figdir / "exp4_size.png"
        if fig_size(summary, p):
            L += [
                "Test accuracy against training-set size, mean ± 95 % CI (thesis Figure 4.12):",
                "",
                f"![size]({rel(p)})",
                "",
            ]
    return L
