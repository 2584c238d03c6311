from __future__ import annotations

import json

import numpy as np
import pytest

from echostream.train.evaluate import (
    Predictions,
    ReportSettings,
    compute_metrics,
    expected_calibration_error,
    majority_vote,
    sequence_accuracy,
    write_report,
)


def _onehot(pred, k=8, p=0.9):
    probs = np.full((len(pred), k), (1 - p) / (k - 1))
    probs[np.arange(len(pred)), pred] = p
    return probs


def test_majority_vote_sequence_accuracy_by_hand():
    # cine 10: true A4C(4); frames vote 4,4,3 → 4 right
    # cine 11: true A2C(6); frames vote 5,5,6 → 5 wrong (frame acc 1/3 but sequence wrong)
    # cine 12: true PLAX(0); a 1–1 tie 0 vs 2, broken by mean probability → 0 right
    labels = np.array([4, 4, 4, 6, 6, 6, 0, 0])
    pred = np.array([4, 4, 3, 5, 5, 6, 0, 2])
    cines = np.array([10, 10, 10, 11, 11, 11, 12, 12])
    probs = _onehot(pred)
    probs[6] = _onehot([0], p=0.95)[0]
    assert majority_vote(pred, probs, cines) == {10: 4, 11: 5, 12: 0}
    acc, n = sequence_accuracy(labels, probs, cines)
    assert n == 3 and acc == pytest.approx(2 / 3)
    m = compute_metrics(labels, probs, cines)
    assert m["frame_accuracy"] == pytest.approx(4 / 8)
    assert m["sequence_accuracy"] == pytest.approx(2 / 3)
    assert np.array(m["confusion_matrix"]).sum() == 8 and m["confusion_matrix"][6][5] == 2


def test_ece():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])
    # bin 0.9: acc 2/3 vs conf 0.9 (weight 3/4); bin 0.8: acc 1 vs 0.8 (weight 1/4)
    assert expected_calibration_error(labels, probs) == pytest.approx(
        0.75 * (0.9 - 2 / 3) + 0.25 * 0.2
    )


def test_report_has_every_metric(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 10)
    logits = rng.normal(size=(80, 8)) + 3 * np.eye(8)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    cines = labels * 2 + (np.arange(80) % 2)
    pred = Predictions(labels, probs, cines, rng.normal(size=(80, 16)) + labels[:, None])
    m = compute_metrics(labels, probs, cines)
    write_report(tmp_path, m, pred, ReportSettings(title="t", simulated=True, tsne_max=50))
    for name in (
        "report.md",
        "metrics.json",
        "confusion.csv",
        "confusion_normalised.csv",
        "confusion.png",
        "roc.png",
        "reliability.png",
        "tsne.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["simulated_data"] is True
    for k in (
        "frame_accuracy",
        "sequence_accuracy",
        "macro_precision",
        "macro_recall",
        "auc",
        "expected_calibration_error",
        "confusion_matrix",
        "per_class",
    ):
        assert k in doc["metrics"], k
    assert set(doc["metrics"]["auc"]) == {
        "PLAX",
        "SAXMID",
        "SAXBASAL",
        "A5C",
        "A4C",
        "A3C",
        "A2C",
        "SUB4C",
    }
    report = (tmp_path / "report.md").read_text()
    assert "Simulated data" in report and "sequence accuracy" in report and "tsne.png" in report


def test_train_and_evaluate_commands(toy_data, tmp_path):
    """`echostream train` then `echostream evaluate` on the toy data, through typer."""
    import typer
    from typer.testing import CliRunner

    from echostream.train.cli_train import register

    app = typer.Typer()
    register(app, typer.Typer())
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "name: toy\ndata: {fractions: [0.67, 0.17, 0.16], store: " + str(tmp_path / "store") + "}\n"
        "model: {name: baseline, kwargs: {widths: [8, 16, 16], fc_widths: [64, 32]}}\n"
        "train: {batch_size: 32, epochs: 5, threads: 1}\neval: {tsne_max: 100}\n"
        "scales: {tiny: {train: {epochs: 1}}}\n"
    )
    run = tmp_path / "run"
    r = CliRunner().invoke(
        app,
        [
            "train",
            str(cfg),
            "--data",
            str(toy_data),
            "--scale",
            "tiny",
            "--out",
            str(run),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    for name in (
        "config.yaml",
        "splits.csv",
        "history.csv",
        "curves.png",
        "best.pt",
        "final.pt",
        "last.pt",
        "eval_test/report.md",
        "eval_test/metrics.json",
    ):
        assert (run / name).is_file(), name
    assert "epochs: 1" in (run / "config.yaml").read_text()  # the resolved config
    assert "Simulated data" not in (run / "eval_test" / "report.md").read_text()  # toy ≠ simulator
    r = CliRunner().invoke(app, ["train", str(cfg), "--data", str(toy_data), "--out", str(run)])
    assert r.exit_code == 2 and "--resume" in r.output
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(run),
            "--data",
            str(toy_data),
            "--split",
            "all",
            "--out",
            str(tmp_path / "ev"),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert doc["metrics"]["frames"] == 288 and doc["metrics"]["cines"] == 48
    from echostream.models.checkpoint import load_checkpoint

    model, ck = load_checkpoint(run / "final.pt")
    assert model.cfg.mean[0] > 0.05 and model.cfg.std[0] > 0.05  # training-set whitening saved
    assert ck["config"]["train"]["epochs"] == 1 and ck["provenance"]["simulated_data"] is False


def test_item_results_vote_then_probability_and_truth_probability():
    """One row per cine: top-1 by vote share, ties and runner-up by mean probability; the
    doctest examples of the module run too."""
    import doctest

    import numpy as np

    from echostream.train import evaluate_items
    from echostream.train.evaluate_items import item_results

    probs = np.array([[0.5, 0.4, 0.1], [0.2, 0.7, 0.1], [0.45, 0.1, 0.45], [0.1, 0.1, 0.8]])
    rows = item_results(
        np.array([1, 1, 2, 2]), probs, np.array([7, 7, 9, 9]), ["A", "B", "C"], {7: "x.mp4"}
    )
    x, other = rows
    assert (x["item"], x["top1"], x["top2"], x["top1_share"]) == ("x.mp4", "B", "A", 0.5)
    assert x["top1_right"] and x["truth_mean_prob"] == 0.55  # tie 1-1: B's mean 0.55 > A's
    assert (other["item"], other["top1"], other["top2_right"]) == ("9", "C", True)
    assert doctest.testmod(evaluate_items).failed == 0
