"""Temporal stages: EMA math, rolling-vote window, hysteresis against flicker, uncertain gate,
chains from config, and the bench's smoothing metrics on synthetic probability sequences."""

from __future__ import annotations

import numpy as np
import pytest

from echostream.stream.bench_smoothing import (
    flicker_rate,
    segments,
    smoothing_metrics,
    time_to_stable,
)
from echostream.stream.defaults import load_stream_config
from echostream.stream.temporal import (
    EMA,
    FALLBACK_FPS,
    Hysteresis,
    Prediction,
    RollingVote,
    TemporalChain,
    UncertainGate,
)

DEFAULTS = load_stream_config()


def noisy_sweep(seed: int = 0, n_per_view: int = 150, k: int = 8, views=(4, 6, 0)) -> tuple:
    """Per-frame probabilities: the true view leads by a small margin under heavy noise, so
    raw argmax flickers; returns (probs (N, K), truth (N,))."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(views, n_per_view)
    logits = rng.normal(0, 1.0, (len(truth), k))
    logits[np.arange(len(truth)), truth] += 1.6
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), truth


def switches(idx: list[int]) -> int:
    return sum(a != b for a, b in zip(idx, idx[1:], strict=False))


def test_ema_math() -> None:
    ema = EMA(alpha=0.25)
    seq = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    expected = seq[0].copy()
    out = [ema.update(seq[0]).probs]
    for p in seq[1:]:
        expected = 0.25 * p + 0.75 * expected
        out.append(ema.update(p).probs)
    np.testing.assert_allclose(out[-1], expected, rtol=1e-6)
    assert ema.update(np.array([0.0, 1.0])).index == 1
    ema.reset()
    np.testing.assert_allclose(ema.update(np.array([0.3, 0.7])).probs, [0.3, 0.7], rtol=1e-6)
    with pytest.raises(ValueError):
        EMA(alpha=0.0)


def test_rolling_vote_window_semantics() -> None:
    vote = RollingVote(window=4)
    onehot = np.eye(3)
    got = [vote.update(onehot[i]) for i in (0, 0, 1, 1, 1, 2, 2, 2)]
    # window contents: [0] [0,0] [0,0,1] [0,0,1,1]→tie [0,1,1,1] [1,1,1,2] [1,1,2,2]→tie [1,2,2,2]
    assert [g.index for g in got[:3]] == [0, 0, 0]
    assert got[4].index == 1 and got[4].vote_share == pytest.approx(0.75)
    assert got[5].index == 1
    assert got[7].index == 2 and got[7].vote_share == pytest.approx(0.75)
    assert len(vote._votes) == 4  # the deque keeps only the window
    # A tie goes to the label with the higher summed probability in the window.
    v = RollingVote(window=2)
    v.update(np.array([0.6, 0.4, 0.0]))
    assert v.update(np.array([0.05, 0.95, 0.0])).index == 1


def test_hysteresis_holds_then_switches() -> None:
    h = Hysteresis(margin=0.2, patience=3)
    assert h.update(np.array([0.9, 0.1])).index == 0
    # A small lead is not enough, however long it lasts.
    assert all(h.update(np.array([0.45, 0.55])).index == 0 for _ in range(10))
    # A clear lead must last `patience` frames.
    idx = [h.update(np.array([0.2, 0.8])).index for _ in range(4)]
    assert idx == [0, 0, 1, 1]
    # An interrupted challenge starts counting again.
    h.reset()
    h.update(np.array([0.9, 0.1]))
    seq = [[0.1, 0.9], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]]
    assert [h.update(np.array(p)).index for p in seq] == [0, 0, 0, 0, 0]


def test_hysteresis_stops_flicker_on_noisy_sequence() -> None:
    probs, truth = noisy_sweep()
    raw = [int(np.argmax(p)) for p in probs]
    chain = TemporalChain([EMA(alpha=0.3), Hysteresis(margin=0.1, patience=3)])
    smooth = [p.index for p in chain.run(probs)]
    assert switches(raw) > 100  # the raw labels really flicker
    assert switches(smooth) <= switches(raw) / 10
    assert switches(smooth) >= 2  # and still follow the two real view changes
    assert smooth[-1] == truth[-1]


def test_uncertain_gate() -> None:
    gate = UncertainGate(threshold=0.6)
    assert gate.update(np.array([0.55, 0.45])).uncertain
    assert not gate.update(np.array([0.65, 0.35])).uncertain
    low_vote = Prediction.from_probs(np.array([0.9, 0.1]))
    low_vote = Prediction(low_vote.probs, 0, 0.9, vote_share=0.4)
    assert UncertainGate(threshold=0.5, min_vote_share=0.5).update(low_vote).uncertain
    assert Prediction.from_probs(np.array([0.2, 0.8])).label(["A", "B"]) == "B"
    assert gate.update(np.array([0.5, 0.5])).label(["A", "B"]) == "uncertain"


def test_chain_from_config_and_errors() -> None:
    chain = TemporalChain.from_config(DEFAULTS["smoother"], fps=50.0)
    assert [type(s).__name__ for s in chain.stages] == ["EMA", "RollingVote", "UncertainGate"]
    assert "ema(alpha=0.5)" in chain.describe() and "[at 50 fps]" in chain.describe()
    assert TemporalChain.from_config({}).describe() == "raw"
    assert TemporalChain.from_config(None).update(np.array([0.2, 0.8])).index == 1
    with pytest.raises(ValueError, match="unknown smoother stage"):
        TemporalChain.from_config({"stages": ["kalman"]})


def test_smoother_times_in_seconds_follow_the_frame_rate() -> None:
    cfg = {"stages": ["vote", "hysteresis"], "vote": {"window_s": 0.8},
           "hysteresis": {"margin": 0.0, "patience_s": 0.1}}  # fmt: skip
    for fps, window, patience in ((30.0, 24, 3), (60.0, 48, 6), (80.0, 64, 8)):
        vote, hyst = TemporalChain.from_config(cfg, fps=fps).stages
        assert (vote.window, hyst.patience) == (window, patience)
    fallback = TemporalChain.from_config(cfg, fps=None)  # a live stream that gives no rate
    assert fallback.stages[0].window == round(0.8 * FALLBACK_FPS)
    assert f"[at {FALLBACK_FPS:g} fps]" in fallback.describe()
    assert TemporalChain.from_config({"stages": ["vote"], "vote": {"window": 5}}).fps is None
    with pytest.raises(ValueError, match="window or window_s"):
        TemporalChain.from_config({"stages": ["vote"], "vote": {"window": 5, "window_s": 1}})
    with pytest.raises(ValueError, match="> 0 s"):
        TemporalChain.from_config({"stages": ["vote"], "vote": {"window_s": 0}}, fps=30)


def test_temporal_docstring_examples_run() -> None:
    import doctest

    from echostream.stream import temporal

    assert doctest.testmod(temporal).failed == 0


def test_user_smoother_merges_over_the_defaults(tmp_path) -> None:
    user = tmp_path / "s.yaml"
    user.write_text("smoother:\n  stages: [vote]\n  vote: {window: 5}\n")
    cfg = load_stream_config(user)
    assert cfg["smoother"]["stages"] == ["vote"] and cfg["smoother"]["vote"]["window"] == 5
    assert cfg["smoother"]["ema"] == DEFAULTS["smoother"]["ema"]  # merged, not replaced
    assert "window_s" not in cfg["smoother"]["vote"]  # frames given: the default seconds go
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_stream_config(bad)


def test_smoothing_metrics_on_synthetic_sweep() -> None:
    assert segments([0, 0, -1, 1, 1, 1]) == [(0, 2, 0), (3, 6, 1)]
    fps = 50.0
    pred = [0] * 50 + [1, 0] * 5 + [1] * 40
    truth = [0] * 50 + [1] * 50
    f = flicker_rate(pred, truth, fps, settle_s=0.0)
    assert f["switches"] == 11 - 1  # the change itself at a segment boundary is not counted
    assert f["per_minute"] == pytest.approx(10 / (100 / fps / 60))
    t = time_to_stable(pred, truth, fps, hold_s=0.5)
    assert t["changes"] == 1 and t["all_s"][0] == pytest.approx(10 / fps)
    assert time_to_stable([0] * 100, truth, fps, 0.5)["never"] == 1

    probs, truth = noisy_sweep()
    m = smoothing_metrics(probs, truth, 30.0, {"default": DEFAULTS["smoother"]}, settle_s=0.5)
    raw, smooth = m["raw"], m["default"]
    assert raw["flicker"]["per_minute"] > 0
    assert smooth["flicker_reduction"] >= 5
    assert smooth["time_to_stable"]["never"] == 0
    assert smooth["time_to_stable"]["max_s"] <= 0.5


def test_pooled_smoothing_sums_events_over_cines_at_their_own_rates() -> None:
    from echostream.stream.bench_smoothing import pooled_smoothing_metrics

    a, b = noisy_sweep(seed=1), noisy_sweep(seed=2, n_per_view=300)
    settings = {"vote": {"stages": ["vote"], "vote": {"window_s": 0.5}}}
    one = [smoothing_metrics(p, t, fps, settings) for (p, t), fps in ((a, 30.0), (b, 60.0))]
    pooled = pooled_smoothing_metrics([(*a, 30.0), (*b, 60.0)], settings)
    for name in ("raw", "vote"):
        flick = pooled[name]["flicker"]
        assert flick["switches"] == sum(m[name]["flicker"]["switches"] for m in one)
        assert flick["steady_s"] == pytest.approx(sum(m[name]["flicker"]["steady_s"] for m in one))
        assert flick["per_minute"] == pytest.approx(flick["switches"] / (flick["steady_s"] / 60))
        tts = pooled[name]["time_to_stable"]
        assert tts["all_s"] == one[0][name]["time_to_stable"]["all_s"] + one[1][name][
            "time_to_stable"]["all_s"]  # fmt: skip
    # 0.5 s is 15 frames at 30 fps and 30 frames at 60 fps: each cine its own chain
    assert pooled["vote"]["chain"] == "vote(window=15) [at 30 fps] | vote(window=30) [at 60 fps]"
    rate, raw_rate = (pooled[k]["flicker"]["per_minute"] for k in ("vote", "raw"))
    expected = raw_rate / rate if rate else float("inf")
    assert pooled["vote"]["flicker_reduction"] == pytest.approx(expected)


def test_smoothing_ratios_judge_the_configured_smoother_not_classifier_errors() -> None:
    from echostream.stream.bench_smoothing import pooled_smoothing_metrics, smoothing_ratios

    fps = 30.0
    truth = [0] * 90 + [1] * 45 + [2] * 45
    labels = [0] * 90 + [1] * 45 + [1] * 45  # never 2: the classifier's error, not smoothing's
    for i in (30, 31, 50, 70, 71, 80):  # short blips on the first stretch
        labels[i] = 3
    probs = np.full((len(truth), 4), 0.02)
    probs[np.arange(len(truth)), labels] = 0.94
    settings = {
        "configured": {"stages": ["vote"], "vote": {"window_s": 0.3}},
        "too slow": {"stages": ["vote"], "vote": {"window_s": 4.0}},
    }
    m = pooled_smoothing_metrics([(probs, truth, fps)], settings)
    assert m["raw"]["time_to_stable"]["never"] == 1  # the stretch the classifier gets wrong
    assert m["configured"]["time_to_stable"]["lost"] == 0
    assert m["too slow"]["time_to_stable"]["lost"] == 1  # raw settles on view 1, this does not
    r = smoothing_ratios(m)
    assert r["time_to_stable_never"] == r["raw_never_settles"] == 1 and r["view_changes"] == 2
    assert r["time_to_stable_lost"] == 0
    assert r["time_to_stable_s"] == m["configured"]["time_to_stable"]["max_s"] <= 0.5
    assert r["flicker_reduction"] == m["configured"]["flicker_reduction"] >= 5
    assert r["smoothing_best_setting"] == "configured"
    slow = smoothing_ratios({"raw": m["raw"], "configured": m["too slow"]})
    assert slow["time_to_stable_s"] is None and slow["time_to_stable_lost"] == 1
