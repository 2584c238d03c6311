"""The CLI's manners: which precision copy ``classify`` runs (and says so), the model's data as
an object without paths, sensible decimals, an 80-column table whose rows can be told apart,
and help without ``<bool>`` after flags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from echostream.stream.cli import app
from echostream.stream.model_file import ModelInfo, load_onnx

pytestmark = pytest.mark.timeout(300)

TRAINER_DATA = {
    "manifest": "/tmp/tmpab12/run-of-jane-doe/sim_train_s1/manifest.csv",
    "cines": 24,
    "patients": 3,
    "vendors": ["epiq7g", "ie33"],
    "skipped": 0,
    "simulated": True,
}


def classify(*args: str | Path, columns: int = 80):
    return CliRunner().invoke(
        app, ["classify", *(str(a) for a in args)], env={"COLUMNS": str(columns)}
    )


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory, stream_model: Path) -> Path:
    """``m.onnx`` as the trainer writes it (data: JSON text with a temp path) + ``m.int8.onnx``."""
    from echostream.models.export import save_onnx
    from echostream.models.quantize import quantize_int8

    folder = tmp_path_factory.mktemp("zoo")
    info = ModelInfo.from_onnx(stream_model)
    provenance = {**info.provenance, "data": json.dumps(TRAINER_DATA)}
    save_onnx(load_onnx(stream_model), info.with_(provenance=provenance), folder / "m.onnx")
    calib = np.random.default_rng(0).standard_normal((16, *info.input_size)).astype("float32")
    quantize_int8(folder / "m.onnx", folder / "m.int8.onnx", calib)
    return folder / "m.onnx"


def _cpu_onnxruntime() -> bool:
    from echostream.stream.backends import resolve
    from echostream.stream.backends.ort_backend import default_providers

    return resolve("auto") == "onnxruntime" and default_providers()[0] == "CPUExecutionProvider"


def test_classify_runs_the_int8_copy_on_cpu_and_says_so(zoo: Path, small_cine: Path) -> None:
    res = classify(small_cine, "--model", zoo, "--json")
    assert res.exit_code == 0, res.output
    model = json.loads(res.stdout)["model"]
    want = "int8" if _cpu_onnxruntime() else "fp32"
    assert model["precision"] == model["backend"]["precision"] == want
    assert Path(model["file"]).name == ("m.int8.onnx" if want == "int8" else "m.onnx")
    assert "--precision" in model["choice"]
    res = classify(small_cine, "--model", zoo, "--json", "--precision", "fp32")
    model = json.loads(res.stdout)["model"]
    assert (Path(model["file"]).name, model["precision"]) == ("m.onnx", "fp32")
    res = classify(small_cine, "--model", zoo.with_name("m.int8.onnx"), "--json", "-p", "fp32")
    assert json.loads(res.stdout)["model"]["precision"] == "fp32"  # int8 file → its fp32 copy


def test_precision_errors_and_stale_copies(zoo: Path, small_cine: Path, tmp_path: Path) -> None:
    shutil.copy(zoo, tmp_path / "lonely.onnx")
    res = classify(small_cine, "--model", tmp_path / "lonely.onnx", "--precision", "int8")
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'lonely.int8.onnx'}: no int8 copy of lonely.onnx (export one)"
    ]
    res = classify(small_cine, "--model", zoo, "--precision", "int4")
    assert res.exit_code == 2 and "--precision must be one of" in res.stderr
    # an int8 copy quantized from other weights is never picked by auto
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(zoo.with_name("m.int8.onnx"), other / "m.int8.onnx")
    from echostream.models.export import save_onnx

    proto = load_onnx(zoo)
    proto.graph.initializer[0].raw_data = bytes(len(proto.graph.initializer[0].raw_data))
    save_onnx(proto, ModelInfo.from_onnx(zoo), other / "m.onnx")
    res = classify(small_cine, "--model", other / "m.onnx", "--json")
    assert res.exit_code == 0, res.output
    model = json.loads(res.stdout)["model"]
    assert model["precision"] == "fp32" and Path(model["file"]).name == "m.onnx"
    if _cpu_onnxruntime():
        assert "not from these weights" in model["choice"]


def test_model_data_is_an_object_without_paths(zoo: Path, ybr_color_path: Path) -> None:
    res = classify(ybr_color_path, "--model", zoo, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["model"]["data"] == {
        "dataset": "sim_train_s1",
        **{k: v for k, v in TRAINER_DATA.items() if k != "manifest"},
    }
    assert "/tmp/tmpab12" not in res.stdout and "jane-doe" not in res.stdout
    assert "sim_train_s1: 3 patients, 24 cines" in data["note"]
    cine = data["cines"][0]
    assert cine["fps"] == 30.0  # FrameTime 33.333 ms: 30.0003 fps, 3 decimals
    for key in ("confidence", "vote_share"):
        assert cine[key] == round(cine[key], 4)
    res = classify(ybr_color_path, "--model", zoo)
    assert "/tmp/tmpab12" not in res.stdout and "sim_train_s1" in res.stdout


def test_table_rows_can_be_told_apart_at_80_columns(
    zoo: Path, small_cine: Path, tmp_path: Path
) -> None:
    names = []
    for patient in ("P0001/ST01", "P0002/ST01"):
        (tmp_path / "study" / patient).mkdir(parents=True)
        names.append(f"{patient}/SE01.dcm")
        shutil.copy(small_cine, tmp_path / "study" / names[-1])
    res = classify(tmp_path / "study", "--model", zoo, columns=80)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in names:  # the shared folder is dropped; what tells them apart is shown whole
        assert any(name in line for line in lines), res.stdout
    assert "2 file(s), 48 frames" in res.stdout


def test_help_shows_no_bool_placeholder_after_flags() -> None:
    res = CliRunner().invoke(app, ["classify", "--help"], env={"COLUMNS": "100"})
    assert res.exit_code == 0
    assert "--json" in res.stdout and "--per-frame" in res.stdout
    assert "<bool>" not in res.stdout
    assert "<path>" in res.stdout  # options that take a value keep their type
