"""Checkpoint format, ONNX export with metadata, fp16/int8 copies, torch ↔ ONNX Runtime parity."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from echostream.models.checkpoint import (
    PROVENANCE_KEYS,
    load_checkpoint,
    make_provenance,
    save_checkpoint,
)
from echostream.models.export import convert_fp16, export_checkpoint, export_model, verify_onnx
from echostream.models.quantize import load_calibration, quantize_int8
from echostream.models.registry import count_parameters, create_model, list_models
from echostream.stream.backends.base import softmax
from echostream.stream.model_file import (
    PREFIX,
    REQUIRED_KEYS,
    ModelFileError,
    ModelInfo,
    weights_sha256,
)
from echostream.stream.preprocess import Preprocessor

torch.set_num_threads(1)


def smooth_inputs(n: int, input_size: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Inputs with structure (smooth blobs, varying brightness), unlike white noise."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = input_size
    low = torch.randn(n, c, max(2, h // 10), max(2, w // 10), generator=g)
    x = nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    return x + 0.5 * torch.randn(n, 1, 1, 1, generator=g)


def make_decisive(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, but batch-norm statistics from real-ish inputs and a head scaled so that
    probabilities are far from uniform and change with the input: parity tests can then fail."""
    torch.manual_seed(seed)
    x = smooth_inputs(48, tuple(model.cfg.input_size), seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        logits = model(x)
        scale = 3.0 / logits.std(0).mean().clamp_min(1e-6)
        head.weight.mul_(scale)
        if head.bias is not None:
            head.bias.mul_(scale).sub_(logits.mean(0) * scale)
    return model


def decisive(name: str = "baseline", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return make_decisive(create_model(name), seed)


def write_checkpoint(model: nn.Module, path: Path, name: str = "baseline") -> Path:
    prov = make_provenance(
        config={"test": 1}, data="unit test", simulated_data=True, dataset_seed=0
    )
    return save_checkpoint(
        path,
        model,
        model_name=name,
        model_kwargs={},
        cfg=model.cfg,
        provenance=prov,
        config={"test": 1},
        epoch=3,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, ModelInfo, Path]:
    folder = tmp_path_factory.mktemp("export")
    model = decisive("baseline")
    model.cfg = model.cfg.with_(mean=(0.25,), std=(0.5,))  # as after whitening
    ckpt = write_checkpoint(model, folder / "ckpt.pt")
    model, info = export_checkpoint(ckpt, folder / "model.onnx")
    return model, info, folder / "model.onnx"


def test_checkpoint_roundtrip(tmp_path: Path) -> None:
    model = decisive("baseline")
    model.cfg = model.cfg.with_(mean=(0.3,), std=(0.2,))
    path = write_checkpoint(model, tmp_path / "c.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    loaded, ckpt = load_checkpoint(path)
    assert not loaded.training
    assert loaded.cfg.mean == (0.3,) and loaded.cfg.std == (0.2,)
    assert set(PROVENANCE_KEYS) <= set(ckpt["provenance"])
    assert ckpt["provenance"]["simulated_data"] is True and ckpt["epoch"] == 3
    x = smooth_inputs(4, (1, 60, 80))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_checkpoint_rejects_foreign_files(tmp_path: Path) -> None:
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not an echostream checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="provenance lacks"):
        save_checkpoint(
            tmp_path / "y.pt",
            create_model("baseline"),
            model_name="baseline",
            model_kwargs={},
            cfg=create_model("baseline").cfg,
            provenance={"data": "x"},
            config=None,
            epoch=0,
        )


def test_onnx_checker_metadata_and_inline_weights(exported) -> None:
    _, info, path = exported
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    for key in REQUIRED_KEYS:
        json.loads(props[PREFIX + key])  # present and JSON
    assert all(i.data_location != onnx.TensorProto.EXTERNAL for i in proto.graph.initializer)
    assert path.stat().st_size > 4 * count_parameters(create_model("baseline")) * 0.9
    assert min(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    read = ModelInfo.from_onnx(path, verify=True)
    assert read.labels == info.labels and len(read.labels) == 8
    assert read.input_size == (1, 60, 80)
    assert read.mean == (0.25,) and read.std == (0.5,)  # the checkpoint's, not the registry's
    assert read.precision == "fp32" and read.simulated_data
    assert read.provenance["config_hash"] and read.checkpoint == "ckpt.pt"


def test_dynamic_batch_and_parity(exported) -> None:
    model, info, path = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b in (1, 5):
        x = smooth_inputs(b, info.input_size, seed=b)
        got = softmax(sess.run(None, {info.input_name: x.numpy()})[0])
        with torch.no_grad():
            ref = softmax(model(x).numpy())
        assert got.shape == (b, 8)
        np.testing.assert_allclose(got, ref, atol=1e-4)
    # the model is decisive, so a parity failure would show
    x = smooth_inputs(32, info.input_size, seed=7)
    with torch.no_grad():
        p = softmax(model(x).numpy())
    assert p.max(1).mean() > 0.4 and len(set(p.argmax(1))) > 1
    check = verify_onnx(model, path)
    assert check["max_abs_diff"] < 1e-4 and check["top1_agreement"] == 1.0


def test_checksum_detects_altered_weights(exported, tmp_path: Path) -> None:
    _, _, path = exported
    proto = onnx.load(str(path))
    init = proto.graph.initializer[0]
    arr = onnx.numpy_helper.to_array(init).copy()
    arr.flat[0] += 1.0
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    assert weights_sha256(proto) != ModelInfo.from_onnx(path).weights_sha256
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        ModelInfo.from_onnx(tmp_path / "bad.onnx", verify=True)


def test_onnx_without_metadata_is_a_clear_error(tmp_path: Path) -> None:
    model = create_model("baseline").eval()
    torch.onnx.export(
        model, (torch.randn(2, 1, 60, 80),), str(tmp_path / "plain.onnx"), dynamo=True
    )
    with pytest.raises(ModelFileError, match="no echostream metadata"):
        ModelInfo.from_onnx(tmp_path / "plain.onnx")
    with pytest.raises(ModelFileError, match="no such model file"):
        ModelInfo.from_onnx(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx at all")
    with pytest.raises(ModelFileError, match="junk.onnx"):
        ModelInfo.from_onnx(tmp_path / "junk.onnx")


def test_fp16_copy(exported, tmp_path: Path) -> None:
    _, info, path = exported
    half, converter = convert_fp16(path, tmp_path / "m.fp16.onnx")
    assert half.precision == "fp16" and half.labels == info.labels
    assert half.model_version == info.model_version and converter
    proto = onnx.load(str(tmp_path / "m.fp16.onnx"))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    x = smooth_inputs(16, info.input_size, seed=3).numpy()
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    hs = ort.InferenceSession(str(tmp_path / "m.fp16.onnx"), providers=["CPUExecutionProvider"])
    p_ref = softmax(ref.run(None, {"input": x})[0])
    p_half = softmax(hs.run(None, {"input": x})[0])
    np.testing.assert_allclose(p_half, p_ref, atol=2e-2)


@pytest.mark.parametrize("target", ["onnxruntime", "tensorrt"])
def test_int8_qdq_agrees_with_fp32_top1(exported, tmp_path: Path, target: str) -> None:
    _, info, path = exported
    calib = smooth_inputs(64, info.input_size, seed=11).numpy()
    q = quantize_int8(path, tmp_path / "m.int8.onnx", calib, target=target)
    assert q.precision == "int8" and q.labels == info.labels and q.mean == info.mean
    assert q.extra["parent_weights_sha256"] == info.weights_sha256
    assert q.extra["int8_target"] == target
    proto = onnx.load(str(tmp_path / "m.int8.onnx"))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    zero_points = [inits[n.input[2]] for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    all_zero = all(not zp.any() for zp in zero_points)
    assert all_zero == (target == "tensorrt")  # TensorRT needs symmetric activations
    x = smooth_inputs(64, info.input_size, seed=12).numpy()  # not the calibration frames
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    qs = ort.InferenceSession(str(tmp_path / "m.int8.onnx"), providers=["CPUExecutionProvider"])
    p_ref = softmax(ref.run(None, {"input": x})[0])
    agree = p_ref.argmax(1) == qs.run(None, {"input": x})[0].argmax(1)
    top2 = np.sort(p_ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.1  # random weights make many near-ties
    assert agree.mean() >= 0.75 and agree[clear].mean() >= 0.85, (agree.mean(), agree[clear].mean())


def test_calibration_from_folder_uses_model_preprocessing(exported, tmp_path: Path) -> None:
    from PIL import Image

    _, info, _ = exported
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(3)]
    for i, img in enumerate(images):
        Image.fromarray(img).save(tmp_path / f"f{i}.png")
    calib = load_calibration(tmp_path, info)
    assert calib.shape == (3, 1, 60, 80) and calib.dtype == np.float32
    pre = Preprocessor.from_model_info(info)
    np.testing.assert_allclose(calib[0], pre(images[0]), atol=1e-6)
    np.save(tmp_path / "c.npy", calib)
    assert load_calibration(tmp_path / "c.npy", info).shape == (3, 1, 60, 80)
    with pytest.raises(ValueError, match="must be"):
        np.save(tmp_path / "bad.npy", calib[:, :, :30])
        load_calibration(tmp_path / "bad.npy", info)


def test_cli_export_json(exported, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from echostream.stream.cli import app

    _, info, path = exported
    ckpt = path.parent / "ckpt.pt"
    np.save(tmp_path / "calib.npy", smooth_inputs(32, info.input_size).numpy())
    out = tmp_path / "cli.onnx"
    args = ["export", str(ckpt), "--out", str(out), "--int8", "--calibration"]
    res = CliRunner().invoke(app, [*args, str(tmp_path / "calib.npy"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["fp32"]["torch_vs_onnxruntime"]["max_abs_diff"] < 1e-4
    assert data["int8"]["top1_agreement"] >= 0.8
    assert ModelInfo.from_onnx(tmp_path / "cli.int8.onnx").precision == "int8"
    res = CliRunner().invoke(app, ["export", str(ckpt), "--out", str(out), "--int8"])
    assert res.exit_code != 0 and "--calibration" in res.output


# -- every registered model: export + parity (the expensive ones are skipped) ----------------
MAX_PARAMS = 6_000_000
MAX_PIXELS = 224 * 224


def _model_cases() -> list:
    cases = []
    for name in list_models():
        marks = [] if name == "baseline" else [pytest.mark.slow]
        cases.append(pytest.param(name, marks=marks, id=name))
    return cases


@functools.cache
def _representatives() -> dict[str, str]:
    """Architecture (class) → its smallest registered variant: width variants and aliases
    share one exporter code path, so one of each is exported."""
    best: dict[str, tuple[int, str]] = {}
    for name in list_models():
        model = create_model(name)
        cls, n = type(model).__name__, count_parameters(model)
        if cls not in best or n < best[cls][0]:
            best[cls] = (n, name)
    return {cls: name for cls, (_, name) in best.items()}


@pytest.mark.parametrize("name", _model_cases())
def test_every_model_exports_with_parity(name: str, tmp_path: Path) -> None:
    model = create_model(name)
    n_params = count_parameters(model)
    c, h, w = model.cfg.input_size
    print(f"{name}: {n_params:,} parameters, input {model.cfg.input_size}")
    if n_params > MAX_PARAMS or h * w > MAX_PIXELS:
        pytest.skip(f"{name} is too slow to export on CPU in CI ({n_params:,} params, {h}×{w})")
    rep = _representatives()[type(model).__name__]
    if rep != name:
        pytest.skip(f"{name} shares its architecture with {rep}, which is exported instead")
    model = decisive(name)
    prov = make_provenance(data="unit test", simulated_data=True)
    info = export_model(model, tmp_path / "m.onnx", model_name=name, provenance=prov)
    assert info.input_size == tuple(model.cfg.input_size)
    check = verify_onnx(model, tmp_path / "m.onnx", batch=3)
    assert check["max_abs_diff"] < 1e-4, check
