"""Backend plugin table, ONNX Runtime and torch backends, `echostream backends`, bench models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from echostream.stream.backends import (
    BACKENDS,
    available_backends,
    get_backend,
    is_available,
    load_backend,
    resolve,
)
from echostream.stream.backends.base import Backend, softmax
from echostream.stream.model_file import ModelFileError, ModelInfo
from echostream.stream.views import VIEWS


def test_import_is_light() -> None:
    code = (
        "import sys, echostream.stream, echostream.stream.backends, echostream.stream.preprocess;"
        "print([m for m in ('torch', 'onnxruntime', 'tensorrt') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plugin_table_and_reasons() -> None:
    table = available_backends()
    assert set(table) == set(BACKENDS) == {"onnxruntime", "tensorrt", "torch"}
    for ok, reason in table.values():
        assert isinstance(ok, bool) and reason
    assert table["onnxruntime"][0]
    with pytest.raises(ValueError, match="unknown backend"):
        is_available("magic")
    if not table["tensorrt"][0]:
        assert resolve("auto") == "onnxruntime"
        assert get_backend("auto").name == "onnxruntime"
        with pytest.raises(RuntimeError, match="not available"):
            get_backend("tensorrt")
    assert resolve("auto", "ckpt.pt") == "torch"


class _Fixed(Backend):
    """A backend whose model returns fixed numbers: shows where softmax happens."""

    name = "fixed"

    def load(self, model_file, **opts):  # noqa: ANN001, ANN003, ANN201
        self.info = ModelInfo(
            model_name="t",
            labels=VIEWS[:3],
            input_size=(1, 4, 4),
            mean=(0.0,),
            std=(1.0,),
            output=opts["output"],
        )
        return self

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.tile(np.array([[1.0, 2.0, 3.0]], dtype=np.float32), (len(batch), 1))


def test_softmax_applied_once_per_metadata() -> None:
    x = np.zeros((2, 1, 4, 4), dtype=np.float32)
    p = _Fixed().load("x", output="logits").predict(x)
    np.testing.assert_allclose(p, softmax(np.array([[1.0, 2.0, 3.0]] * 2)), rtol=1e-6)
    assert np.allclose(p.sum(1), 1.0)
    raw = _Fixed().load("x", output="probabilities").predict(x)
    np.testing.assert_array_equal(raw, [[1.0, 2.0, 3.0]] * 2)
    with pytest.raises(ValueError, match=r"batch must be \(B, 1, 4, 4\)"):
        _Fixed().load("x", output="logits").predict(np.zeros((2, 1, 5, 4), np.float32))
    assert _Fixed().load("x", output="logits").predict(x[:0]).shape == (0, 3)
    with pytest.raises(RuntimeError, match="load"):
        _Fixed().predict(x)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    from torch import nn

    from echostream.models.checkpoint import make_provenance, save_checkpoint
    from echostream.models.export import export_checkpoint
    from echostream.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("baseline")
    x = torch.randn(32, 1, 60, 80) + torch.randn(32, 1, 1, 1)
    for m in model.modules():  # batch-norm statistics from data, so outputs depend on input
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
        model.eval()
        model.head.weight.mul_(3.0 / model(x).std(0).mean())
    folder = tmp_path_factory.mktemp("backends")
    ckpt = save_checkpoint(
        folder / "ckpt.pt",
        model,
        model_name="baseline",
        model_kwargs={},
        cfg=model.cfg,
        provenance=make_provenance(data="unit test"),
        config=None,
        epoch=0,
    )
    export_checkpoint(ckpt, folder / "model.onnx")
    return {"ckpt": ckpt, "onnx": folder / "model.onnx", "folder": folder}


def _inputs(b: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((b, 1, 60, 80)) + rng.standard_normal((b, 1, 1, 1))).astype(
        np.float32
    )


def test_onnxruntime_backend(model_files) -> None:
    b = load_backend(model_files["onnx"], "onnxruntime", threads=1)
    assert b.name == "onnxruntime" and b.info.labels == VIEWS
    assert "CPUExecutionProvider" in b.describe()["providers"]
    b.warmup((1, 4))
    for n in (1, 5):
        p = b.predict(_inputs(n))
        assert p.shape == (n, 8) and p.dtype == np.float32
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    assert b.predict(_inputs(1)[0]).shape == (1, 8)  # a single (C, H, W) input


def test_torch_backend_matches_onnxruntime(model_files) -> None:
    x = _inputs(6, seed=1)
    ort_p = load_backend(model_files["onnx"], "onnxruntime", threads=1).predict(x)
    from_ckpt = load_backend(model_files["ckpt"], "torch", device="cpu")
    from_onnx = load_backend(model_files["onnx"], "torch", device="cpu")
    assert from_onnx.info.weights_sha256 == ModelInfo.from_onnx(model_files["onnx"]).weights_sha256
    for b in (from_ckpt, from_onnx):
        assert b.info.precision == "fp32" and b.info.input_size == (1, 60, 80)
        np.testing.assert_allclose(b.predict(x), ort_p, atol=1e-4)
    assert ort_p.max(1).mean() > 0.3  # not uniform: the comparison can fail


def test_torch_backend_needs_its_checkpoint(model_files, tmp_path: Path) -> None:
    import shutil

    shutil.copy(model_files["onnx"], tmp_path / "alone.onnx")
    with pytest.raises(ModelFileError, match="not beside it"):
        load_backend(tmp_path / "alone.onnx", "torch")


def test_bad_model_files(tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="junk.onnx"):
        load_backend(tmp_path / "junk.onnx", "onnxruntime")
    with pytest.raises(ModelFileError, match="no such model file"):
        load_backend(tmp_path / "none.onnx", "onnxruntime")


def test_cli_backends_json() -> None:
    from typer.testing import CliRunner

    from echostream.stream.cli import app

    res = CliRunner().invoke(app, ["backends", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["onnxruntime"]["available"] and data["onnxruntime"]["providers"]
    assert data["tensorrt"]["reason"]
    res = CliRunner().invoke(app, ["backends"])
    assert res.exit_code == 0 and "tensorrt" in res.stdout


@pytest.mark.slow
def test_bench_models_json() -> None:
    from typer.testing import CliRunner

    from echostream.stream.cli import app

    args = ["bench", "models", "--models", "baseline", "--backends", "onnxruntime,torch"]
    args += ["--batch", "1,4", "--repeats", "2", "--round-s", "0.02", "--threads", "1", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    got = {(r["backend"], r["batch"]) for r in rows}
    assert got == {(b, n) for b in ("onnxruntime", "onnxruntime-int8", "torch") for n in (1, 4)}
    assert all(r["ms_per_frame"] > 0 and r["frames_per_s"] > 0 for r in rows)
    assert {r["precision"] for r in rows if r["backend"] == "onnxruntime-int8"} == {"int8"}
    # progress on stderr, one line per step, even when stderr is not a terminal
    progress = res.stderr.splitlines()
    assert progress[0] == "bench models [1/1] baseline: exporting"
    assert sum("ms/frame" in line for line in progress) == len(rows)


def test_bench_models_default_set_is_quick() -> None:
    from echostream.models.registry import list_models
    from echostream.stream.bench_models import QUICK_MODELS, select_models

    registered = list_models()
    assert select_models("quick", registered) == select_models("", registered)
    assert select_models("", registered) == list(QUICK_MODELS)
    assert set(QUICK_MODELS) < set(registered) and "vgg16" not in QUICK_MODELS
    assert select_models("all", registered) == registered
    with pytest.raises(ValueError, match="unknown models nope"):
        select_models("baseline,nope", registered)


def test_tensorrt_reason_is_about_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without tensorrt the reason says what is true here (not installed, how to get it)."""
    from echostream.stream.backends import tensorrt

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt → ImportError
    ok, reason = tensorrt.is_available()
    assert not ok
    assert "not installed in this Python environment" in reason
    assert "pip install 'echostream[gpu]'" in reason and "wheels" not in reason


@pytest.mark.gpu
def test_torch_cuda_fp16_cuda_graphs(model_files) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x = _inputs(8, seed=2)
    ref = load_backend(model_files["ckpt"], "torch", device="cpu").predict(x)
    fast = load_backend(model_files["ckpt"], "torch", device="cuda")
    assert fast.fp16 and fast.cuda_graphs and fast.info.precision == "fp16"
    for _ in range(2):  # first call captures the graph, second replays it
        np.testing.assert_allclose(fast.predict(x), ref, atol=1e-2)
    np.testing.assert_allclose(fast.predict(x[:3]), ref[:3], atol=1e-2)  # another batch size
    fp32 = load_backend(model_files["ckpt"], "torch", device="cuda", fp16=False)
    np.testing.assert_allclose(fp32.predict(x), ref, atol=1e-4)
