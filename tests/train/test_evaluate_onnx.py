"""`echostream evaluate MODEL.onnx`: fp32 and int8 exports of a tiny toy model, via the CLI."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture(scope="module")
def exported(toy_data, tmp_path_factory):
    """A toy dataset copy, a tiny trained run, and its fp32 + int8 ONNX exports beside it."""
    from echostream.models.export import export_checkpoint
    from echostream.models.quantize import quantize_int8
    from echostream.train.config import config_from_dict
    from echostream.train.runner import train_main

    tmp = tmp_path_factory.mktemp("onnx_eval")
    data = tmp / "data"
    shutil.copytree(toy_data, data, ignore=shutil.ignore_patterns(".frame_store"))
    cfg = config_from_dict(
        {
            "name": "toy",
            "data": {"fractions": [0.67, 0.17, 0.16], "store": str(tmp / "store")},
            "model": {"name": "baseline", "kwargs": {"widths": [8, 16, 16], "fc_widths": [64, 32]}},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"batch_size": 32, "epochs": 10, "threads": 1},
            "eval": {"tsne_max": 60, "batch_size": 64},
        }
    )
    run = train_main(cfg, data, out=tmp / "run", progress=False, evaluate_test=False)
    fp32 = run / "model.onnx"
    export_checkpoint(run / "final.pt", fp32)
    store = _store_inputs(tmp / "store", fp32)
    quantize_int8(fp32, run / "model.int8.onnx", store)
    return data, run


def _store_inputs(store_dir, model_file, n=64):
    """Calibration inputs: stored crops normalised by the model file's own preprocessor."""
    import numpy as np

    from echostream.stream.model_file import ModelInfo
    from echostream.stream.preprocess import Preprocessor
    from echostream.train.frame_store import open_frame_store

    pre = Preprocessor.from_model_info(ModelInfo.from_onnx(model_file))
    frames = open_frame_store(store_dir).frames
    idx = np.linspace(0, len(frames) - 1, n).astype(int)
    return np.stack([pre.from_pixels(np.asarray(frames[i])) for i in idx])


def _evaluate(args):
    import typer
    from typer.testing import CliRunner

    from echostream.train.cli_train import register

    app = typer.Typer()
    register(app, typer.Typer())
    return CliRunner().invoke(app, ["evaluate", *map(str, args), "--no-progress", "--threads", "1"])


@pytest.mark.slow
def test_onnx_fp32_matches_checkpoint_and_int8_close(exported, tmp_path):
    data, run = exported
    r = _evaluate([run / "final.pt", "--data", data, "--split", "all", "--out", tmp_path / "pt"])
    assert r.exit_code == 0, r.output
    ref = json.loads((tmp_path / "pt" / "metrics.json").read_text())["metrics"]
    docs = {}
    for name in ("model.onnx", "model.int8.onnx"):
        out = tmp_path / name
        r = _evaluate([run / name, "--data", data, "--split", "all", "--out", out])
        assert r.exit_code == 0, r.output
        docs[name] = json.loads((out / "metrics.json").read_text())
        for f in ("report.md", "confusion.csv", "confusion.png", "roc.png", "tsne.png"):
            assert (out / f).stat().st_size > 0, f
        report = (out / "report.md").read_text()
        assert f"model file: {name}" in report and "Simulated data" not in report  # toy data
        assert "t-SNE features from the checkpoint" in report
    m32, m8 = docs["model.onnx"]["metrics"], docs["model.int8.onnx"]["metrics"]
    assert docs["model.onnx"]["precision"] == "fp32"
    assert docs["model.int8.onnx"]["precision"] == "int8"
    assert m32["frames"] == ref["frames"] == 288 and m32["cines"] == 48
    # Same crops, same whitening arithmetic: the fp32 file agrees with torch on (nearly) all.
    assert m32["frame_accuracy"] == pytest.approx(ref["frame_accuracy"], abs=2 / 288)
    assert m32["confusion_matrix"] != [[0] * 8] * 8
    assert ref["frame_accuracy"] > 0.7  # the tiny model learned (chance is 1/8)
    assert m8["frame_accuracy"] == pytest.approx(m32["frame_accuracy"], abs=0.04)
    for k in ("sequence_accuracy", "macro_precision", "macro_recall", "expected_calibration_error"):
        assert 0.0 <= m8[k] <= 1.0, k


@pytest.mark.slow
def test_onnx_without_checkpoint_skips_tsne_and_marks_simulated(exported, tmp_path):
    """Moved away from its checkpoint: no t-SNE (noted); a simulated dataset is marked."""
    data, run = exported
    shutil.copy(run / "model.int8.onnx", tmp_path / "alone.int8.onnx")
    sim = tmp_path / "sim"
    shutil.copytree(data, sim, ignore=shutil.ignore_patterns(".frame_store"))
    (sim / "simulation.json").write_text('{"seed": 5}')  # the simulator's marker file
    out = tmp_path / "ev"
    r = _evaluate([tmp_path / "alone.int8.onnx", "--data", sim, "--split", "test", "--out", out])
    assert r.exit_code == 0, r.output
    report = (out / "report.md").read_text()
    assert "t-SNE skipped" in report and not (out / "tsne.png").exists()
    assert "default patient split" in report
    assert "Simulated data" in report and "precision: int8" in report
    assert json.loads((out / "metrics.json").read_text())["simulated_data"] is True


def test_onnx_errors_are_one_line(tmp_path, toy_data):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    r = _evaluate([bad, "--data", toy_data, "--split", "all"])
    assert r.exit_code == 2 and "bad.onnx" in r.output and "Traceback" not in r.output
    r = _evaluate([tmp_path / "missing.onnx", "--data", toy_data])
    assert r.exit_code == 2 and "missing.onnx" in r.output


@pytest.mark.slow
def test_other_dataset_gets_its_own_store(exported, tmp_path):
    """The training config's store is kept for the training data only: evaluating on another
    dataset (same relative cine paths) must not rewrite it."""
    data, run = exported
    store_index = run.parent / "store" / "cines.csv"
    before = store_index.read_text()
    other = tmp_path / "other"
    shutil.copytree(data, other, ignore=shutil.ignore_patterns(".frame_store"))
    r = _evaluate([run / "model.onnx", "--data", other, "--split", "all", "--out", tmp_path / "e"])
    assert r.exit_code == 0, r.output
    assert store_index.read_text() == before
    assert (other / ".frame_store" / "g60x80-bilinear" / "frames.u8").stat().st_size > 0


def test_own_labelled_folder_per_item_report(exported, toy_data, tmp_path):
    """A user's folder of labelled files (labels.csv: file, view; a still among the cines):
    the whole folder is evaluated, each file is one item with its top-1/top-2, OTHER rows are
    listed as skipped, and the report does not call real data simulated."""
    import csv

    import numpy as np
    from PIL import Image

    from echostream.stream.sources import open_source

    _, run = exported
    own = tmp_path / "own"
    own.mkdir()
    rows = list(csv.DictReader((toy_data / "manifest.csv").open()))[:3]
    lines = ["file,view"]
    for i, row in enumerate(rows):
        shutil.copy(toy_data / row["path"], own / f"cine{i}.dcm")
        lines.append(f"cine{i}.dcm,{row['view']}")
    with open_source(toy_data / rows[0]["path"]) as src:
        Image.fromarray(np.asarray(next(iter(src)).pixels)).save(own / "still.png")
    lines += [f"still.png,{rows[0]['view']}", "cine0.dcm_copy.mp4,OTHER"]
    (own / "labels.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "ev_own"
    r = _evaluate([run / "model.onnx", "--data", own, "--out", out])  # no --split: all
    assert r.exit_code == 0, r.output
    report = (out / "report.md").read_text()
    assert "Simulated data" not in report and "evaluation data simulated: no" in report
    assert "Per item (majority vote over each item's frames): top-1 " in report
    items = list(csv.DictReader((out / "items.csv").open()))
    assert sorted(i["item"] for i in items) == ["cine0.dcm", "cine1.dcm", "cine2.dcm", "still.png"]
    assert {i["item"]: i["truth"] for i in items}["still.png"] == rows[0]["view"]
    assert all(i["top1"] != i["top2"] for i in items)
    assert int(next(i for i in items if i["item"] == "still.png")["frames"]) == 1
