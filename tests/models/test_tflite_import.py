"""The ImageNet TFLite MobileNets, imported into torch: a cat is a cat, and we agree with TFLite.

Reference outputs come from the TFLite interpreter (``ai-edge-litert``, a test-only dependency)
running the quantized file on the same uint8 image; our model runs the dequantized weights in
float, so they differ by the quantization error only.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from echostream.models import tflite_import as ti
from echostream.models.pretrained import PretrainedError
from echostream.models.registry import create_model

torch.set_num_threads(1)

CATS = {"tabby, tabby cat", "tiger cat", "Persian cat", "Siamese cat, Siamese", "Egyptian cat"}
V1_025 = "mobilenet_v1_0.25_128_quant.tflite"


@pytest.fixture(autouse=True)
def _tflite_env(tflite_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHOSTREAM_TFLITE_DIR", str(tflite_dir))


def _needs_interpreter() -> None:
    if not ti.interpreter_available():
        pytest.skip("no TFLite interpreter (pip install ai-edge-litert)")


def _classify(name: str, num_classes: int, tflite_dir: Path, **kw: object) -> tuple:
    model = create_model(name, num_classes=num_classes, pretrained="imagenet", **kw).eval()
    _, h, w = model.cfg.input_size
    image = ti.load_image(tflite_dir / "cat.bmp", (h, w))
    with torch.no_grad():
        probs = torch.softmax(model(ti.to_tensor(image, model.cfg.mean, model.cfg.std)), 1)[0]
    return model, image, probs.numpy()


def _agreement(probs: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    top, rtop = np.argsort(-probs)[:5], np.argsort(-ref)[:5]
    return {
        "max_abs_prob_diff": float(np.abs(probs - ref).max()),
        "top1_equal": float(top[0] == rtop[0]),
        "top5_overlap": float(len(set(top) & set(rtop))),
    }


def test_labels_have_background_first(tflite_dir: Path) -> None:
    labels = ti.imagenet_labels(tflite_dir)
    assert len(labels) == 1001 and labels[0] == "background"


def test_v1_025_cat_top5_1000_classes(tflite_dir: Path) -> None:
    model, _, probs = _classify("mobilenet_v1_025", 1000, tflite_dir)
    top5 = [model.cfg.labels[i] for i in np.argsort(-probs)[:5]]
    print("\nmobilenet_v1_025 (1000 classes) top-5:", top5)
    assert "background" not in model.cfg.labels and len(model.cfg.labels) == 1000
    assert CATS & set(top5[:3])
    assert model.cfg.pretrained == f"tflite:{V1_025}"
    # the file's input quantization (q - 128) / 128 is the cfg's normalisation
    assert model.cfg.mean == pytest.approx((128 / 255,) * 3)


def test_v1_025_agrees_with_tflite_interpreter(tflite_dir: Path) -> None:
    _needs_interpreter()
    model, image, probs = _classify("mobilenet_v1_025", 1001, tflite_dir)
    ref = ti.run_tflite(tflite_dir / V1_025, image)
    stats = _agreement(probs, ref)
    print("\nmobilenet_v1_025 vs TFLite interpreter:", stats)
    assert ref.shape == probs.shape == (1001,)
    assert model.cfg.labels[0] == "background"
    assert stats["top1_equal"] == 1.0 and stats["top5_overlap"] >= 4
    assert stats["max_abs_prob_diff"] < 0.03  # uint8 output step is 1/256 ≈ 0.004


def test_symmetric_padding_is_rejected(tflite_dir: Path) -> None:
    model = create_model("mobilenet_v2", num_classes=1001, tf_padding=False)
    with pytest.raises(PretrainedError, match="padding"):
        ti.tflite_state_dict(model, tflite_dir / "mobilenet_v2_1.0_224_quant.tflite")


def test_folded_bn_is_unfolded_to_identity_plus_bias(tflite_dir: Path) -> None:
    model = create_model("mobilenet_v1_025", num_classes=1001, pretrained="imagenet").eval()
    graph = ti.read_tflite(tflite_dir / V1_025)
    bn = model.conv1[1]
    assert torch.equal(bn.weight, torch.ones(8)) and torch.equal(bn.running_mean, torch.zeros(8))
    torch.testing.assert_close(bn.bias, torch.from_numpy(graph.layers[0].bias))
    x = torch.randn(1, 8, 4, 4)
    torch.testing.assert_close(bn(x), x + bn.bias.view(1, -1, 1, 1))


def test_grayscale_import_equals_gray_rgb(tflite_dir: Path) -> None:
    rgb = create_model("mobilenet_v1_025", num_classes=1000, pretrained="imagenet").eval()
    gray = create_model("mobilenet_v1_025", num_classes=1000, in_chans=1, pretrained="imagenet")
    gray.eval()
    x = torch.randn(1, 1, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(gray(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)


def test_head_reinitialised_for_8_views(tflite_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    full = create_model("mobilenet_v1_025", num_classes=1000, pretrained="imagenet")
    with caplog.at_level("INFO"):
        views = create_model("mobilenet_v1_025", num_classes=8, pretrained="imagenet")
    assert "re-initialised for 8 classes" in caplog.text
    torch.testing.assert_close(
        views.blocks.block13.conv_pw[0].weight, full.blocks.block13.conv_pw[0].weight
    )
    assert views.cfg.labels[0] == "PLAX"


def test_dequantize_per_axis() -> None:
    q = np.array([[0, 10], [20, 30]], dtype=np.uint8)
    quant = SimpleNamespace(
        ScaleLength=lambda: 2,
        ScaleAsNumpy=lambda: np.array([0.5, 2.0]),
        ZeroPointLength=lambda: 2,
        ZeroPointAsNumpy=lambda: np.array([0, 10]),
        QuantizedDimension=lambda: 0,
    )
    np.testing.assert_allclose(ti.dequantize(q, quant), [[0.0, 5.0], [20.0, 40.0]])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "fname"),
    [
        ("mobilenet_v1_050", "mobilenet_v1_0.5_160_quant.tflite"),
        ("mobilenet_v1_075", "mobilenet_v1_0.75_192_quant.tflite"),
        ("mobilenet_v2", "mobilenet_v2_1.0_224_quant.tflite"),
    ],
)
def test_other_classifiers(name: str, fname: str, tflite_dir: Path) -> None:
    size = int(fname.split("_")[3].split(".")[0]) if name != "mobilenet_v2" else 224
    model, image, probs = _classify(name, 1001, tflite_dir, input_hw=(size, size))
    top5 = [model.cfg.labels[i] for i in np.argsort(-probs)[:5]]
    print(f"\n{name} top-5:", top5)
    assert CATS & set(top5[:3])
    if ti.interpreter_available():
        stats = _agreement(probs, ti.run_tflite(tflite_dir / fname, image))
        print(f"{name} vs TFLite interpreter:", stats)
        assert stats["top1_equal"] == 1.0 and stats["max_abs_prob_diff"] < 0.05


@pytest.mark.slow
def test_v1_100_embedding_extractor(tflite_dir: Path) -> None:
    model = create_model("mobilenet_v1_100", num_classes=1000, pretrained="imagenet").eval()
    assert model.cfg.labels[0] == "class0"  # no logits layer in the file: the head stays random
    image = ti.load_image(tflite_dir / "cat.bmp", (224, 224))
    with torch.no_grad():
        feats = model.forward_features(ti.to_tensor(image, model.cfg.mean, model.cfg.std))[0]
    assert feats.shape == (1024,)
    if ti.interpreter_available():
        fname = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
        ref = torch.from_numpy(ti.run_tflite(tflite_dir / fname, image))
        cos = float(torch.nn.functional.cosine_similarity(feats, ref, dim=0))
        rel = float((feats - ref).norm() / ref.norm())
        print(f"\nmobilenet_v1_100 embedding vs TFLite: cosine {cos:.4f}, relative L2 {rel:.4f}")
        assert cos > 0.98
