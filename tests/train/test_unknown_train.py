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


def test_calibrate_mahalanobis_builds_the_gate_and_every_stage_applies_it(
    with_other, tmp_path
) -> None:
    """``calibrate --unknown --score mahalanobis``: the file gains an OTHER output whose wins
    are the frames whose distance passes the stored threshold; re-fitting replaces the gate."""
    from echostream.stream.defaults import default_model_path
    from echostream.stream.model_file import ModelInfo
    from echostream.stream.unknown import UnknownRule
    from echostream.stream.verdict import verdict_for
    from echostream.train.unknown_gate import embed_split, fit_class_gaussians, min_mahalanobis

    model = tmp_path / "m.onnx"
    shutil.copy(default_model_path(), model)
    args = [model, "--data", with_other, "--split", "all", "--no-progress", "--unknown",
            "--score", "mahalanobis", "--fit", with_other]  # fmt: skip
    res = cli("calibrate", *args[:-2])
    assert res.exit_code == 2 and "--fit" in res.output
    res = cli("calibrate", *args, "--target", "0.05")
    assert res.exit_code == 0, res.output
    info = ModelInfo.from_onnx(model, verify=True)  # the hash covers the gate's weights
    entry = info.unknown
    assert info.labels == (*VIEWS, OTHER) and entry["score"] == "mahalanobis"
    assert entry["fitted_on"]["other_frames"] == 36 and entry["false_rejection"] <= 0.05
    assert UnknownRule.from_info(info).gate == entry["threshold"]

    emb = embed_split(model, with_other, progress=False)
    means, precision = fit_class_gaussians(emb.features[emb.known], emb.labels[emb.known])
    dist = min_mahalanobis(emb.features, means, precision)
    probs = np.concatenate([emb.run.probs, emb.run.other_probs])
    rejected = UnknownRule.from_info(info).rejected(probs)
    close = np.abs(dist - entry["threshold"]) < 1e-3 * entry["threshold"]
    assert np.array_equal(rejected[~close], (dist > entry["threshold"])[~close])
    assert rejected[~emb.known].mean() == pytest.approx(entry["true_rejection"], abs=0.03)
    other = np.flatnonzero(~emb.known)  # flat noise: far from every view
    assert rejected[other].mean() > 0.5 and verdict_for(probs[other], info).label == "unknown"
    assert verdict_for(probs[np.flatnonzero(emb.known)], info).label != "unknown"

    from echostream.stream.backends.torch_backend import resolve_checkpoint
    from echostream.stream.model_file import ModelFileError

    with pytest.raises(ModelFileError, match="gate is in the ONNX graph only"):
        resolve_checkpoint(model)  # the torch checkpoint has no gate

    res = cli("calibrate", *args, "--target", "0.3")
    assert res.exit_code == 0, res.output
    again = ModelInfo.from_onnx(model, verify=True)
    assert again.labels == (*VIEWS, OTHER) and again.unknown["threshold"] < entry["threshold"]


def test_outlier_exposure_loss_is_cross_entropy_plus_distance_from_uniform() -> None:
    import torch
    from torch import nn

    from echostream.train.outlier_exposure import OutlierExposureLoss

    loss = OutlierExposureLoss(n_known=8, weight=0.5)
    logits = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    known = torch.tensor([0, 3, 7, 2])
    assert float(loss(logits, known)) == pytest.approx(float(nn.CrossEntropyLoss()(logits, known)))
    other = torch.full((2,), 8)
    flat, peaked = torch.zeros(2, 8), torch.zeros(2, 8)
    peaked[:, 1] = 5.0
    assert float(loss(flat, other)) == pytest.approx(0.5 * np.log(8))  # its least value
    assert float(loss(peaked, other)) > float(loss(flat, other)) + 1.0
    peaked.requires_grad_(True)
    loss(peaked, other).backward()
    assert float(peaked.grad[0, 1]) > 0 > float(peaked.grad[0, 0])  # descent flattens it


def test_outlier_exposure_makes_a_model_unsure_on_outliers_only() -> None:
    """Outliers that look like view 0 plus a mark no view has: trained on the views alone a
    model calls them view 0 with confidence; with exposure it learns the mark and is unsure
    (near 1/8) on them, still sure on view 0 itself."""
    import torch
    from torch import nn

    from echostream.train.outlier_exposure import OutlierExposureLoss

    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(8).repeat(40)
    known = 3.0 * nn.functional.one_hot(labels, 16).float() + 0.3 * torch.randn(
        320, 16, generator=gen
    )
    outliers = known[labels == 0][:30].clone()
    outliers[:, 8] += 3.0
    x = torch.cat([known, outliers])
    y = torch.cat([labels, torch.full((30,), 8)])

    def train(loss: nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> nn.Module:
        torch.manual_seed(0)
        model = nn.Linear(16, 8)
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(300):
            opt.zero_grad()
            loss(model(xs), ys).backward()
            opt.step()
        return model

    def score(model: nn.Module, xs: torch.Tensor) -> float:
        with torch.no_grad():
            return float(model(xs).softmax(1).max(1).values.mean())

    plain = train(nn.CrossEntropyLoss(), known, labels)
    exposed = train(OutlierExposureLoss(8, 0.5), x, y)
    assert score(plain, outliers) > 0.8
    assert score(exposed, outliers) < 0.25 and score(exposed, known[labels == 0]) > 0.8


def test_outlier_exposure_run_keeps_eight_outputs_and_scores_other_lower(
    with_other, tmp_path
) -> None:
    """``data.other: exposure`` end to end: 8 outputs, the OTHER frames in training but not in
    its test report, and ``evaluate`` scores known vs OTHER frames of the file."""
    from echostream.models.export import export_checkpoint
    from echostream.stream.model_file import ModelInfo
    from echostream.train.config import config_from_dict
    from echostream.train.runner import train_main

    cfg = config_from_dict(
        {
            "name": "toy_exposure",
            "data": {
                "fractions": [0.67, 0.17, 0.16],
                "store": str(tmp_path / "store"),
                "other": "exposure",
            },
            "model": {"name": "baseline", "kwargs": {"widths": [8, 16, 16], "fc_widths": [64, 32]}},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"batch_size": 32, "epochs": 8, "threads": 1, "exposure_weight": 1.0},
            "eval": {"tsne_max": 0, "batch_size": 64},
        }
    )
    run = train_main(cfg, with_other, out=tmp_path / "run", progress=False, evaluate_test=True)
    export_checkpoint(run / "final.pt", run / "model.onnx")
    assert ModelInfo.from_onnx(run / "model.onnx").labels == VIEWS
    m = json.loads((run / "eval_test" / "metrics.json").read_text())["metrics"]
    assert len(m["confusion_matrix"]) == 8
    assert sum(c["support"] for c in m["per_class"].values()) == 6 * 8  # known frames only
    out = tmp_path / "eval"
    res = cli("evaluate", run / "model.onnx", "--data", with_other, "--split", "all", "--out",
              out, "--no-progress", "--threads", "1")  # fmt: skip
    assert res.exit_code == 0, res.output
    unknown = json.loads((out / "metrics.json").read_text())["metrics"]["unknown"]
    assert unknown["other_frames"] == 36 and unknown["auroc"] > 0.9
