"""Every registered model: shapes, finiteness, parameter counts, stages, pretrained loading."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn

from echostream.models.pretrained import PretrainedError, adapt_input_conv
from echostream.models.registry import (
    count_parameters,
    create_model,
    list_models,
    set_trainable_stages,
)

torch.set_num_threads(1)

MODELS = list_models()
ZOO = [
    "mobilenet_v1",
    "mobilenet_v1_025",
    "mobilenet_v1_050",
    "mobilenet_v1_075",
    "mobilenet_v1_100",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "vgg16",
    "inception_v3",
    "nasnet_mobile",
]

# Parameters with the 1000-class ImageNet head (torch counts no BN running statistics).
IMAGENET_PARAMS = {
    "mobilenet_v1": 4_231_976,  # Keras MobileNet 1.0: trainable 4,231,976
    "mobilenet_v1_100": 4_231_976,
    "mobilenet_v2": 3_504_872,  # torchvision
    "mobilenet_v3_large": 5_483_032,  # torchvision
    "vgg16": 138_357_544,  # torchvision
    "inception_v3": 23_834_568,  # torchvision without the aux head
    "nasnet_mobile": 5_289_978,  # Keras NASNetMobile: 5,326,716 - 36,738 BN moving stats
}

# The thesis' unfreezing order (Tables D.1, D.2), head first.
STAGE_NAMES = {
    "mobilenet_v1": ["head", *[f"block{i}" for i in range(13, 0, -1)], "conv1"],
    "mobilenet_v1_025": ["head", *[f"block{i}" for i in range(13, 0, -1)], "conv1"],
    "vgg16": ["head", "fc2", "fc1", "block5", "block4", "block3", "block2", "block1"],
    "inception_v3": ["head", *[f"mixed{i}" for i in range(10, -1, -1)], "stem"],
    "mobilenet_v2": ["head", "conv_last", *[f"block{i}" for i in range(16, -1, -1)], "conv1"],
}


def _slow(name: str) -> object:
    """VGG16 (138 M) and Inception v3 take seconds to build: slow-marked where repeated."""
    return pytest.param(name, marks=pytest.mark.slow) if name in ("vgg16", "inception_v3") else name


def _model(name: str, num_classes: int = 8, in_chans: int | None = None) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=num_classes, in_chans=in_chans).eval()


@pytest.fixture(scope="module", params=MODELS)
def zoo_model(request: pytest.FixtureRequest) -> nn.Module:
    """Each registered model with 8 classes, built once for the tests that use it (the module
    scope makes pytest group those tests by model, so only one big model is alive at a time)."""
    return _model(request.param)


def test_zoo_is_registered() -> None:
    assert set(ZOO) | {"baseline"} <= set(MODELS)


def test_forward_shape_finite(zoo_model: nn.Module) -> None:
    model, name = zoo_model, zoo_model.cfg.name
    c, h, w = model.cfg.input_size
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        logits = model(x)
        feats = model.forward_features(x)
    print(f"\n{name}: {count_parameters(model):,} parameters (8 classes), input {(c, h, w)}")
    assert logits.shape == (2, 8)
    assert feats.shape == (2, model.num_features)
    assert torch.isfinite(logits).all() and torch.isfinite(feats).all()
    assert model.cfg.num_classes == 8 and len(model.cfg.mean) == c == len(model.cfg.std)


@pytest.mark.parametrize("name", [_slow(n) for n in sorted(IMAGENET_PARAMS)])
def test_imagenet_parameter_count(name: str) -> None:
    n = count_parameters(_model(name, num_classes=1000))
    print(f"\n{name}: {n:,} parameters (1000 classes)")
    assert n == IMAGENET_PARAMS[name]


def test_nasnet_mobile_is_about_5_3m() -> None:
    n = count_parameters(_model("nasnet_mobile", num_classes=1000))
    assert 5_200_000 <= n <= 5_400_000  # the paper's "5.3 M" for NASNet-A 4 @ 1056


def test_baseline_count() -> None:
    assert count_parameters(_model("baseline")) == 3_978_416


def test_stages_cover_every_parameter_once(zoo_model: nn.Module) -> None:
    model = zoo_model
    seen: list[int] = []
    for modules in model.stages.values():
        for module in modules:
            seen += [id(p) for p in module.parameters()]
    assert len(seen) == len(set(seen)), "a parameter belongs to two stages"
    assert set(seen) == {id(p) for p in model.parameters()}, "a parameter is in no stage"
    assert next(iter(model.stages)) == "head"
    if model.cfg.name in STAGE_NAMES:
        assert list(model.stages) == STAGE_NAMES[model.cfg.name]
    head = model.stages["head"][-1]
    assert head.out_features == 8  # type: ignore[union-attr]


def test_gradual_unfreezing_by_name() -> None:
    model = create_model("mobilenet_v1_025")
    set_trainable_stages(model, ["head", "block13"])
    trainable = count_parameters(model, trainable_only=True)
    head = sum(
        p.numel() for m in model.stages["head"] + model.stages["block13"] for p in m.parameters()
    )
    assert trainable == head == 256 * 8 + 8 + (256 * 9 + 2 * 256) + (256 * 256 + 2 * 256)


@pytest.mark.parametrize("name", [_slow(n) for n in ZOO])
def test_grayscale_input(name: str) -> None:
    model = _model(name, in_chans=1)
    _, h, w = model.cfg.input_size
    with torch.no_grad():
        out = model(torch.randn(1, 1, h, w))
    assert out.shape == (1, 8) and model.cfg.input_size[0] == 1 and len(model.cfg.mean) == 1


def test_adapt_input_conv_sums_rgb() -> None:
    rgb = nn.Conv2d(3, 4, 3, bias=False)
    gray = nn.Conv2d(1, 4, 3, bias=False)
    gray.weight.data = adapt_input_conv(1, rgb.weight.data)
    x = torch.randn(1, 1, 8, 8)
    torch.testing.assert_close(gray(x), rgb(x.expand(-1, 3, -1, -1)))


def test_local_file_keeps_backbone_and_reinits_head(tmp_path: Path) -> None:
    src = create_model("mobilenet_v1_025", num_classes=1000)
    path = tmp_path / "w.pt"
    torch.save({"model": src.state_dict()}, path)
    dst = create_model("mobilenet_v1_025", num_classes=8, in_chans=1, pretrained=str(path))
    torch.testing.assert_close(
        dst.blocks.block5.conv_pw[0].weight, src.blocks.block5.conv_pw[0].weight
    )
    torch.testing.assert_close(dst.conv1[0].weight, src.conv1[0].weight.sum(1, keepdim=True))
    assert dst.classifier.out_features == 8 and dst.cfg.pretrained == "file:w.pt"
    same = create_model("mobilenet_v1_025", num_classes=1000, pretrained=str(path))
    torch.testing.assert_close(same.classifier.weight, src.classifier.weight)


def test_local_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PretrainedError, match="not found"):
        create_model("nasnet_mobile", pretrained=str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedError, match="not a torch weights file"):
        create_model("mobilenet_v2", pretrained=str(bad))
    other = tmp_path / "other.pt"
    torch.save(create_model("mobilenet_v1_025").state_dict(), other)
    with pytest.raises(PretrainedError, match="shape mismatch|do not fit"):
        create_model("mobilenet_v1_050", pretrained=str(other))


def test_nasnet_has_no_imagenet_weights() -> None:
    with pytest.raises(PretrainedError, match="no ImageNet weights"):
        create_model("nasnet_mobile", pretrained="imagenet")


def test_torchvision_download_failure_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models._api import WeightsEnum

    def offline(self: WeightsEnum, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(PretrainedError, match="no network.*pretrained=PATH"):
        create_model("mobilenet_v3_large", pretrained="imagenet")


def test_tflite_dir_missing_is_clear(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECHOSTREAM_TFLITE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(PretrainedError, match="ECHOSTREAM_TFLITE_DIR"):
        create_model("mobilenet_v1_025", pretrained="imagenet")
