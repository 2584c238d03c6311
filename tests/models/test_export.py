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
from echostream.models.quantize import SAFE_WEIGHT_MAX, load_calibration, quantize_int8
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


def _int8_copy(exported, folder: Path, target: str) -> tuple[Path, np.ndarray, np.ndarray]:
    """(int8 file, test inputs, fp32 probabilities on them) for the decisive baseline."""
    _, info, path = exported
    calib = smooth_inputs(64, info.input_size, seed=11).numpy()
    quantize_int8(path, folder / f"m-{target}.int8.onnx", calib, target=target)
    x = smooth_inputs(64, info.input_size, seed=12).numpy()  # not the calibration frames
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return folder / f"m-{target}.int8.onnx", x, softmax(ref.run(None, {"input": x})[0])


def _assert_agrees(p_ref: np.ndarray, logits: np.ndarray) -> None:
    agree = p_ref.argmax(1) == logits.argmax(1)
    top2 = np.sort(p_ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.1  # random weights make many near-ties
    assert agree.mean() >= 0.75 and agree[clear].mean() >= 0.85, (agree.mean(), agree[clear].mean())


def _quantized_weights(proto: onnx.ModelProto) -> list[np.ndarray]:
    """The integer weights of every Conv/Gemm/MatMul (inputs of their weight's DequantizeLinear)."""
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    dq = {n.output[0]: n for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    layers = [n for n in proto.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    return [inits[dq[n.input[1]].input[0]] for n in layers if n.input[1] in dq]


@pytest.mark.parametrize("target", ["onnxruntime", "tensorrt"])
def test_int8_qdq_agrees_with_fp32_top1(exported, tmp_path: Path, target: str) -> None:
    _, info, path = exported
    q_path, x, p_ref = _int8_copy(exported, tmp_path, target)
    q = ModelInfo.from_onnx(q_path)
    assert q.precision == "int8" and q.labels == info.labels and q.mean == info.mean
    assert q.extra["parent_weights_sha256"] == info.weights_sha256
    assert q.extra["int8_target"] == target
    proto = onnx.load(str(q_path))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    zero_points = [inits[n.input[2]] for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    all_zero = all(not zp.any() for zp in zero_points)
    assert all_zero == (target == "tensorrt")  # TensorRT needs symmetric activations
    qs = ort.InferenceSession(str(q_path), providers=["CPUExecutionProvider"])
    _assert_agrees(p_ref, qs.run(None, {"input": x})[0])


@pytest.mark.parametrize("target", ["onnxruntime", "tensorrt"])
def test_int8_weights_cannot_saturate_on_cpus_without_vnni(
    exported, tmp_path: Path, target: str
) -> None:
    """Every CPU, VNNI or not, computes the same int8 model (see ``SAFE_WEIGHT_MAX``).

    x86 CPUs without VNNI multiply uint8 activations (0…255) by int8 weights with
    ``vpmaddubsw``, which adds each pair of products into a saturating int16: the sum stays
    exact only while 2·255·max|w| ≤ 32767, i.e. max|w| ≤ 64 (7-bit weights). Full 8-bit weights
    (±127) reach 64770 and are clamped there, silently, while VNNI CPUs stay exact."""
    q_path, _, _ = _int8_copy(exported, tmp_path, target)
    weights = _quantized_weights(onnx.load(str(q_path)))
    assert len(weights) == 9  # 6 convolutions + 3 dense layers of the baseline
    largest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert 2 * 255 * largest <= 32767 and largest == SAFE_WEIGHT_MAX, largest
    lo, hi = ModelInfo.from_onnx(q_path).extra["weight_int_range"]
    assert max(-lo, hi) == largest


def test_shipped_int8_model_cannot_saturate() -> None:
    """The zoo's int8 file: 7-bit weights, quantized from the fp32 file beside it."""
    zoo = Path(__file__).resolve().parents[2] / "models" / "zoo"
    fp32, int8 = (
        ModelInfo.from_onnx(zoo / "baseline_sim_v1.onnx"),
        zoo / "baseline_sim_v1.int8.onnx",
    )
    weights = _quantized_weights(onnx.load(str(int8)))
    assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64
    assert ModelInfo.from_onnx(int8).extra["parent_weights_sha256"] == fp32.weights_sha256


@pytest.mark.slow
@pytest.mark.parametrize("target", ["onnxruntime", "tensorrt"])
def test_int8_agrees_on_an_emulated_avx2_cpu(exported, tmp_path: Path, target: str, avx2_cpu):
    """The agreement test on an x86 CPU without VNNI (QEMU's Haswell), where 8-bit weights
    gave 0.47 (onnxruntime) and 0.23 (tensorrt) agreement; also close to this CPU's int8."""
    q_path, x, p_ref = _int8_copy(exported, tmp_path, target)
    emulated = avx2_cpu(q_path, x)
    _assert_agrees(p_ref, emulated)
    here = ort.InferenceSession(str(q_path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        softmax(emulated), softmax(here.run(None, {"input": x})[0]), atol=0.02
    )


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
