from __future__ import annotations

import math

import torch
from torchvision.transforms import v2

from echostream.train.augment import EvalPreset, TrainPreset


def _img():
    img = torch.zeros(1, 60, 80, dtype=torch.uint8)
    img[0, 20:40, 10:30] = 200
    return img


def test_eval_preset_whitens_and_repeats_channels():
    out = EvalPreset(mean=(0.25,), std=(0.5,))(_img())
    assert out.dtype == torch.float32 and out.shape == (1, 60, 80)
    assert torch.isclose(out[0, 0, 0], torch.tensor(-0.5))
    assert torch.isclose(out[0, 25, 15], torch.tensor((200 / 255 - 0.25) / 0.5))
    assert EvalPreset(mean=(0.25,), std=(0.5,), in_chans=3)(_img()).shape == (3, 60, 80)


def test_train_preset_thesis_settings():
    t = TrainPreset()
    affine = next(s for s in t.transforms.transforms if isinstance(s, v2.RandomAffine))
    assert affine.degrees == [-10.0, 10.0] and affine.translate == (0.1, 0.1)
    assert affine.scale == (0.92, 1.08)
    assert math.isclose(affine.shear[1], math.degrees(0.03))
    assert not any(isinstance(s, v2.RandomHorizontalFlip) for s in t.transforms.transforms)
    flips = TrainPreset(hflip=True, vflip=True).transforms.transforms
    assert any(isinstance(s, v2.RandomHorizontalFlip) for s in flips)
    assert any(isinstance(s, v2.RandomVerticalFlip) for s in flips)


def test_train_preset_is_random_but_seedable():
    t = TrainPreset(mean=(0.1,), std=(0.2,))
    torch.manual_seed(0)
    a = t(_img())
    b = t(_img())
    torch.manual_seed(0)
    assert not torch.equal(a, b) and torch.equal(a, t(_img()))
    assert a.shape == (1, 60, 80) and a.dtype == torch.float32
