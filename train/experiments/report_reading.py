"""The reproduction report's reading: which of the thesis' findings our runs reproduce, in
words, with the differences and their 95 % confidence intervals.

Example::

    lines = reading(summaries, {"exp2": "smoke", "exp3": "smoke"})
"""

from __future__ import annotations

import math
from typing import Any

from .common import init_note, model_desc
from .thesis import thesis_mean, thesis_value

CHANCE = 1 / 8  # 8 balanced views


def at_chance(summary: dict[str, Any], margin: float = 0.07) -> bool:
    """True when every cell's mean accuracy is within ``margin`` of chance."""
    ms = [c["frame_accuracy"]["mean"] for c in summary.values()]
    return all(m is None or m < CHANCE + margin for m in ms)


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


def cell_acc(summary: dict[str, Any], cell: str) -> dict[str, Any] | None:
    c = summary.get(cell)
    return c["frame_accuracy"] if c else None


def pooled(summary: dict[str, Any], cells: list[str]) -> dict[str, Any] | None:
    """Mean ± CI over all seeds of several cells (each run one value)."""
    from .stats import mean_ci

    vals: list[float] = []
    for name in cells:
        vals += [r for r in summary[name].get("_values", [])]
    return mean_ci(vals).to_dict() if vals else None


def reading(sums: dict[str, dict[str, Any]], scales: dict[str, str]) -> list[str]:
    """Bullet lines: each thesis finding against our runs."""
    lines = []
    if sums.get("exp1"):
        lines += _optimizer_and_flips(sums["exp1"], _prefix("exp1", sums, scales))
    if sums.get("exp2"):
        lines += _finetuning(sums["exp2"], _prefix("exp2", sums, scales))
    if sums.get("exp3"):
        lines += _vendor_mix(sums["exp3"], _prefix("exp3", sums, scales))
    if sums.get("exp4"):
        lines += _training_size(sums["exp4"], _prefix("exp4", sums, scales))
    return lines


def _prefix(key: str, sums: dict[str, dict[str, Any]], scales: dict[str, str]) -> str:
    """What goes before an experiment's lines when its runs say nothing (tiny, or at chance)."""
    if scales.get(key) == "tiny":
        return "(tiny scale: not meaningful) "
    if key in sums and at_chance(sums[key]):
        return f"({scales.get(key)} scale, all cells near chance: not meaningful) "
    return ""


def _optimizer_and_flips(s1: dict[str, Any], pre: str) -> list[str]:
    """Experiment 1: flips against none (RMSprop) and Adam against RMSprop, on the best
    validation accuracy, the one number the thesis gives for all three runs."""
    lines = []
    rms = "exp1_baseline_rmsprop"
    pairs = (
        ("Flips lower the baseline's accuracy", f"{rms}_flips", rms),
        ("Adam and RMSprop do alike", "exp1_baseline_adam", rms),
    )
    for title, a, b in pairs:
        if a not in s1 or b not in s1:
            continue
        diff, word = compare(s1[a]["best_val_acc"], s1[b]["best_val_acc"])
        ta = thesis_value("exp1", a, "max_val_accuracy")
        tb = thesis_value("exp1", b, "max_val_accuracy")
        thesis = (
            f"thesis {ta.text} vs {tb.text} ({ta.percent - tb.percent:+.1f} points; {ta.source} "
            f"and {tb.source})"
            if ta and tb and ta.percent is not None and tb.percent is not None
            else "thesis: no pair of numbers"
        )
        late = sum(s1[c].get("best_at_last_epoch", 0) for c in (a, b))
        runs = sum(len(s1[c].get("seeds", [])) for c in (a, b))
        lines.append(
            f"- {pre}*{title}* (Table 4.1 and its text; best validation accuracy, {a} vs {b}): "
            f"ours {word}, difference {100 * diff:+.1f} points; {thesis}."
            + (f" Best epoch the last in {late} of {runs} runs: still improving." if late else "")
        )
    return lines


def _finetuning(s2: dict[str, Any], pre: str) -> list[str]:
    """Experiment 2: full fine-tuning against gradual unfreezing, and the networks' spread."""
    lines = []
    full = cell_acc(s2, "mobilenet_full")
    grads = [c for c in s2 if c.startswith("mobilenet_gradual")]
    best = max(grads, key=lambda c: s2[c]["frame_accuracy"]["mean"] or 0, default=None)
    diff, word = compare(full, cell_acc(s2, best) if best else None)
    each = []
    for g in sorted(grads):
        d_g, w_g = compare(full, cell_acc(s2, g))
        if not math.isnan(d_g):
            each.append(f"{g} {100 * d_g:+.1f} ({w_g.split(' (')[0]})")
    lines.append(
        f"- {pre}*Full fine-tuning beats gradual unfreezing* (MobileNet, full vs the best "
        f"gradual schedule, {best}): full is {word}, difference {100 * diff:+.1f} points"
        + (f"; full minus each schedule: {', '.join(each)}" if each else "")
        + ". The schedules differ in learning rates and epochs as well as in what "
        "trains when (see the method column), so only equal-rate, equal-epoch pairs compare "
        "the unfreezing itself. Thesis: no number (its gradual runs are learning curves only, "
        "Figure 4.6); it states that the maximum came with the whole network open."
    )
    g2, g3 = cell_acc(s2, "mobilenet_gradual_2"), cell_acc(s2, "mobilenet_gradual_3")
    if g2 and g3 and g2.get("mean") is not None and g2.get("mean") == g3.get("mean"):
        lines.append(
            f"- {pre}Gradual #3 (best weights restored after each stage) equals #2 here "
            "to the last digit: restoring changed nothing, which is what happens when each "
            "stage's lowest validation loss falls on its last epoch (still improving)."
        )
    nets = {k: v for k, v in s2.items() if k.endswith("_full")}
    if len(nets) == 1:
        lines.append(
            f"- {pre}*InceptionV3 slightly best, all similar*: not testable at this scale, where "
            f"only one network was fully fine-tuned ({model_desc(next(iter(nets.values())))}). "
            + _thesis_networks()
        )
    elif nets:
        top = max(nets, key=lambda c: nets[c]["frame_accuracy"]["mean"] or 0)
        lines.append(
            f"- {pre}*InceptionV3 slightly best, all similar*: our best full fine-tune is "
            f"{model_desc(s2[top])} ({init_note(s2[top])}); spread of the means "
            f"{100 * _spread(nets):.1f} points. Networks without reachable ImageNet weights "
            "ran from random initialisation, so this comparison is not the thesis' one. "
            + _thesis_networks()
        )
    return lines


def _vendor_mix(s3: dict[str, Any], pre: str) -> list[str]:
    """Experiment 3: per network, trained on a pair of vendors against on a single one."""
    lines = []
    for net in sorted({c["meta"].get("network") for c in s3.values()}):
        single = vendor_cells(s3, net, 1)
        pair = vendor_cells(s3, net, 2)
        mp = _mean_of(s3, pair)
        ms = _mean_of(s3, single)
        if math.isnan(mp) or math.isnan(ms):
            continue
        diff, word = compare(pooled(s3, pair), pooled(s3, single))
        lines.append(
            f"- {pre}*Mixing vendors generalizes better* ({net}): trained on a pair, held-out "
            f"accuracy averages {100 * mp:.1f} %, on one vendor {100 * ms:.1f} % — "
            f"{word}, {100 * diff:+.1f} points (all runs of each kind pooled for the "
            "interval; a pair is tested on one vendor, a single on two, so the test sets "
            "differ). " + _thesis_vendor_mix(pair, single)
        )
    return lines


def vendor_cells(s3: dict[str, Any], net: str | None, n_vendors: int) -> list[str]:
    """Cells of ``net`` trained on ``n_vendors`` vendors."""
    return [
        k
        for k, c in s3.items()
        if c["meta"].get("network") == net and len(c["meta"].get("train", [])) == n_vendors
    ]


def _training_size(s4: dict[str, Any], pre: str) -> list[str]:
    """Experiment 4: what less training data does, from the smallest fraction that learns."""
    fr = sorted({c["meta"]["fraction"] for c in s4.values()})
    learnable = learnable_fractions(s4)
    if len(fr) < 2:
        return []
    if not (learnable and learnable[0] < fr[-1]):
        return [
            f"- {pre}*Training-set size*: no smaller fraction than the largest has a network "
            "above chance level, so the findings on little data cannot be tested at this "
            "scale."
        ]
    lines = []
    below = [f for f in fr if f < learnable[0]]
    if below:
        lines.append(
            f"- {pre}At {', '.join(f'{100 * f:g} %' for f in below)} of the training "
            "split every network stays at chance level; the comparisons below use the "
            f"smallest fraction at which one learns, {100 * learnable[0]:g} %."
        )
    lo, hi = learnable[0], fr[-1]
    lines += _pretraining_with_little_data(s4, lo, hi, pre)
    lines += _baseline_drop(s4, lo, hi, pre)
    top = max(s4.values(), key=lambda c: c["frame_accuracy"]["mean"] or 0)
    lines.append(
        f"- {pre}At this scale the best training-set-size cell reaches "
        f"{100 * (top['frame_accuracy']['mean'] or 0):.1f} % ({model_desc(top)}, "
        f"{100 * top['meta']['fraction']:g} %): every run sees only "
        f"~{top['images_seen']:.0f} images, so these runs separate little."
    )
    return lines


def learnable_fractions(s4: dict[str, Any]) -> list[float]:
    """Experiment 4's fractions at which some network learns at all (above chance + 7 points),
    smallest first: below them every comparison is between runs that all sit at chance."""
    return sorted(
        {
            c["meta"]["fraction"]
            for c in s4.values()
            if (c["frame_accuracy"]["mean"] or 0) >= CHANCE + 0.07
        }
    )


def size_cell(net: str, fraction: float) -> str:
    """Experiment 4's cell name of ``net`` at a training fraction."""
    return f"{net}__{fraction * 100:g}pct"


def _pretraining_with_little_data(s4: dict[str, Any], lo: float, hi: float, pre: str) -> list[str]:
    """ImageNet minus random MobileNet at the smallest learning fraction and the largest."""
    d_lo, w_lo = compare(
        cell_acc(s4, size_cell("mobilenet_imagenet", lo)),
        cell_acc(s4, size_cell("mobilenet_random", lo)),
    )
    d_hi, w_hi = compare(
        cell_acc(s4, size_cell("mobilenet_imagenet", hi)),
        cell_acc(s4, size_cell("mobilenet_random", hi)),
    )
    if math.isnan(d_lo) or math.isnan(d_hi):
        return []
    return [
        f"- {pre}*Pretraining helps most with little data*: ImageNet minus random "
        f"MobileNet is {100 * d_lo:+.1f} points at {100 * lo:g} % ({w_lo}) and "
        f"{100 * d_hi:+.1f} at {100 * hi:g} % ({w_hi}); the verdict is in the table above. "
        "Thesis (Table 4.6, "
        "test accuracy): "
        + _thesis_differences(
            [
                (f, size_cell("mobilenet_imagenet", f), size_cell("mobilenet_random", f))
                for f in (lo, hi)
            ]
        )  # fmt: skip
        + "."
    ]


def _baseline_drop(s4: dict[str, Any], lo: float, hi: float, pre: str) -> list[str]:
    """Each network's accuracy drop from the largest fraction to the smallest that learns."""
    drops = {}
    for net in ("baseline", "mobilenet_imagenet", "mobilenet_random"):
        a, b = cell_acc(s4, size_cell(net, hi)), cell_acc(s4, size_cell(net, lo))
        if a and b and a.get("mean") is not None and b.get("mean") is not None:
            drops[net] = a["mean"] - b["mean"]
    if len(drops) != 3:
        return []
    least = min(drops, key=lambda k: drops[k])
    return [
        f"- {pre}*The baseline suffers least from less data*: accuracy drops from "
        f"{100 * hi:g} % to {100 * lo:g} % by "
        + ", ".join(f"{k} {100 * v:.1f}" for k, v in drops.items())
        + f" points; least: {least} (the verdict, which also asks whether each network was "
        "still improving, is in the table above). Thesis (Table 4.6, test accuracy), the same "
        "drops: "
        + ", ".join(
            f"{net} {_thesis_difference(size_cell(net, hi), size_cell(net, lo))}" for net in drops
        )
        + "."
    ]


def _thesis_networks() -> str:
    """The thesis' Table 4.2 test accuracies of the fully fine-tuned networks, and their spread."""
    cells = ["nasnet_mobile_full", "inception_v3_full", "vgg16_full", "mobilenet_full"]
    values = {c: thesis_value("exp2", c) for c in cells}
    nums = [v.percent for v in values.values() if v is not None and v.percent is not None]
    listed = ", ".join(f"{c.removesuffix('_full')} {v.text}" for c, v in values.items() if v)
    spread = f"; spread {max(nums) - min(nums):.1f} points" if nums else ""
    return f"Thesis (Table 4.2, test accuracy): {listed}{spread}."


def _thesis_vendor_mix(pair: list[str], single: list[str]) -> str:
    """The thesis' Table 4.4 means over the same pair and single-vendor cells."""
    mp = thesis_mean("exp3", pair, "max_val_accuracy")
    ms = thesis_mean("exp3", single, "max_val_accuracy")
    if mp is None or ms is None:
        return "Thesis: no matching Table 4.4 cells."
    return (
        f"Thesis (Table 4.4, best held-out validation accuracy): pairs {mp:.1f} %, single "
        f"vendors {ms:.1f} %, {mp - ms:+.1f} points."
    )


def _thesis_difference(a: str, b: str) -> str:
    """The thesis' exp4 value of cell ``a`` minus cell ``b`` in points, or why there is none."""
    va, vb = thesis_value("exp4", a), thesis_value("exp4", b)
    if va is None or vb is None or va.percent is None or vb.percent is None:
        return "(no thesis row)"
    return f"{va.percent - vb.percent:+.1f}"


def _thesis_differences(pairs: list[tuple[float, str, str]]) -> str:
    return ", ".join(f"{_thesis_difference(a, b)} at {100 * f:g} %" for f, a, b in pairs)


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
