"""The reproduction report's reading: verdicts from hand-made summaries (no runs needed)."""

from __future__ import annotations

from echostream.train.experiments.report_reading import compare, reading
from echostream.train.experiments.thesis import thesis_value


def _cell(mean: float, ci: float = 0.01, **meta: object) -> dict:
    acc = {"mean": mean, "ci95": ci, "n": 3, "low": mean - ci, "high": mean + ci}
    return {
        "meta": {"network": "mobilenet", **meta},
        "frame_accuracy": acc,
        "_values": [mean - ci / 2, mean, mean + ci / 2],
        "model": "mobilenet_v1_025",
        "input_size": [1, 128, 128],
        "init": ["ImageNet"],
        "images_seen": 640.0,
    }


def test_compare_words_follow_the_intervals() -> None:
    a, b = _cell(0.8)["frame_accuracy"], _cell(0.5)["frame_accuracy"]
    assert compare(a, b)[1] == "higher (intervals apart)"
    assert compare(b, a)[1] == "lower (intervals apart)"
    assert compare(a, _cell(0.805)["frame_accuracy"])[1] == "within noise (intervals overlap)"
    assert compare(a, None)[1] == "not run"


def test_finetuning_and_vendor_mix_lines() -> None:
    sums = {
        "exp2": {
            "mobilenet_full": _cell(0.8),
            "mobilenet_gradual_1": _cell(0.5),
            "mobilenet_gradual_2": _cell(0.6),
            "mobilenet_gradual_3": _cell(0.6),
        },
        "exp3": {
            "one": _cell(0.5, train=["a"]),
            "pair": _cell(0.7, train=["a", "b"]),
        },
    }
    lines = reading(sums, {"exp2": "smoke", "exp3": "smoke"})
    assert lines[0].startswith("- *Full fine-tuning beats gradual unfreezing*")
    assert (
        "best gradual schedule, mobilenet_gradual_2): full is higher (intervals apart)"
        in (lines[0])
    )
    assert "difference +20.0 points" in lines[0]
    assert "Gradual #3" in lines[1]  # #2 and #3 equal to the last digit
    assert any("averages 70.0 %, on one vendor 50.0 % — higher" in line for line in lines)


def test_flips_and_optimizer_lines_compare_best_validation_with_the_thesis() -> None:
    def run(val: float) -> dict:
        return {**_cell(0.5), "best_val_acc": _cell(val)["frame_accuracy"]}

    s1 = {
        "exp1_baseline_rmsprop_flips": run(0.55),
        "exp1_baseline_rmsprop": run(0.75),
        "exp1_baseline_adam": run(0.752),
    }
    flips, adam = reading({"exp1": s1}, {"exp1": "cpu"})
    assert flips.startswith("- *Flips lower the baseline's accuracy*")
    assert "ours lower (intervals apart), difference -20.0 points" in flips
    assert "thesis 90.7% vs 93.5% (-2.8 points" in flips
    assert "ours within noise (intervals overlap), difference +0.2 points" in adam
    assert "thesis 93.7% vs 93.5% (+0.2 points; Table 4.1 and text" in adam
    assert "still improving" not in adam
    s1["exp1_baseline_adam"].update(best_at_last_epoch=2, seeds=[0, 1, 2])
    assert "Best epoch the last in 2 of 3 runs" in reading({"exp1": s1}, {"exp1": "cpu"})[1]


def test_training_size_verdicts_and_prefixes() -> None:
    acc = {  # (network, % of the training split) → mean accuracy
        ("baseline", 1): 0.12,
        ("baseline", 5): 0.55,
        ("baseline", 25): 0.6,
        ("mobilenet_imagenet", 1): 0.12,
        ("mobilenet_imagenet", 5): 0.5,
        ("mobilenet_imagenet", 25): 0.8,
        ("mobilenet_random", 1): 0.12,
        ("mobilenet_random", 5): 0.3,
        ("mobilenet_random", 25): 0.7,
    }
    s4 = {f"{n}__{p}pct": _cell(m, fraction=p / 100) for (n, p), m in acc.items()}
    lines = reading({"exp4": s4}, {"exp4": "dev"})
    assert lines[0].startswith("- At 1 % of the training split every network stays at chance")
    assert "+20.0 points at 5 % (higher (intervals apart))" in lines[1]
    assert "; the verdict is in the table above. Thesis (Table 4.6, test accuracy): " in lines[1]

    def thesis(cell: str) -> float:
        return thesis_value("exp4", cell).percent

    gain = [
        thesis(f"mobilenet_imagenet__{p}pct") - thesis(f"mobilenet_random__{p}pct") for p in (5, 25)
    ]
    assert lines[1].endswith(f"{gain[0]:+.1f} at 5 %, {gain[1]:+.1f} at 25 %.")
    assert "least: baseline (the verdict" in lines[2] and "reproduced" not in lines[2]
    drop = thesis("baseline__25pct") - thesis("baseline__5pct")
    assert f"the same drops: baseline {drop:+.1f}, mobilenet_imagenet" in lines[2]
    assert "reaches 80.0 %" in lines[3]
    tiny = reading({"exp4": s4}, {"exp4": "tiny"})
    assert all(line.startswith("- (tiny scale: not meaningful) ") for line in tiny)
    at_chance = {k: _cell(0.13, fraction=c["meta"]["fraction"]) for k, c in s4.items()}
    (only,) = reading({"exp4": at_chance}, {"exp4": "dev"})
    assert "all cells near chance: not meaningful" in only and "cannot be tested" in only


def test_one_fully_fine_tuned_network_cannot_test_the_spread() -> None:
    """The cpu scale fine-tunes only MobileNet fully: the networks finding is not testable."""
    sums = {"exp2": {"mobilenet_full": _cell(0.8), "mobilenet_gradual_1": _cell(0.7)}}
    (line,) = [x for x in reading(sums, {"exp2": "cpu"}) if "InceptionV3" in x]
    assert "not testable at this scale" in line and "spread of the means" not in line
    assert "Thesis (Table 4.2, test accuracy): " in line
