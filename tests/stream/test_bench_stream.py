"""``bench stream`` pieces: the CPU ceiling, the int8 sibling run, pooled live runs, and the
poor-window sweep cine (simulator quality override). Timing-free assertions only."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from echostream.stream.bench_runs import (
    cpu_ceiling,
    cpu_costs,
    int8_sibling,
    live_runs,
    usable_cores,
)
from echostream.stream.bench_stream import CPU_NOTE, run_bench
from echostream.stream.defaults import load_stream_config
from echostream.stream.pipeline import Engine

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def engine(stream_model) -> Engine:
    return Engine.load(stream_model, "onnxruntime", threads=1, spin=False)


def test_cpu_ceiling_arithmetic() -> None:
    c = cpu_ceiling(1.0, {"preprocess": 0.2, "inference": 0.8}, 2)
    assert c["cpu_ms_per_frame"]["total"] == pytest.approx(2.0)
    assert c["cpu_bound_fps"] == pytest.approx(1000.0)  # 2 cores / 2 ms
    assert cpu_ceiling(0.0, {}, 4)["cpu_bound_fps"] is None
    assert usable_cores() >= 1


def test_int8_sibling(tmp_path) -> None:
    fp32 = tmp_path / "m.onnx"
    fp32.write_bytes(b"x")
    assert int8_sibling(fp32) is None
    (tmp_path / "m.int8.onnx").write_bytes(b"x")
    assert int8_sibling(fp32) == tmp_path / "m.int8.onnx"
    assert int8_sibling(tmp_path / "m.int8.onnx") is None  # an int8 file has no sibling
    assert int8_sibling(tmp_path / "m.pt") is None


def test_cpu_costs_are_per_frame(engine, small_cine) -> None:
    opts = engine.source_options(small_cine, workers=2)
    costs = cpu_costs(engine, str(small_cine), opts, batch_size=8)
    assert set(costs) == {"preprocess", "inference"}
    assert all(v >= 0 for v in costs.values()) and costs["inference"] > 0


def test_run_bench_reports_cpu_bound_and_int8_sibling(stream_model, small_cine, tmp_path):
    # A copy of the fp32 file stands in for the int8 sibling: plumbing, not a precision claim.
    folder = tmp_path / "zoo"
    folder.mkdir()
    model = folder / "m.onnx"
    shutil.copy(stream_model, model)
    shutil.copy(stream_model, folder / "m.int8.onnx")
    eng = Engine.load(model, "onnxruntime", threads=1, spin=False)
    cfg = load_stream_config()
    out = run_bench(str(small_cine), eng, cfg, repeat=1, naive=False, live=False)
    ratios = out["ratios"]
    for key in ("pipeline_vs_decode_only", "cpu_bound_fps", "pipeline_vs_cpu_bound",
                "int8_pipeline_vs_decode_only", "int8_pipeline_vs_cpu_bound"):  # fmt: skip
        assert ratios[key] > 0, key
    assert ratios["note"] == CPU_NOTE
    assert ratios["pipeline_vs_cpu_bound"] == pytest.approx(
        out["pipeline"]["fps"] / out["cpu_ceiling"]["cpu_bound_fps"]
    )
    ms = out["cpu_ceiling"]["cpu_ms_per_frame"]
    assert ms["total"] == pytest.approx(ms["decode"] + ms["preprocess"] + ms["inference"])
    assert out["pipeline"]["cores_used"] > 0 and out["decode_only"]["cores_used"] > 0
    assert out["pipeline_int8"]["model"]["file"].endswith("m.int8.onnx")
    assert out["pipeline_int8"]["frames"] == out["pipeline"]["frames"] == 24
    assert "_probs" not in out["pipeline"] and "_probs" not in out["pipeline_int8"]
    json.dumps(out)  # JSON-able
    alone = run_bench(str(small_cine), eng, cfg, repeat=1, naive=False, live=False, int8=False)
    assert "pipeline_int8" not in alone and "int8_cpu_bound_fps" not in alone["ratios"]


def test_live_runs_pool_latencies(engine, small_cine) -> None:
    cfg = load_stream_config()
    out = live_runs(engine, str(small_cine), cfg, repeat=2)
    assert len(out["p99_runs"]) == 2
    assert out["frame_to_label_ms_pooled"]["n"] == 2 * out["frames_labelled"] or (
        out["dropped"]["reader"] > 0  # a loaded machine may drop a frame; then n is smaller
    )
    assert out["settings"]["threads"] == 1 and out["settings"]["spin"] is False
    assert "_latencies" not in out
    json.dumps(out)


def test_cine_spec_quality_override() -> None:
    pytest.importorskip("torch")  # the simulator lives in the train extra
    from echostream.train.simulator.cine import CineSpec, render_cine

    base = dict(seed=3, patient=0, view="A4C", vendor="epiq7g", size=(160, 120), n_frames=2,
                n_samples=96, n_beams=48)  # fmt: skip
    poor = render_cine(CineSpec(**base, quality=0.0))
    good = render_cine(CineSpec(**base, quality=1.0))
    own = render_cine(CineSpec(**base))
    assert poor.info["quality"] == 0.0 and good.info["quality"] == 1.0
    assert 0.0 <= own.info["quality"] <= 1.0
    assert poor.fps == good.fps == own.fps  # the same random stream otherwise
    assert not np.array_equal(poor.frames[0], good.frames[0])
    with pytest.raises(ValueError, match="quality"):
        CineSpec(**base, quality=1.5)


def test_make_sweep_writes_poor_window_sidecar(tmp_path) -> None:
    pytest.importorskip("torch")
    from echostream.stream.bench_smoothing import read_truth
    from echostream.stream.sources import open_source
    from echostream.stream.views import VIEWS
    from echostream.train.simulator.sweep import POOR_WINDOW, make_sweep

    path = make_sweep(tmp_path / "sweep.dcm", views=("A4C", "PLAX"), frames_per_view=12,
                      size=(160, 120), seed=5)  # fmt: skip
    side = json.loads(path.with_suffix(".labels.json").read_text())
    assert side["quality"] == POOR_WINDOW and side["seed"] == 5 and side["frames_per_view"] == 12
    truth, fps = read_truth(path, VIEWS)
    with open_source(path) as src:
        assert src.info.n_frames == len(truth) == 24
    assert fps == side["fps"] and {VIEWS[t] for t in truth if t >= 0} >= {"A4C", "PLAX"}


def test_steady_metrics_count_switches_after_settle(engine, small_cine) -> None:
    from echostream.stream.bench_runs import pipeline_file
    from echostream.stream.bench_smoothing import steady_metrics
    from echostream.stream.temporal import TemporalChain

    cfg = load_stream_config()
    out = steady_metrics(engine, str(small_cine), cfg)
    assert out["frames"] == 24 and out["fps"] == 25.0
    opts = engine.source_options(small_cine, workers=2)
    probs = pipeline_file(engine, str(small_cine), opts, {**cfg, "smoother": {"stages": []}})
    settle = int(round(out["settle_s"] * out["fps"]))
    for name, scfg in {"raw": {"stages": []}, "configured": cfg["smoother"]}.items():
        chain = TemporalChain.from_config(scfg, fps=out["fps"])
        idx = [p.index for p in chain.run(probs["_probs"])]
        expected = sum(idx[i] != idx[i - 1] for i in range(settle + 1, 24))
        assert out["settings"][name]["flicker"]["switches"] == expected, name
    assert set(out["settings"]) >= {"raw", "configured", *cfg["bench"]["smoothing_settings"]}
    json.dumps(out)


def test_sweep_wobble_drifts_holds_only_and_keeps_truth() -> None:
    """Hand wobble changes the frames of the holds, never the truth, transits or other draws."""
    pytest.importorskip("torch")
    from echostream.train.simulator.cine import CineSpec, hand_wobble, render_cine

    base = dict(seed=4, patient=0, view="A4C", vendor="epiq7g", size=(160, 120), n_frames=21,
                n_samples=96, n_beams=48, sweep=True)  # fmt: skip
    still = render_cine(CineSpec(**base))
    shaky = render_cine(CineSpec(**base, wobble=0.4))
    assert shaky.labels == still.labels and shaky.moving == still.moving
    assert shaky.fps == still.fps  # the simulator's own random stream is untouched
    w = hand_wobble(CineSpec(**base, wobble=0.4), 21, shaky.fps)
    assert w.min() >= 0.0 and w.max() <= 0.4 and w.max() > 0.0
    held = [i for i in range(21) if not still.moving[i] and w[i] > 1e-3]
    assert any(not np.array_equal(still.frames[i], shaky.frames[i]) for i in held)
    assert np.all(hand_wobble(CineSpec(**base), 21, shaky.fps) == 0.0)
    with pytest.raises(ValueError, match="wobble"):
        CineSpec(**base, wobble=0.5)


def test_bench_json_is_strict_when_smoothing_removes_all_flicker() -> None:
    """inf (all flicker removed) and nan are written as null: any JSON parser reads the output."""
    from echostream.stream.sinks import to_json

    text = to_json({"flicker_reduction": float("inf"), "p": np.array([np.nan, 1.0]), "n": 3})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}")) == {
        "flicker_reduction": None,
        "p": [None, 1.0],
        "n": 3,
    }


def test_sweep_metrics_pool_several_simulated_sweeps(engine, tmp_path) -> None:
    pytest.importorskip("torch")
    from echostream.stream.bench_smoothing import sweep_metrics
    from echostream.train.simulator.sweep import make_sweep

    cfg = load_stream_config()
    paths = [str(make_sweep(tmp_path / f"s{seed}.dcm", views=("A4C", "PLAX"), frames_per_view=12,
                            size=(160, 120), seed=seed)) for seed in (5, 6)]  # fmt: skip
    out = sweep_metrics(engine, paths, cfg)
    assert [c["cine"] for c in out["cines"]] == paths
    assert out["frames"] == sum(c["frames"] for c in out["cines"]) == 48
    raw = out["settings"]["raw"]
    assert raw["flicker"]["switches"] == sum(c["raw_switches"] for c in out["cines"])
    assert out["settings"]["configured"]["flicker"]["switches"] == sum(
        c["configured_switches"] for c in out["cines"]
    )
    assert raw["flicker"]["steady_s"] == pytest.approx(sum(c["steady_s"] for c in out["cines"]))
    assert "pooled over 2 cines" in out["note"] and "simulated" in out["note"]
    with pytest.raises(ValueError, match="truth sidecars"):
        sweep_metrics(engine, paths, cfg, truth_files=[None])
    json.dumps(out)


def test_sweep_cli_writes_one_cine_per_seed_and_bench_pools_a_folder(stream_model, tmp_path):
    """``simulate-sweep`` with two ``--seed``: two cines (NAME-seedN.dcm); ``bench stream
    --sweep FOLDER`` pools both in one smoothing report; a --sweep-truth count that does not
    match the sweep cines is refused."""
    pytest.importorskip("torch")
    import typer
    from typer.testing import CliRunner

    from echostream.stream import cli_stream
    from echostream.train import cli_sweep

    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_stream.register(app, bench)
    cli_sweep.register(app, bench)
    target = tmp_path / "sweeps" / "sweep.dcm"
    made = CliRunner().invoke(app, ["simulate-sweep", str(target), "--seed", "5", "--seed", "6",
                                    "--frames", "10"])  # fmt: skip
    assert made.exit_code == 0, made.output
    cines = [
        str(tmp_path / "sweeps" / "sweep-seed5.dcm"),
        str(tmp_path / "sweeps" / "sweep-seed6.dcm"),
    ]
    assert made.output.split() == [w for c in cines for w in ("sweep", "cine", "written:", c)]
    args = ["bench", "stream", "--model", str(stream_model), "--json", "--repeat", "1",
            "--no-naive", "--no-live", "--no-int8", "--sweep", str(target.parent)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [c["cine"] for c in out["smoothing"]["cines"]] == cines
    assert "time_to_stable_lost" in out["ratios"]
    raw_flickers = out["smoothing"]["settings"]["raw"]["flicker"]["switches"] > 0
    assert ("flicker_reduction" in out["targets"]) == raw_flickers  # undefined without flicker
    two_one = ["--sweep", cines[0], "--sweep", cines[1], "--sweep-truth", "x.json"]
    bad = CliRunner().invoke(app, ["bench", "stream", "--model", str(stream_model), *two_one])
    assert bad.exit_code == 2 and "one --sweep-truth per --sweep" in bad.output
