"""One verdict per finding of the thesis' abstract: reproduced, not reproduced, or not testable,
with our numbers beside the thesis'.

The rules, the same for every finding: an effect is *reproduced* when it goes the thesis' way
with the two 95 % intervals apart, *not reproduced* when it goes the other way with the
intervals apart or when it goes the thesis' way only within noise (said so), and *not testable*
when the runs cannot show it at this scale (a network left out, every cell at chance, or the
network the finding is about still improving at its last epoch — under-trained).

Example::

    lines = verdict_table(summaries, {"exp2": "cpu", "exp3": "cpu", "exp4": "cpu"})
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .report_reading import (
    CHANCE,
    at_chance,
    cell_acc,
    compare,
    learnable_fractions,
    pooled,
    size_cell,
    vendor_cells,
)
from .thesis import thesis_findings

WELL_ABOVE_CHANCE = CHANCE + 0.07  # the same margin as "at chance" in the reading
RULES = (
    "An effect is *reproduced* when it goes the thesis' way with the two 95 % intervals apart; "
    "*not reproduced* when it goes the other way, or the thesis' way only within noise (said "
    "so); *not testable* when the runs cannot show it at this scale (a network left out, every "
    "cell at chance, or the network the finding is about still improving at its last epoch)."
)


@dataclass
class Verdict:
    """One row of the verdict table."""

    finding: str
    thesis: str
    ours: str
    verdict: str  # reproduced | not reproduced | not testable
    why: str = ""


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _ci(a: dict[str, Any] | None) -> str:
    if not a or a.get("mean") is None:
        return "—"
    ci = a.get("ci95")
    return f"{100 * a['mean']:.1f} ± {100 * ci:.1f} %" if ci else f"{100 * a['mean']:.1f} %"


def _by_effect(diff: float, word: str, what: str) -> tuple[str, str]:
    """Verdict and reason for an effect the thesis says is positive (``diff`` > 0)."""
    if word.startswith("higher (intervals apart)"):
        return "reproduced", f"{what}: intervals apart"
    if word.startswith("lower (intervals apart)"):
        return "not reproduced", f"{what}: the other way, intervals apart"
    side = "same direction" if diff > 0 else "the other direction"
    return "not reproduced", f"{what}: {side}, within noise (intervals overlap)"


def _networks(s2: dict[str, Any] | None, evidence: str) -> Verdict:
    name = "All networks similar, InceptionV3 slightly best (exp 2)"
    nets = {k.removesuffix("_full"): v for k, v in (s2 or {}).items() if k.endswith("_full")}
    if "inception_v3" not in nets or len(nets) < 2:
        ours = ", ".join(f"{k} {_ci(v['frame_accuracy'])}" for k, v in nets.items()) or "—"
        why = "only " + (", ".join(nets) or "no network") + " fully fine-tuned at this scale"
        return Verdict(name, evidence, ours, "not testable", why)
    means = {k: v["frame_accuracy"]["mean"] or 0.0 for k, v in nets.items()}
    spread = max(means.values()) - min(means.values())
    top = max(means, key=lambda k: means[k])
    ours = ", ".join(f"{k} {_pct(m)}" for k, m in means.items()) + f"; spread {100 * spread:.1f}"
    ok = top == "inception_v3" and spread <= 0.05
    why = f"best: {top}; similar means a spread of at most 5 points"
    return Verdict(name, evidence, ours, "reproduced" if ok else "not reproduced", why)


def _full_vs_gradual(s2: dict[str, Any] | None, evidence: str) -> Verdict:
    name = "Full fine-tuning beats gradual unfreezing (exp 2)"
    full = cell_acc(s2 or {}, "mobilenet_full")
    grads = sorted(c for c in (s2 or {}) if c.startswith("mobilenet_gradual"))
    if not full or not grads or s2 is None:
        return Verdict(name, evidence, "—", "not testable", "no full and gradual MobileNet runs")
    if at_chance(s2):
        return Verdict(name, evidence, "—", "not testable", "every cell at chance")
    best = max(grads, key=lambda c: s2[c]["frame_accuracy"]["mean"] or 0)
    diff, word = compare(full, cell_acc(s2, best))
    verdict, why = _by_effect(diff, word, f"full minus the best schedule ({best})")
    ours = f"full {_ci(full)}; " + ", ".join(
        f"{g.removeprefix('mobilenet_')} {_ci(cell_acc(s2, g))}" for g in grads
    )
    still = [g for g in grads if 2 * s2[g].get("best_at_last_epoch", 0) > len(s2[g]["seeds"])]
    if still:
        why += f"; still improving at their last epoch in most seeds: {', '.join(still)}"
    return Verdict(name, evidence, ours, verdict, why)


def _generalizes(s3: dict[str, Any] | None, evidence: str) -> list[Verdict]:
    names = (
        "Networks generalize to scanners not trained on (exp 3)",
        "A mix of scanners in training generalizes better (exp 3)",
    )
    if not s3:
        return [Verdict(n, evidence, "—", "not testable", "exp 3 not run") for n in names]
    nets = sorted({str(c["meta"].get("network")) for c in s3.values()})
    held, mix, verdicts = [], [], []
    for net in nets:
        single, pair = vendor_cells(s3, net, 1), vendor_cells(s3, net, 2)
        all_runs = pooled(s3, single + pair)
        held.append((net, all_runs))
        diff, word = compare(pooled(s3, pair), pooled(s3, single))
        mix.append((net, diff, word, pooled(s3, pair), pooled(s3, single)))
    low_ok = all(a and a.get("low") is not None and a["low"] > WELL_ABOVE_CHANCE for _, a in held)
    verdicts.append(
        Verdict(
            names[0],
            evidence,
            "held-out accuracy, every run: " + ", ".join(f"{n} {_ci(a)}" for n, a in held),
            "reproduced" if low_ok else "not reproduced",
            f"lower 95 % bound above {_pct(WELL_ABOVE_CHANCE)} (chance {_pct(CHANCE)} + 7 points)"
            + ("" if low_ok else ": not for every network"),
        )
    )
    parts = [_by_effect(d, w, n) for n, d, w, _, _ in mix]
    ours = "; ".join(f"{n}: pairs {_ci(p)}, single {_ci(s)}" for n, _, _, p, s in mix)
    verdict = "reproduced" if all(v == "reproduced" for v, _ in parts) else "not reproduced"
    verdicts.append(Verdict(names[1], evidence, ours, verdict, "; ".join(w for _, w in parts)))
    return verdicts


def _size(s4: dict[str, Any] | None, evidence: str) -> list[Verdict]:
    names = (
        "The baseline suffers least from less training data (exp 4)",
        "ImageNet pre-training helps drastically on small training sets (exp 4)",
    )
    fr = sorted({c["meta"]["fraction"] for c in (s4 or {}).values()})
    learn = learnable_fractions(s4 or {})
    if not s4 or len(fr) < 2 or not learn or learn[0] >= fr[-1]:
        why = "exp 4 not run" if not s4 else "no smaller fraction than the largest learns"
        return [Verdict(n, evidence, "—", "not testable", why) for n in names]
    lo, hi = learn[0], fr[-1]
    nets = ("baseline", "mobilenet_imagenet", "mobilenet_random")
    accs = {n: (cell_acc(s4, size_cell(n, hi)), cell_acc(s4, size_cell(n, lo))) for n in nets}
    ours = "; ".join(f"{n} {_ci(a)} → {_ci(b)}" for n, (a, b) in accs.items())
    ours = f"{100 * hi:g} % → {100 * lo:g} %: {ours}"
    return [_baseline_least(s4, accs, hi, names[0], evidence, ours),
            _pretraining(accs, names[1], evidence, ours)]  # fmt: skip


def _baseline_least(s4, accs, hi, name, evidence, ours) -> Verdict:
    base_hi = s4.get(size_cell("baseline", hi), {})
    if 2 * base_hi.get("best_at_last_epoch", 0) > len(base_hi.get("seeds", [])):
        why = (
            f"the baseline is under-trained here: at {100 * hi:g} % its best validation epoch "
            f"was its last in {base_hi['best_at_last_epoch']} of {len(base_hi['seeds'])} seeds"
        )
        return Verdict(name, evidence, ours, "not testable", why)
    drops = {n: a["mean"] - b["mean"] for n, (a, b) in accs.items() if a and b}
    if len(drops) < 3 or any(math.isnan(d) for d in drops.values()):
        return Verdict(name, evidence, ours, "not testable", "a network's cells are missing")
    least = min(drops, key=lambda n: drops[n])
    noisy = all(compare(a, b)[1].startswith("within") for a, b in accs.values())
    why = "drops: " + ", ".join(f"{n} {100 * d:.1f}" for n, d in drops.items()) + " points"
    if noisy:
        return Verdict(name, evidence, ours, "not testable", why + "; every drop within noise")
    return Verdict(name, evidence, ours, "reproduced" if least == "baseline" else
                   "not reproduced", why + f"; least: {least}")  # fmt: skip


def _pretraining(accs, name, evidence, ours) -> Verdict:
    (im_hi, im_lo), (rn_hi, rn_lo) = accs["mobilenet_imagenet"], accs["mobilenet_random"]
    d_lo, w_lo = compare(im_lo, rn_lo)
    d_hi, _ = compare(im_hi, rn_hi)
    if math.isnan(d_lo):
        return Verdict(name, evidence, ours, "not testable", "a MobileNet cell is missing")
    verdict, why = _by_effect(d_lo, w_lo, "ImageNet minus random at the smallest size")
    why += f" ({100 * d_lo:+.1f} points there, {100 * d_hi:+.1f} at the largest)"
    if verdict == "reproduced" and not d_lo > d_hi:
        verdict, why = "not reproduced", why + ": the gain is not larger with less data"
    return Verdict(name, evidence, ours, verdict, why)


def verdicts(
    sums: dict[str, dict[str, Any]], incomplete: dict[str, str] | None = None
) -> list[Verdict]:
    """The abstract's four findings (the third and fourth in two parts each) against our runs;
    an experiment in ``incomplete`` (key → e.g. "2 of 36 runs finished") is not judged."""
    incomplete = incomplete or {}
    sums = {k: v for k, v in sums.items() if k not in incomplete}
    ev = {f.id: f.evidence for f in thesis_findings()}
    out = [
        _networks(sums.get("exp2"), ev["networks_similar_inception_best"]),
        _full_vs_gradual(sums.get("exp2"), ev["full_finetuning_beats_gradual"]),
        *_generalizes(sums.get("exp3"), ev["vendor_generalization_and_mix"]),
        *_size(sums.get("exp4"), ev["baseline_least_hurt_pretraining_helps"]),
    ]
    for v in out:
        key = "exp" + v.finding.rsplit("(exp ", 1)[-1].rstrip(")")
        if key in incomplete:
            v.ours, v.verdict, v.why = "—", "not testable", f"{key} incomplete: {incomplete[key]}"
    return out


def verdict_table(
    sums: dict[str, dict[str, Any]],
    scales: dict[str, str],
    incomplete: dict[str, str] | None = None,
) -> list[str]:
    """Markdown: the verdicts section of the report."""
    shown = ", ".join(f"{k} {v}" for k, v in sorted(scales.items())) or "none"
    lines = [
        "## Verdicts: the thesis' findings against our runs",
        "",
        f"Scales: {shown} (simulated data). {RULES}",
        "",
        "| finding | thesis (real data) | ours (simulated, mean ± 95 % CI) | verdict | why |",
        "|---|---|---|---|---|",
    ]
    for v in verdicts(sums, incomplete):
        cells = (v.finding, v.thesis, v.ours, f"**{v.verdict}**", v.why)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines + [""]
