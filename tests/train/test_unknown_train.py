"""Training with an OTHER class (``data.other: true``) and fitting the unknown-view threshold
(``echostream calibrate --unknown``), on the toy data plus toy OTHER cines (flat noise, no
blob): the manifest keeps OTHER only when asked, a tiny run trains 9 classes, its export names
OTHER, ``calibrate --unknown`` writes the threshold into the file, and ``evaluate`` reports
known-vs-unknown numbers."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from echostream.stream.unknown import OTHER
from echostream.stream.views import VIEWS

pytestmark = pytest.mark.timeout(600)


def add_other_cines(root: Path, frames: int = 6, seed: int = 1) -> int:
    """One OTHER cine (flat noise inside the toy region) per patient of ``root``'s manifest."""
    from echostream.stream.dicom_writer import UltrasoundRegion, write_cine

    rng = np.random.default_rng(seed)
    path = root / "manifest.csv"
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = list(reader.fieldnames or []), list(reader)
    patients = {r["patient_id"]: r for r in rows}
    for pid, like in patients.items():
        body = np.clip(60 + rng.normal(0, 25, (frames, 64, 80)), 0, 255).astype(np.uint8)
        screen = np.zeros((frames, 72, 88), np.uint8)
        screen[:, 4:68, 4:84] = body
        rel = f"{pid}/study1/other.dcm"
        write_cine(root / rel, list(screen), fps=25.0, encoding="mono",
                   regions=[UltrasoundRegion(4, 4, 84, 68)])  # fmt: skip
        rows.append({**like, "path": rel, "view": OTHER})
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return len(patients)


@pytest.fixture(scope="module")
def with_other(toy_data, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("toy_other") / "data"
    shutil.copytree(toy_data, data, ignore=shutil.ignore_patterns(".frame_store"))
    add_other_cines(data)
    return data


def test_manifest_keeps_other_only_when_asked(with_other) -> None:
    from echostream.train.manifest import read_manifest

    plain = read_manifest(with_other)
    assert OTHER not in {e.view for e in plain.entries}
    assert sum("labelled OTHER" in p.reason for p in plain.problems) == 6
    kept = read_manifest(with_other, other=True)
    others = [e for e in kept.entries if e.view == OTHER]
    assert len(others) == 6 and {e.label for e in others} == {len(VIEWS)}
    assert len(kept.entries) == len(plain.entries) + 6


def test_nine_classes_without_any_other_cine_is_a_clear_error(toy_data) -> None:
    """A 9-class run on data with no OTHER cine trained an OTHER output that never saw one
    (the ablation's first "+other" runs); it is refused before any decoding."""
    from echostream.train.config import DataCfg
    from echostream.train.prepare import prepare_data

    args = ((60, 80), "bilinear")
    with pytest.raises(ValueError, match="data.other is on .* no cine is labelled OTHER"):
        prepare_data(toy_data, DataCfg(other=True), *args, progress=False, training=True)
    # evaluating a 9-class model on such data is fine
    prep = prepare_data(toy_data, DataCfg(other=True), *args, progress=False)
    assert len(prep.store.cines)


def test_class_weights_cover_the_ninth_class() -> None:
    from echostream.train.data import class_weights

    labels = np.array([0, 0, 1, 8, 8, 8])
    assert class_weights(labels).shape == (9,)  # inferred from the labels
    w = class_weights(labels, 9)
    assert w[8] > 0 and w[2] == 0 and w[8] < w[1]  # OTHER is common here: weighted down


@pytest.fixture(scope="module")
def nine_class_model(with_other, tmp_path_factory) -> Path:
    """A tiny run with ``data.other: true`` and its ONNX export (checkpoint beside it)."""
    from echostream.models.export import export_checkpoint
    from echostream.train.config import config_from_dict
    from echostream.train.runner import train_main

    tmp = tmp_path_factory.mktemp("other_run")
    cfg = config_from_dict(
        {
            "name": "toy_other",
            "data": {"fractions": [0.67, 0.17, 0.16], "store": str(tmp / "store"), "other": True},
            "model": {"name": "baseline", "kwargs": {"widths": [8, 16, 16], "fc_widths": [64, 32]}},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"batch_size": 32, "epochs": 8, "threads": 1},
            "eval": {"tsne_max": 0, "batch_size": 64},
        }
    )
    run = train_main(cfg, with_other, out=tmp / "run", progress=False, evaluate_test=True)
    export_checkpoint(run / "final.pt", run / "model.onnx")
    return run / "model.onnx"


def test_training_with_other_exports_nine_labels(nine_class_model) -> None:
    from echostream.stream.model_file import ModelInfo

    info = ModelInfo.from_onnx(nine_class_model)
    assert info.labels == (*VIEWS, OTHER) and info.num_classes == 9
    metrics = json.loads((nine_class_model.parent / "eval_test" / "metrics.json").read_text())
    m = metrics["metrics"]
    assert m["labels"][-1] == OTHER and len(m["confusion_matrix"]) == 9
    assert m["per_class"][OTHER]["support"] > 0  # the test split's OTHER frames were scored


def cli(command: str, *args: str | Path):
    from echostream.train import cli_calibrate, cli_train

    app = typer.Typer()
    cli_calibrate.register(app, typer.Typer())
    cli_train.register(app, typer.Typer())
    return CliRunner().invoke(app, [command, *(str(a) for a in args)])


def test_calibrate_unknown_writes_the_threshold_and_evaluate_reports_it(
    nine_class_model, with_other, tmp_path
) -> None:
    from echostream.stream.model_file import ModelInfo
    from echostream.stream.unknown import UnknownRule

    model = tmp_path / "m.onnx"
    shutil.copy(nine_class_model, model)
    args = [model, "--data", with_other, "--split", "all", "--no-progress"]
    res = cli("calibrate", *args, "--unknown", "--target", "0.05", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "dry run" in res.output and ModelInfo.from_onnx(model).unknown == {}
    res = cli("calibrate", *args, "--unknown", "--target", "0.05")
    assert res.exit_code == 0, res.output
    entry = ModelInfo.from_onnx(model, verify=True).unknown  # weights untouched
    assert entry["score"] == "max_softmax" and entry["fitted_on"]["other_frames"] == 36
    assert (
        entry["fitted_on"]["known_frames"] == 6 * 8 * 6 and entry["target_false_rejection"] == 0.05
    )
    assert (
        0.0 <= entry["auroc"] <= 1.0 and f"AUROC known vs OTHER {entry['auroc']:.4f}" in res.output
    )
    if entry["threshold"] is not None:
        assert entry["false_rejection"] <= 0.05
        assert UnknownRule.from_info(ModelInfo.from_onnx(model)).threshold == entry["threshold"]
    out = tmp_path / "eval"
    res = cli("evaluate", model, "--data", with_other, "--split", "all", "--out", out,
              "--no-progress", "--threads", "1")  # fmt: skip
    assert res.exit_code == 0, res.output
    unknown = json.loads((out / "metrics.json").read_text())["metrics"]["unknown"]
    assert unknown["other_frames"] == 36 and unknown["auroc"] == pytest.approx(entry["auroc"])
    assert "Known views vs OTHER" in (out / "report.md").read_text()


def test_calibrate_unknown_needs_other_frames(toy_data, tmp_path) -> None:
    from echostream.stream.defaults import default_model_path

    model = tmp_path / "m.onnx"
    shutil.copy(default_model_path(), model)
    res = cli("calibrate", model, "--data", toy_data, "--split", "all", "--no-progress",
              "--unknown")  # fmt: skip
    assert res.exit_code == 2 and "no frames labelled OTHER" in res.output
