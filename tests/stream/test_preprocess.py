"""Preprocessing built from the model file's metadata, checked against a torchvision reference."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from echostream.stream.frame import Frame, Region, SourceInfo
from echostream.stream.model_file import ModelInfo
from echostream.stream.preprocess import Preprocessor
from echostream.stream.views import VIEWS


def info_for(**changes) -> ModelInfo:
    base = ModelInfo(
        model_name="test",
        labels=VIEWS,
        input_size=(1, 60, 80),
        mean=(0.2,),
        std=(0.3,),
        interpolation="bilinear",
        crop="region",
    )
    return base.with_(**changes)


def frame_of(pixels: np.ndarray, region: Region | None = None, scale: float = 1.0) -> Frame:
    h, w = pixels.shape[:2]
    info = SourceInfo(
        name="t", kind="image", n_frames=1, fps=30.0, width=w, height=h, region=region
    )
    return Frame(pixels=pixels, index=0, timestamp=0.0, info=info, scale=scale)


@pytest.fixture()
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    img[:, :, 1] //= 2  # channels differ, so the gray conversion matters
    return img


def torchvision_reference(pixels: np.ndarray, info: ModelInfo) -> np.ndarray:
    """timm/torchvision-style eval transform on a PIL image."""
    pytest.importorskip("torchvision")
    from torchvision import transforms as T

    interp = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}
    steps = [T.Grayscale(1)] if info.channels == 1 else []
    steps += [
        T.Resize((info.height, info.width), interpolation=interp[info.interpolation]),
        T.ToTensor(),
        T.Normalize(info.mean, info.std),
    ]
    return T.Compose(steps)(Image.fromarray(pixels)).numpy()


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_matches_torchvision_reference(rgb: np.ndarray, interpolation: str) -> None:
    info = info_for(interpolation=interpolation)
    got = Preprocessor.from_model_info(info)(frame_of(rgb))
    assert got.shape == (1, 60, 80) and got.dtype == np.float32
    np.testing.assert_allclose(got, torchvision_reference(rgb, info), atol=1e-5)


def test_rgb_model_matches_reference(rgb: np.ndarray) -> None:
    info = info_for(input_size=(3, 96, 128), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    got = Preprocessor(info)(frame_of(rgb))
    assert got.shape == (3, 96, 128)
    np.testing.assert_allclose(got, torchvision_reference(rgb, info), atol=1e-5)


def test_mean_std_come_from_metadata(rgb: np.ndarray) -> None:
    a = Preprocessor(info_for(mean=(0.2,), std=(0.3,)))(rgb)
    b = Preprocessor(info_for(mean=(0.5,), std=(0.1,)))(rgb)
    assert not np.allclose(a, b)
    np.testing.assert_allclose(b, (a * 0.3 + 0.2 - 0.5) / 0.1, atol=1e-4)


def test_size_comes_from_metadata(rgb: np.ndarray) -> None:
    pre = Preprocessor(info_for(input_size=(1, 32, 48), mean=(0.0,), std=(1.0,)))
    assert pre.target_size == (32, 48) and pre.luminance
    assert pre(rgb).shape == (1, 32, 48)


def test_region_crop_and_scale(rgb: np.ndarray) -> None:
    region = Region(40, 20, 280, 200)
    pre = Preprocessor(info_for())
    cropped = rgb[20:200, 40:280]
    np.testing.assert_allclose(pre(frame_of(rgb, region)), pre(cropped), atol=1e-6)
    # the same region on a half-resolution frame (JPEG draft decode) crops the scaled box
    half = np.asarray(Image.fromarray(rgb).resize((160, 120), Image.Resampling.BOX))
    np.testing.assert_array_equal(pre.crop(frame_of(half, region, scale=0.5)), half[10:100, 20:140])
    # crop policy "full" ignores the region
    full = Preprocessor(info_for(crop="full"))
    np.testing.assert_allclose(full(frame_of(rgb, region)), full(rgb), atol=1e-6)


def test_no_region_uses_whole_frame_or_the_hook(rgb: np.ndarray) -> None:
    pre = Preprocessor(info_for())
    np.testing.assert_allclose(pre(frame_of(rgb)), pre(rgb), atol=1e-6)
    calls = []

    def estimate(frame: Frame) -> Region:
        calls.append(frame.index)
        return Region(0, 0, 160, 120, origin="estimated")

    hooked = Preprocessor(info_for(), region_fn=estimate)
    np.testing.assert_allclose(hooked(frame_of(rgb)), pre(rgb[:120, :160]), atol=1e-6)
    assert calls == [0]


def test_luminance_frames_and_channel_conversion(rgb: np.ndarray) -> None:
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    pre = Preprocessor(info_for())
    np.testing.assert_allclose(pre(gray), pre(rgb), atol=1e-6)  # H×W luminance == RGB → L
    rgb_model = Preprocessor(info_for(input_size=(3, 60, 80), mean=(0.0,) * 3, std=(1.0,) * 3))
    out = rgb_model(gray)
    assert out.shape == (3, 60, 80)
    np.testing.assert_array_equal(out[0], out[2])


def test_batch_and_resize_policies(rgb: np.ndarray) -> None:
    pre = Preprocessor(info_for())
    assert pre.batch([rgb, rgb[:100]]).shape == (2, 1, 60, 80)
    assert pre.batch([]).shape == (0, 1, 60, 80)
    tall = rgb[:, :100]
    for policy in ("letterbox", "center_crop"):
        out = Preprocessor(info_for(resize=policy))(tall)
        assert out.shape == (1, 60, 80)
    boxed = Preprocessor(info_for(resize="letterbox", mean=(0.0,), std=(1.0,)))(tall)
    assert boxed[0, :, :5].max() == 0.0  # padded sides are black


def test_bad_inputs_are_clear() -> None:
    with pytest.raises(ValueError, match="interpolation"):
        Preprocessor(info_for(interpolation="magic"))
    pre = Preprocessor(info_for())
    with pytest.raises(ValueError, match="uint8"):
        pre(np.zeros((10, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="empty"):
        pre(np.zeros((0, 10), dtype=np.uint8))


def test_from_exported_file(tmp_path) -> None:
    """The preprocessor of a real exported file uses that file's mean/std."""
    pytest.importorskip("torch")
    from echostream.models.checkpoint import make_provenance
    from echostream.models.export import export_model
    from echostream.models.registry import create_model

    model = create_model("baseline")
    model.cfg = model.cfg.with_(mean=(0.4,), std=(0.25,))
    export_model(
        model, tmp_path / "m.onnx", model_name="baseline", provenance=make_provenance(data="t")
    )
    info = ModelInfo.from_onnx(tmp_path / "m.onnx")
    pre = Preprocessor.from_model_info(info)
    x = pre(np.full((240, 320), 255, dtype=np.uint8))
    np.testing.assert_allclose(x, (1.0 - 0.4) / 0.25, atol=1e-5)
