"""One training entry point for ``echostream train`` and the grid's runs: early stopping means
the same on both (``train.patience: null`` = none; a gradual schedule's ``patience: null`` too),
and a grid run trains under DDP like a plain one.

The validation metric is held constant (``loop.evaluate`` replaced), so nothing improves after
the first epoch: a run stops early exactly when its patience says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SMALL = {"widths": [8, 16, 16], "fc_widths": [64, 32]}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    """One frame store for the module's runs (built by the first)."""
    return tmp_path_factory.mktemp("store")


def _config(store: Path, **train) -> dict:
    return {
        "name": "toy",
        "data": {"fractions": [0.67, 0.17, 0.16], "store": str(store), "frames_per_cine": 2},
        "model": {"name": "baseline", "kwargs": SMALL},
        "train": {"batch_size": 64, "threads": 1, **train},
        "eval": {"tsne_max": 0, "batch_size": 64},
    }


@pytest.fixture
def flat_validation(monkeypatch):
    """Validation that never improves after the first epoch."""
    import echostream.train.loop as loop

    monkeypatch.setattr(loop, "evaluate", lambda *a, **k: {"loss": 1.0, "acc": 0.5})


def _train_main(cfg: dict, data: Path, out: Path) -> list[str]:
    from echostream.train.config import config_from_dict
    from echostream.train.history import read_history
    from echostream.train.runner import train_main

    run = train_main(config_from_dict(cfg), data, out=out, progress=False, evaluate_test=False)
    return [r["stage"] for r in read_history(run / "history.csv")]


def _run_cell(cfg: dict, data: Path, out: Path, gradual: dict | None = None) -> list[str]:
    from echostream.train.experiments.cell import RunSpec, run_cell
    from echostream.train.history import read_history

    spec = RunSpec("t", "c", 0, "tiny", str(data), str(out), cfg, gradual=gradual)
    res = run_cell(spec.to_dict())
    stages = [r["stage"] for r in read_history(out / "history.csv")]
    assert res["epochs_run"] == len(stages)
    return stages


@pytest.mark.parametrize("train", [_train_main, _run_cell], ids=["train_main", "run_cell"])
def test_patience_null_means_no_early_stopping(
    train, toy_data, store_dir, tmp_path, flat_validation
):
    assert len(train(_config(store_dir, epochs=3, patience=None), toy_data, tmp_path / "a")) == 3
    assert len(train(_config(store_dir, epochs=3, patience=1), toy_data, tmp_path / "b")) == 2


def test_gradual_stage_patience_null_means_no_early_stopping(
    toy_data, store_dir, tmp_path, flat_validation
):
    """A stage's own ``patience: null`` is no early stopping, even when ``train.patience`` is
    set; a stage's patience of 1 stops each stage after its second epoch."""
    cfg = _config(store_dir, epochs=3, patience=1)
    schedule = {"epochs": 3, "lr": 1e-3, "groups": 2}
    stages = _run_cell(cfg, toy_data, tmp_path / "a", {**schedule, "patience": None})
    assert len(stages) == 6 and len(set(stages)) == 2
    stages = _run_cell(cfg, toy_data, tmp_path / "b", {**schedule, "patience": 1})
    assert len(stages) == 4 and len(set(stages)) == 2


def test_a_run_is_not_overwritten_without_resume(toy_data, store_dir, tmp_path):
    cfg = _config(store_dir, epochs=1)
    _train_main(cfg, toy_data, tmp_path)
    with pytest.raises(FileExistsError, match="pass --resume"):
        _train_main(cfg, toy_data, tmp_path)


CELL_UNDER_TORCHRUN = textwrap.dedent(
    """
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    import echostream.train.loop as loop
    from echostream.train.experiments.cell import RunSpec, run_cell

    data, run_dir, out, cfg = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    seen, real_fit = {}, loop.fit

    def fit(model, train_loader, val_loader, cfg, run_dir, **kw):
        res = real_fit(model, train_loader, val_loader, cfg, run_dir, **kw)
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        seen.update(world=kw["info"].world, samples=len(train_loader.sampler),
                    frames=len(train_loader.dataset), weights=float(flat.sum()))
        return res

    loop.fit = fit
    res = run_cell(RunSpec("t", "c", 0, "tiny", data, run_dir, cfg).to_dict())
    with open(f"{out}/rank{os.environ['RANK']}.json", "w") as f:
        json.dump({"result": res, **seen}, f)
    """
)


@pytest.mark.slow
def test_a_grid_run_trains_with_ddp_under_torchrun(toy_data, store_dir, tmp_path):
    """Two gloo ranks run one grid cell: each trains on its half of the frames, the weights
    stay in step, rank 0 evaluates and writes the result, the other returns ``{}``."""
    script = tmp_path / "cell_script.py"
    script.write_text(CELL_UNDER_TORCHRUN)
    cfg = _config(store_dir, epochs=2, device="cpu")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(script), str(toy_data), str(tmp_path / "run"), str(tmp_path), json.dumps(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env=env, start_new_session=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert r0["samples"] == r1["samples"] == -(-r0["frames"] // 2)  # a half each
    assert r0["weights"] == r1["weights"]  # gradients all-reduced over the two halves
    assert r1["result"] == {} and r0["result"]["epochs_run"] == 2
    assert json.loads((tmp_path / "run" / "result.json").read_text())["cell"] == "c"
