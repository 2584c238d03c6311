"""The `tiny` grid of each thesis experiment end to end (simulated data, seconds per run).

Tiny numbers mean nothing; these tests check the machinery: every cell × seed runs and writes
its result, finished runs are skipped on a rerun, cells aggregate to mean ± 95 % CI, the
vendor split and the training-set sizes are what the thesis asks for, initialisations are
labelled honestly, and ``echostream report`` writes the tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from echostream.train.experiments.grid import (
    collect,
    load_experiment,
    plan,
    run_grid,
    summarise,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _tflite_missing() -> str | None:
    from echostream.models.pretrained import tflite_dir

    try:
        return None if tflite_dir().is_dir() else f"{tflite_dir()} is not a folder"
    except Exception as err:  # no folder: the ImageNet cells cannot be checked here
        return str(err)


needs_tflite = pytest.mark.skipif(
    _tflite_missing() is not None, reason=f"ImageNet TFLite weights: {_tflite_missing()}"
)


@pytest.fixture(scope="module")
def sim_data(tmp_path_factory) -> Path:
    """6 simulated patients (2 per vendor), 8 views, 4 small frames per cine."""
    from echostream.train.simulator.dataset import DatasetConfig, write_dataset

    out = tmp_path_factory.mktemp("sim")
    cfg = DatasetConfig(
        out=out,
        patients=6,
        vendors=("epiq7g", "ie33", "sc2000"),
        seed=5,
        n_frames=4,
        scale=0.25,
        workers=1,
    )
    write_dataset(cfg)
    return out


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    from echostream.train.cli_experiments import register

    root = typer.Typer()
    register(root, typer.Typer())
    return root


def _run(app, *args: str):
    res = CliRunner().invoke(app, list(args))
    return res, res.output


@pytest.mark.slow
@needs_tflite
def test_exp4_tiny_grid_end_to_end_and_resume(sim_data, app, tmp_path):
    out = tmp_path / "runs"
    res, text = _run(
        app,
        "experiment",
        "exp4",
        "--data",
        str(sim_data),
        "--scale",
        "tiny",
        "--out",
        str(out),
        "--configs",
        str(CONFIGS),
        "--no-progress",
    )
    assert res.exit_code == 0, text
    root = out / "exp4_size-tiny"
    results = collect(root)
    exp = load_experiment(CONFIGS / "exp4_size.yaml", scale="tiny")
    assert len(results) == len(exp.cells) * exp.seeds == 12
    summary = json.loads((root / "summary.json").read_text())
    for c in summary.values():
        acc = c["frame_accuracy"]
        assert acc["n"] == 2 and acc["ci95"] is not None and 0 <= acc["mean"] <= 1
    by_cell = {(r["cell"], r["seed"]): r for r in results}
    small, big = by_cell[("baseline__5pct", 0)], by_cell[("baseline__50pct", 0)]
    assert small["train_frames"] < big["train_frames"]
    # every run sees about as many images: the small set is repeated within an epoch (≤ cap 4)
    assert small["repeats"] > 1 and small["images_seen"] == small["train_frames"] * small["repeats"]
    # ImageNet vs random MobileNet: labelled by what actually happened
    assert by_cell[("mobilenet_imagenet__5pct", 0)]["init"].startswith("ImageNet")
    assert by_cell[("mobilenet_random__5pct", 0)]["init"] == "random init"
    # the test split is fixed across fractions and seeds
    assert len({r["eval_frames"] for r in results}) == 1

    res, text = _run(
        app,
        "experiment",
        "exp4",
        "--data",
        str(sim_data),
        "--scale",
        "tiny",
        "--out",
        str(out),
        "--configs",
        str(CONFIGS),
        "--no-progress",
    )
    assert res.exit_code == 0, text
    assert '"done": 0, "skipped": 12' in text

    doc = tmp_path / "docs" / "reproduction.md"
    res, text = _run(app, "report", "--runs", str(out), "--out", str(doc))
    assert res.exit_code == 0, text
    md = doc.read_text()
    assert "Tiny scale" in md and "not meaningful" in md
    assert "simulated data, scale tiny, 2 seed(s), mean ± 95 % CI" in md
    assert "Table 4.6" in md and "not available here" not in md
    # the thesis' own numbers beside ours: a transcribed Table 4.6 value, none for 50 % (tiny)
    from echostream.train.experiments.thesis import thesis_findings, thesis_value

    five = thesis_value("exp4", "baseline__5pct")
    rows = {line.split(" | ")[2]: line for line in md.splitlines() if line.startswith("| baseline")}
    assert rows["5 %"].endswith(f"| {five.text} (Table 4.6) |")
    assert rows["50 %"].endswith("| — |")
    assert all(f.quote in md for f in thesis_findings())
    assert (tmp_path / "docs" / "reproduction" / "exp4_size.png").is_file()


@pytest.mark.slow
def test_exp3_tiny_grid_vendor_splits(sim_data, tmp_path):
    exp = load_experiment(CONFIGS / "exp3_vendor.yaml", scale="tiny")
    assert len(exp.cells) == 12  # 2 networks × the six splits of Table 4.3
    specs = plan(exp, sim_data, out_root=tmp_path, seeds=1)
    res = run_grid(specs, progress=False)
    assert res["failed"] == [] and res["done"] == 12
    results = collect(tmp_path / "exp3_vendor-tiny")
    sizes = {r["train_frames"] for r in results}
    assert len(sizes) == 1  # fixed to the smallest vendor's count for every split
    (n,) = sizes
    assert n == min(results[0]["vendor_frames"].values())
    for r in results:
        assert not set(r["train_vendors"]) & set(r["heldout_vendors"])
        assert r["eval_split"] == "heldout"
        held = sum(r["vendor_frames"][v] for v in r["heldout_vendors"])
        assert r["eval_frames"] == held  # every frame of the held-out vendors
        assert r["epochs_run"] == 1  # fixed epochs: no early stopping on held-out vendors
    summary = summarise(results)
    assert summary["baseline__epiq7g+ie33"]["meta"]["heldout"] == ["sc2000"]


@pytest.mark.slow
@needs_tflite
def test_exp2_tiny_grid_stages_and_init_labels(sim_data, tmp_path):
    exp = load_experiment(CONFIGS / "exp2_finetune.yaml", scale="tiny")
    specs = plan(exp, sim_data, out_root=tmp_path, seeds=1)
    res = run_grid(specs, progress=False)
    assert res["failed"] == [], res["failed"]
    results = {r["cell"]: r for r in collect(tmp_path / "exp2_finetune-tiny")}
    assert set(results) == {c.name for c in exp.cells}
    # MobileNet loads the offline ImageNet TFLite weights; the others cannot be had here
    assert results["mobilenet_full"]["init"].startswith("ImageNet (tflite:")
    for cell in ("vgg16_full", "inception_v3_full", "nasnet_mobile_full", "vgg16_gradual_2"):
        assert results[cell]["init"].startswith("random init"), results[cell]["init"]
    # gradual unfreezing in 2 stage groups: boundaries recorded and in the learning curves
    for cell in ("mobilenet_gradual_2", "mobilenet_gradual_3", "vgg16_gradual_2"):
        assert len(results[cell]["stage_ends"]) == 2
        run = tmp_path / "exp2_finetune-tiny" / cell / "seed0"
        stages = {line.split(",")[1] for line in (run / "history.csv").read_text().splitlines()[1:]}
        assert len(stages) == 2 and (run / "curves.png").is_file()
        assert (run / "final.pt").is_file() and not (run / "last.pt").exists()
    assert results["mobilenet_gradual_2"]["epochs_run"] == 2


def test_failed_run_is_recorded_and_grid_goes_on(tmp_path):
    exp = load_experiment(CONFIGS / "exp4_size.yaml", scale="tiny")
    specs = plan(exp, tmp_path / "nodata", out_root=tmp_path, seeds=1)[:2]
    calls = []

    def runner(d):
        calls.append(d["cell"])
        raise ValueError("bad data")

    res = run_grid(specs, progress=False, runner=runner)
    assert len(calls) == 2 and res["done"] == 0 and len(res["failed"]) == 2
    assert (Path(specs[0].run_dir) / "FAILED").read_text().startswith("ValueError: bad data")


def test_ray_absent_is_a_clear_error(sim_data, app, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import ray fails
    res, text = _run(
        app,
        "experiment",
        "exp4",
        "--data",
        str(sim_data),
        "--scale",
        "tiny",
        "--out",
        str(tmp_path),
        "--configs",
        str(CONFIGS),
        "--ray",
        "auto",
        "--no-progress",
    )
    assert res.exit_code == 2
    assert "--ray needs the optional 'ray' package" in text


def test_bad_scale_and_missing_data(app, tmp_path):
    res, text = _run(
        app,
        "experiment",
        "exp2",
        "--data",
        str(tmp_path),
        "--scale",
        "tiny",
        "--configs",
        str(CONFIGS),
    )
    assert res.exit_code == 2 and "no manifest.csv" in text
    (tmp_path / "manifest.csv").write_text("path,patient_id,view\n")
    res, text = _run(
        app,
        "experiment",
        "exp2",
        "--data",
        str(tmp_path),
        "--scale",
        "huge",
        "--configs",
        str(CONFIGS),
    )
    assert res.exit_code == 2 and "no scale 'huge'" in text


def test_gradual_stages_cumulative_grouped_and_no_early_stop():
    from echostream.train.experiments.cell import gradual_stages

    names = ["head", "b4", "b3", "b2", "b1"]
    st = gradual_stages(names, epochs=10, lr=1e-5, lr_head=1e-4)
    assert [s["trainable"] for s in st] == [names[: i + 1] for i in range(5)]
    assert [s["lr"] for s in st] == [1e-4] + [1e-5] * 4
    assert all(s["patience"] > s["epochs"] for s in st)  # None: never stops early
    grouped = gradual_stages(names, epochs=2, lr=1e-5, patience=3, groups=2, depth=4)
    assert [s["name"] for s in grouped] == ["head-b4", "b3-b2"]
    assert grouped[-1]["trainable"] == names[:4] and grouped[0]["patience"] == 3


def test_repeats_keep_images_per_run_similar():
    from echostream.train.experiments.cell import repeats_for

    ref = 400
    for n in (1, 4, 40, 100, 400):
        r = repeats_for(n, ref, 1000)
        assert abs(n * r - ref) <= n / 2 + 1e-9
    assert repeats_for(1, ref, 50) == 50  # the cap


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ray_backend_runs_each_run_as_a_task_on_a_real_cluster(sim_data, ray_cluster, tmp_path):
    """On a real two-node Ray cluster (tests/ray_cluster.py): one task per unfinished run, each
    an ordinary training run on a worker; a failing run is reported and the grid goes on."""
    import ray

    from echostream.train.experiments.ray_backend import import_ray

    exp = load_experiment(CONFIGS / "exp3_vendor.yaml", scale="tiny")
    good = plan(exp, sim_data, out_root=tmp_path, seeds=1)[:2]
    bad = plan(exp, tmp_path / "no-data", out_root=tmp_path / "bad", seeds=1)[:1]
    try:
        res = run_grid([*good, *bad], ray_address=ray_cluster.address,
                       ray_resources={"num_cpus": 1}, progress=False)  # fmt: skip
        assert import_ray() is ray and ray.is_initialized()
        nodes = sum(bool(n["Alive"]) for n in ray.nodes())
    finally:
        ray.shutdown()
    assert nodes == 2
    assert res["done"] == 2 and len(res["failed"]) == 1, res
    ((run_dir, message),) = res["failed"]
    assert run_dir == bad[0].run_dir and "manifest" in message
    assert (Path(run_dir) / "FAILED").is_file()
    for spec in good:
        result = json.loads((Path(spec.run_dir) / "result.json").read_text())
        assert result["cell"] == spec.cell and result["eval_split"] == "heldout"
    assert run_grid(good, ray_address=ray_cluster.address, progress=False)["skipped"] == 2
    ray.shutdown()


def test_changed_config_does_not_reuse_old_results(tmp_path):
    exp = load_experiment(CONFIGS / "exp4_size.yaml", scale="tiny")
    spec = plan(exp, tmp_path / "data", out_root=tmp_path, seeds=1)[0]
    d = Path(spec.run_dir)
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps({"fingerprint": spec.fingerprint()}))
    (d / "DONE").write_text("x\n")
    res = run_grid([spec], progress=False, runner=lambda _d: pytest.fail("must be skipped"))
    assert res["skipped"] == 1
    spec.config["train"]["epochs"] = 99  # the experiment file changed
    with pytest.raises(ValueError, match="different configuration"):
        run_grid([spec], progress=False)


def test_changed_config_does_not_resume_an_interrupted_run(tmp_path):
    """An interrupted run (last.pt, no DONE) of another configuration is not resumed: its
    epochs would mix two schedules."""
    import yaml

    exp = load_experiment(CONFIGS / "exp4_size.yaml", scale="tiny")
    spec = plan(exp, tmp_path / "data", out_root=tmp_path, seeds=1)[0]
    d = Path(spec.run_dir)
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"spec": spec.to_dict()}))
    (d / "last.pt").write_bytes(b"x")
    ran: list[str] = []
    run_grid([spec], progress=False, runner=lambda d: ran.append(d["cell"]) or {})
    assert ran == [spec.cell]  # same configuration: resumed
    spec.config["train"]["epochs"] = 99
    with pytest.raises(ValueError, match="interrupted run of a different configuration"):
        run_grid([spec], progress=False, runner=lambda _s: pytest.fail("must not resume"))


def test_exp1_cells_are_the_training_configs_at_the_grid_scale():
    """Experiment 1's grid runs the very files `echostream train` runs, at the grid's scale,
    with the grid's seed (so its seeds differ only in the seed)."""
    from echostream.train.config import load_config

    exp = load_experiment(CONFIGS / "exp1_baseline.yaml", scale="cpu")
    assert exp.seeds == 3
    for cell in exp.cells:
        assert cell.config == load_config(CONFIGS / f"{cell.name}.yaml", scale="cpu").to_dict()
    meta = {c.name: c.meta for c in exp.cells}
    assert meta["exp1_baseline_rmsprop_flips"] == {
        "network": "baseline", "optimizer": "rmsprop", "flips": True
    }  # fmt: skip
    assert meta["exp1_baseline_adam"]["optimizer"] == "adam"
    specs = plan(exp, "data", seeds=2)
    assert {(s.cell, s.seed) for s in specs} == {(c.name, k) for c in exp.cells for k in (0, 1)}
    assert len({s.fingerprint() for s in specs}) == 6


@pytest.mark.slow
@needs_tflite
def test_all_runs_the_four_grids_then_the_report_and_resumes(sim_data, app, tmp_path, monkeypatch):
    """`experiment all`: the exp1 grid (three baseline configs), the other grids, the report
    with Table 4.1 from the exp1 grid; a rerun skips everything finished. (Only exp1's and
    exp4's grids here: the others have their own tests above.)"""
    from echostream.train.experiments import run_all

    monkeypatch.setattr(run_all, "GRIDS", ("exp1", "exp4"))
    out, doc = tmp_path / "runs" / "experiments", tmp_path / "reproduction.md"
    args = ["experiment", "all", "--data", str(sim_data), "--scale", "tiny", "--seeds", "1"]
    args += ["--out", str(out), "--configs", str(CONFIGS), "--report", str(doc), "--no-progress"]
    res, text = _run(app, *args)
    assert res.exit_code == 0, text
    exp1 = collect(out / "exp1_baseline-tiny")
    assert sorted(r["cell"] for r in exp1) == sorted(
        ["exp1_baseline_adam", "exp1_baseline_rmsprop", "exp1_baseline_rmsprop_flips"]
    )
    assert {r["eval_split"] for r in exp1} == {"test"}
    assert len(collect(out / "exp4_size-tiny")) == 6
    md = doc.read_text()
    table41 = md.split("## Table 4.1")[1].split("## ")[0]
    assert "exp1 exp1_baseline_rmsprop_flips (RMSprop, flips)" in table41
    assert "exp1 exp1_baseline_adam (Adam)" in table41 and "Table 4.6" in md
    assert "| 93.5% (text, line 1878) | — | — |" in table41  # RMSprop: max validation only

    res, text = _run(app, *args)
    assert res.exit_code == 0, text
    assert '"done": 0, "skipped": 3' in text and '"done": 0, "skipped": 6' in text
