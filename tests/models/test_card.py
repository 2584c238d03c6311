"""Model card: every number read from the model files, manifests and metrics.json."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from echostream.models.card import most_confused, write_model_card
from echostream.stream.views import VIEWS


def _onnx(path: Path, precision: str, mean: float = 0.2) -> None:
    """A tiny self-describing ONNX file (flatten → matmul) with echostream metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from echostream.stream.model_file import ModelInfo, weights_sha256, write_metadata

    w = numpy_helper.from_array(np.full((48, 8), 0.01, np.float32), "W")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"]),
            helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 6, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 8])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    info = ModelInfo(
        model_name="baseline",
        labels=VIEWS,
        input_size=(1, 6, 8),
        mean=(mean,),
        std=(0.125,),
        interpolation="bicubic",
        precision=precision,
        weights_sha256=weights_sha256(model),
        model_version="card-test-1",
        provenance={
            "data": json.dumps({"manifest": "x/sim-train/manifest.csv", "patients": 3}),
            "simulated_data": True,
            "dataset_seed": 7,
            "created": "2026-01-02T03:04:05+00:00",
            "init": "weights of realecho_v2.pt",
        },
    )
    write_metadata(model, info)
    onnx.save(model, str(path))


def _dataset(root: Path, patients: int, vendors: list[str], frames: int, seed: int | None):
    root.mkdir(parents=True)
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["path", "patient_id", "vendor", "view", "n_frames", "simulated"])
        w.writeheader()
        for p in range(patients):
            for view in VIEWS:
                w.writerow(
                    {
                        "path": f"p{p}/{view}.dcm",
                        "patient_id": f"p{p}",
                        "vendor": vendors[p % len(vendors)],
                        "view": view,
                        "n_frames": frames,
                        "simulated": 1,
                    }
                )
    if seed is not None:
        (root / "simulation.json").write_text(json.dumps({"seed": seed, "patients": patients}))
    return root


def _metrics(path: Path, model_file: str = "model.int8.onnx") -> dict:
    cm = np.diag([40, 40, 40, 30, 33, 36, 35, 40])
    cm[3, 4], cm[4, 3] = 7, 4  # A5C ↔ A4C: 11
    cm[5, 6], cm[6, 5] = 1, 5  # A3C ↔ A2C: 6
    cm[0, 7] = 2  # PLAX → SUB4C: 2
    total = int(cm.sum())
    per_class = {
        name: {
            "precision": float(cm[c, c] / cm[:, c].sum()),
            "recall": float(cm[c, c] / cm[c].sum()),
            "f1": 0.0,
            "support": int(cm[c].sum()),
        }
        for c, name in enumerate(VIEWS)
    }
    doc = {
        "title": "t",
        "simulated_data": True,
        "model file": model_file,
        "precision": "int8",
        "split": "all",
        "metrics": {
            "frames": total,
            "cines": 32,
            "frame_accuracy": float(np.trace(cm) / total),
            "sequence_accuracy": 0.96875,
            "macro_precision": float(np.mean([v["precision"] for v in per_class.values()])),
            "macro_recall": float(np.mean([v["recall"] for v in per_class.values()])),
            "per_class": per_class,
            "confusion_matrix": cm.tolist(),
            "labels": list(VIEWS),
        },
    }
    path.write_text(json.dumps(doc))
    return doc


@pytest.fixture
def export(tmp_path):
    _onnx(tmp_path / "model.onnx", "fp32")
    _onnx(tmp_path / "model.int8.onnx", "int8", mean=0.3)
    train = _dataset(tmp_path / "sim-train", 3, ["GE", "Philips", "Siemens"], 12, seed=7)
    test = _dataset(tmp_path / "sim-test", 4, ["GE", "Philips"], 10, seed=1234)
    doc = _metrics(tmp_path / "metrics.json")
    return tmp_path, train, test, doc


def test_card_reads_everything_from_files(export):
    from echostream.stream.model_file import file_sha256

    root, train, test, doc = export
    card = write_model_card(
        root / "model.onnx",
        root / "metrics.json",
        train_manifest=train,
        test_manifest=test,
        train_command=["echostream train configs/x.yaml --data sim-train", "echostream export ..."],
        eval_command="echostream evaluate model.int8.onnx --data sim-test --split all",
    )
    assert card == root / "model.md"
    text = card.read_text()
    m = doc["metrics"]
    assert "baseline card-test-1" in text
    assert "- started from: weights of realecho_v2.pt" in text  # the fine-tuning start
    for name in ("model.onnx", "model.int8.onnx"):  # both precisions, sizes, sha256 prefixes
        size = (root / name).stat().st_size / 1e3
        assert f"`{file_sha256(root / name)[:16]}`" in text and f"{size:.1f} kB" in text
    assert "| `model.int8.onnx` | int8 |" in text and "| `model.onnx` | fp32 |" in text
    assert "(1, 6, 8)" not in text and "(batch, 1, 6, 8)" in text and "bicubic" in text
    assert "mean [0.2000], std [0.1250]" in text  # the card's own (fp32) file
    assert "Training dataset: SIMULATED" in text and "Test dataset: SIMULATED" in text
    assert "seed **7**" in text and "seed **1234**" in text
    assert "3 patients, 24 cines, 288 frames" in text  # train: 3 × 8 cines × 12 frames
    assert "4 patients, 32 cines, 320 frames" in text  # test
    assert "| Siemens | 1 | 8 | 96 |" in text and "| GE | 2 | 16 | 160 |" in text
    assert "| A4C | 1 / 12 | 1 / 12 | 1 / 12 | 3 / 36 |" in text
    assert f"| frame accuracy | {100 * m['frame_accuracy']:.1f} % |" in text
    assert "| sequence accuracy (majority vote per cine) | 96.9 % |" in text
    assert f"| macro recall | {100 * m['macro_recall']:.1f} % |" in text
    assert f"| A5C | {100 * m['per_class']['A5C']['recall']:.1f} %" in text
    assert "| **A5C** | 0 | 0 | 0 | 30 | 7 | 0 | 0 | 0 |" in text
    pairs = re.findall(r"^- (\S+) ↔ (\S+): (\d+) frames", text, re.M)
    assert pairs == [("A5C", "A4C", "11"), ("A3C", "A2C", "6")]
    assert "echostream export ..." in text and "--split all" in text
    assert "never seen a real patient" in text and "not a medical device" in text
    assert "Simulated test metrics" in text


def test_most_confused_counts_both_directions():
    cm = [[5, 1, 0], [3, 4, 0], [0, 2, 9]]
    assert most_confused(cm, ["a", "b", "c"]) == [
        {"pair": ("a", "b"), "frames": 4, "a_as_b": 1, "b_as_a": 3},
        {"pair": ("b", "c"), "frames": 2, "b_as_c": 0, "c_as_b": 2},
    ]
    assert most_confused(np.eye(3, dtype=int).tolist(), ["a", "b", "c"]) == []


def test_model_card_command(export):
    import typer
    from typer.testing import CliRunner

    from echostream.models.cli import register

    root, train, test, _ = export
    app = typer.Typer()
    register(app, typer.Typer())
    out = root / "cards" / "card.md"
    args = ["model-card", str(root / "model.int8.onnx"), "--metrics", str(root / "metrics.json")]
    args += ["--train-data", str(train), "--test-data", str(test), "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "mean [0.3000]" in text  # this time the card is of the int8 file
    assert f"echostream evaluate {root / 'model.int8.onnx'} --data {test} --split all" in text
    assert "not recorded: pass --train-command" in text  # no checkpoint beside the files
    _metrics(root / "other.json", model_file="someone-else.onnx")
    args[3] = str(root / "other.json")
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1 and "someone-else.onnx" in r.output and "Traceback" not in r.output


def test_card_reports_real_labelled_files_per_item(export):
    """--real-eval: a real folder's evaluation gets its own section (n, caveat, every item's
    top-1/top-2), read from its metrics.json and items.csv; a simulated one is refused."""
    root, train, test, _ = export
    real = root / "eval_real"
    real.mkdir()
    doc = _metrics(real / "metrics.json", "model.onnx")
    doc["simulated_data"] = False
    doc["data"] = "/somewhere/real-dev"
    (real / "metrics.json").write_text(json.dumps(doc))
    (real / "items.csv").write_text(
        "item,frames,truth,top1,top1_share,top1_mean_prob,top2,top2_share,top1_right,top2_right\n"
        "a4c.png,1,A4C,A4C,1.0,0.9,A5C,0.0,True,True\n"
        "clip.mp4,40,PLAX,SAXMID,0.6,0.5,PLAX,0.4,False,True\n"
        "psax.png,1,SAXMID,PLAX,1.0,0.7,SUB4C,0.0,False,False\n"
    )
    card = write_model_card(
        root / "model.onnx",
        root / "metrics.json",
        train_manifest=train,
        test_manifest=test,
        train_command="t",
        eval_command="e",
        real_evals=[real],
    ).read_text()
    assert "## Real labelled files: `real-dev` (3 items)" in card
    assert (
        "top-1 1/3, top-2 2/3" in card
        and "| clip.mp4 | PLAX | SAXMID (60 %) | PLAX | top-2 |" in card
    )
    assert "not a validation" in card
    doc["simulated_data"] = True
    (real / "metrics.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="simulated data, not real files"):
        write_model_card(root / "model.onnx", root / "metrics.json", train_manifest=train,
                         test_manifest=test, train_command="t", eval_command="e",
                         real_evals=[real])  # fmt: skip
