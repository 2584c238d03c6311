"""The sim-to-real augmentation ops: each changes the crop, keeps its shape and type, and is
reproducible under torch's seed; bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echostream.train.augment import TrainPreset
from echostream.train.augment_real import OPS, RealismAugment
from echostream.train.config import AugmentCfg


def crop() -> torch.Tensor:
    """A fan-like crop: speckled wedge with a dark chamber, (1, 96, 128) uint8."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    fan = np.abs(np.arctan2(xx - 64, yy + 4)) < 0.7
    img = np.where(fan, rng.rayleigh(60, (96, 128)), 0)
    img[(xx - 64) ** 2 / 400 + (yy - 50) ** 2 / 300 < 1] *= 0.1
    return torch.from_numpy(np.clip(img, 0, 255).astype(np.uint8))[None]


@pytest.mark.parametrize("op", OPS)
def test_each_op_changes_the_crop_and_keeps_its_form(op: str) -> None:
    x = crop()
    torch.manual_seed(1)
    y = RealismAugment({op: 1.0}, box_jitter=0.15)(x)
    assert y.shape == x.shape and y.dtype == torch.uint8
    assert (y.int() - x.int()).abs().float().mean() > 0.5, op
    torch.manual_seed(1)
    assert torch.equal(RealismAugment({op: 1.0}, box_jitter=0.15)(x), y)  # seeded: the same


def test_probability_zero_is_the_identity_and_bad_settings_are_refused() -> None:
    x = crop()
    assert torch.equal(RealismAugment({op: 0.0 for op in OPS})(x), x)
    with pytest.raises(ValueError, match="unknown realism op"):
        RealismAugment({"sharpen": 0.5})
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        RealismAugment({"blur": 1.5})


def test_train_preset_from_config_runs_the_ops_first() -> None:
    cfg = AugmentCfg(realism={"gamma": 1.0, "jpeg": 1.0}, box_jitter=0.05)
    preset = TrainPreset.from_cfg(cfg, mean=(0.2,), std=(0.2,), in_chans=3)
    out = preset(crop())
    assert out.shape == (3, 96, 128) and out.dtype == torch.float32
    assert "RealismAugment(gamma=1, jpeg=1" in repr(preset)
    plain = TrainPreset.from_cfg(AugmentCfg(), mean=(0.2,), std=(0.2,), in_chans=1)
    assert "RealismAugment" not in repr(plain)  # the thesis' augmentation alone by default
