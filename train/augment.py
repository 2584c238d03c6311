"""Train and eval transform presets (torchvision ``references/classification`` style).

Both take one stored frame, a uint8 tensor ``(1, H, W)``, and return the whitened float model
input ``(C, H, W)``: ``(x/255 - mean) / std`` with the training set's mean/std, the gray
channel repeated for 3-channel models. The train preset adds the thesis' augmentation
(Keras ``ImageDataGenerator`` settings): rotation ±10°, width/height shift 0.1, shear 0.03 rad,
zoom 0.08, and flips only when asked; before it, optionally, the sim-to-real ops of
:mod:`.augment_real` (grey curves, blur, noise, shadows, marks, compression, crop-box jitter).

>>> import torch
>>> t = TrainPreset(mean=(0.2,), std=(0.1,))
>>> t(torch.zeros(1, 60, 80, dtype=torch.uint8)).shape
torch.Size([1, 60, 80])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchvision.transforms import v2


def _whiten(mean: Sequence[float], std: Sequence[float], in_chans: int) -> list[v2.Transform]:
    mean, std = list(mean), list(std)
    if len(mean) == 1 and in_chans > 1:
        mean, std = mean * in_chans, std * in_chans
    steps: list[v2.Transform] = [v2.ToDtype(torch.float32, scale=True)]  # uint8 → 0–1
    if in_chans > 1:
        steps.append(v2.Lambda(lambda x: x.expand(in_chans, -1, -1)))
    steps.append(v2.Normalize(mean=mean, std=std))
    return steps


class TrainPreset:
    """Augmentation then whitening. ``shear`` is in radians (as the thesis), ``zoom`` ±."""

    def __init__(
        self,
        *,
        mean: Sequence[float] = (0.0,),
        std: Sequence[float] = (1.0,),
        in_chans: int = 1,
        degrees: float = 10.0,
        translate: tuple[float, float] = (0.1, 0.1),
        shear: float = 0.03,
        zoom: float = 0.08,
        hflip: bool = False,
        vflip: bool = False,
        realism: Mapping[str, float] | None = None,
        box_jitter: float = 0.1,
    ) -> None:
        steps: list[Any] = []
        if realism and any(realism.values()):
            from .augment_real import RealismAugment

            steps.append(RealismAugment(realism, box_jitter=box_jitter))
        if degrees or any(translate) or shear or zoom:
            steps.append(
                v2.RandomAffine(
                    degrees=degrees,
                    translate=tuple(translate) if any(translate) else None,
                    scale=(1.0 - zoom, 1.0 + zoom) if zoom else None,
                    shear=math.degrees(shear) if shear else None,
                    interpolation=v2.InterpolationMode.BILINEAR,
                    fill=0,
                )
            )
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
        if vflip:
            steps.append(v2.RandomVerticalFlip())
        self.transforms = v2.Compose(steps + _whiten(mean, std, in_chans))

    @classmethod
    def from_cfg(
        cls, cfg: Any, *, mean: Sequence[float], std: Sequence[float], in_chans: int
    ) -> TrainPreset:
        """The preset of a config's ``augment`` section (:class:`~.config.AugmentCfg`)."""
        tx, ty = cfg.translate  # a list when read from YAML
        return cls(
            mean=mean,
            std=std,
            in_chans=in_chans,
            degrees=cfg.degrees,
            translate=(tx, ty),
            shear=cfg.shear,
            zoom=cfg.zoom,
            hflip=cfg.hflip,
            vflip=cfg.vflip,
            realism=cfg.realism,
            box_jitter=cfg.box_jitter,
        )

    def __call__(self, img: torch.Tensor) -> torch.Tensor:  # (1, H, W) uint8 → (C, H, W)
        return self.transforms(img)

    def __repr__(self) -> str:
        return f"TrainPreset({self.transforms})"


class EvalPreset:
    """Whitening only (the frames in the store are already cropped and resized)."""

    def __init__(
        self, *, mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,), in_chans: int = 1
    ):
        self.transforms = v2.Compose(_whiten(mean, std, in_chans))

    def __call__(self, img: torch.Tensor) -> torch.Tensor:  # (1, H, W) uint8 → (C, H, W)
        return self.transforms(img)

    def __repr__(self) -> str:
        return f"EvalPreset({self.transforms})"
