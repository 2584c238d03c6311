"""The report's verdict per thesis finding, from hand-made summaries (no runs needed)."""

from __future__ import annotations

from echostream.train.experiments.report_verdicts import verdict_table, verdicts


def _cell(mean: float, ci: float = 0.01, last_best: int = 0, **meta: object) -> dict:
    acc = {"mean": mean, "ci95": ci, "n": 3, "low": mean - ci, "high": mean + ci}
    return {
        "meta": {"network": "mobilenet", **meta},
        "frame_accuracy": acc,
        "_values": [mean - ci / 2, mean, mean + ci / 2],
        "seeds": [0, 1, 2],
        "best_at_last_epoch": last_best,
    }


def _exp4(base_lo: float, im_lo: float, rn_lo: float, base_last_best: int = 0) -> dict:
    out = {}
    for net, lo in (
        ("baseline", base_lo),
        ("mobilenet_imagenet", im_lo),
        ("mobilenet_random", rn_lo),
    ):
        out[f"{net}__1pct"] = _cell(lo, fraction=0.01)
        out[f"{net}__25pct"] = _cell(
            0.9, fraction=0.25, last_best=base_last_best if net == "baseline" else 0
        )
    return out


def _by_name(sums: dict) -> dict[str, str]:
    return {v.finding.split(" (exp")[0]: v.verdict for v in verdicts(sums)}


def test_each_finding_gets_reproduced_when_the_runs_agree_with_the_thesis() -> None:
    sums = {
        "exp2": {
            "mobilenet_full": _cell(0.85),
            "inception_v3_full": _cell(0.87),
            "mobilenet_gradual_1": _cell(0.7),
        },
        "exp3": {"a": _cell(0.6, train=["x"]), "ab": _cell(0.8, train=["x", "y"])},
        "exp4": _exp4(base_lo=0.8, im_lo=0.7, rn_lo=0.3),
    }
    got = _by_name(sums)
    assert set(got.values()) == {"reproduced"}, got
    assert len(got) == 6


def test_overlap_other_way_left_out_and_under_trained_are_said() -> None:
    sums = {
        "exp2": {"mobilenet_full": _cell(0.70), "mobilenet_gradual_1": _cell(0.705)},
        "exp3": {"a": _cell(0.6, train=["x"]), "ab": _cell(0.4, train=["x", "y"])},
        "exp4": _exp4(base_lo=0.8, im_lo=0.5, rn_lo=0.5, base_last_best=2),
    }
    vs = {v.finding.split(" (exp")[0]: v for v in verdicts(sums)}
    assert vs["All networks similar, InceptionV3 slightly best"].verdict == "not testable"
    full = vs["Full fine-tuning beats gradual unfreezing"]
    assert full.verdict == "not reproduced" and "other direction, within noise" in full.why
    mix = vs["A mix of scanners in training generalizes better"]
    assert mix.verdict == "not reproduced" and "the other way, intervals apart" in mix.why
    base = vs["The baseline suffers least from less training data"]
    assert base.verdict == "not testable" and "under-trained" in base.why and "2 of 3" in base.why
    pre = vs["ImageNet pre-training helps drastically on small training sets"]
    assert pre.verdict == "not reproduced"


def test_missing_experiments_are_not_testable_and_the_table_has_a_row_each() -> None:
    lines = verdict_table({}, {})
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 6 and all("**not testable**" in r for r in rows)
    assert "Table 4.6" in "\n".join(lines)  # the thesis' evidence stands beside ours


def test_an_incomplete_grid_is_not_judged() -> None:
    sums = {"exp3": {"a": {**_cell(0.6, train=["x"])}, "ab": {**_cell(0.8, train=["x", "y"])}}}
    vs = verdicts(sums, {"exp3": "2 of 24 runs finished"})
    exp3 = [v for v in vs if v.finding.endswith("(exp 3)")]
    assert len(exp3) == 2
    assert all(v.verdict == "not testable" and "2 of 24 runs finished" in v.why for v in exp3)
