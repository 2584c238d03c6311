"""The labels-vs-accuracy curve (issue 16): patient sampling, and the `tiny` grid end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from echostream.train.experiments.grid import collect, load_experiment
from echostream.train.experiments.sampling import patient_rows

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_patient_rows_take_whole_patients_nested_and_refuse_too_many() -> None:
    index = pd.DataFrame({"patient_id": np.repeat([f"p{i}" for i in range(6)], 5)})
    rows = np.arange(30)
    two = patient_rows(index, rows, 2, seed=3)
    four = patient_rows(index, rows, 4, seed=3)
    assert len(two) == 10 and index["patient_id"].iloc[two].nunique() == 2
    assert set(two) <= set(four)  # labelling more patients keeps the first ones
    assert not np.array_equal(two, patient_rows(index, rows, 2, seed=4))
    with pytest.raises(ValueError, match="asked for 7 labelled patients; the training split has 6"):
        patient_rows(index, rows, 7, seed=0)


@pytest.mark.slow
@pytest.mark.usefixtures("tflite_dir")  # its ImageNet cells: skipped where the weights are absent
def test_tiny_labels_curve_runs_every_start_and_writes_the_curve(tmp_path) -> None:
    from echostream.train.cli_experiments import register
    from echostream.train.simulator.dataset import DatasetConfig, write_dataset

    data = tmp_path / "site"
    write_dataset(DatasetConfig(out=data, patients=8, seed=9, n_frames=2, scale=0.25, workers=1))
    app = typer.Typer()
    register(app, typer.Typer())
    out = tmp_path / "runs"
    args = ["experiment", "labels", "--data", str(data), "--scale", "tiny", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--configs", str(CONFIGS), "--no-progress"])
    assert res.exit_code == 0, res.output
    root = out / "labels_curve-tiny"
    results = {r["cell"]: r for r in collect(root)}
    exp = load_experiment(CONFIGS / "labels_curve.yaml", scale="tiny")
    assert set(results) == {c.name for c in exp.cells} and len(results) == 6
    # what actually started each run, in its own words
    assert results["default__1pat"]["init"] == "weights of realecho_v4.pt"
    assert results["imagenet__1pat"]["init"].startswith("ImageNet")
    assert results["random__1pat"]["init"] == "random init"
    # one labelled patient's frames vs two; the small set repeated to the same images per run
    one, two = results["random__1pat"], results["random__2pat"]
    assert one["train_frames"] < two["train_frames"]
    assert one["images_seen"] == pytest.approx(two["images_seen"], rel=0.5)
    md = (root / "labels_curve.md").read_text()
    assert "**simulated**" in md and md.count("| random (random init) |") == 2
    assert (root / "labels_curve.png").stat().st_size > 5000
