"""The Madani et al. 2018 view classifier as the 2020 thesis rebuilt it ("baseline").

Input 1×60×80 grayscale. Three blocks of two (3×3 conv, no padding → BN → ReLU → spatial
dropout) followed by 2×2 max pooling, widths 32/64/128; then FC 1028 → BN → ReLU → dropout,
FC 512 → BN → ReLU → dropout, FC num_classes. Convolutions and hidden FCs have no bias (the
batch norm after them carries it): 3,978,416 parameters with 8 classes, as in the thesis.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from .registry import ModelCfg, default_labels, load_state_file, register_model


def _conv_block(cin: int, cout: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in in (cin, cout):
        layers += [
            nn.Conv2d(c_in, cout, 3, padding=0, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        ]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _fc_block(cin: int, cout: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(cin, cout, bias=False),
        nn.BatchNorm1d(cout),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
    )


class BaselineCNN(nn.Module):
    """The thesis' baseline CNN. ``forward_features`` returns the 512-unit penultimate layer."""

    cfg: ModelCfg

    def __init__(
        self,
        num_classes: int = 8,
        in_chans: int = 1,
        input_hw: tuple[int, int] = (60, 80),
        widths: tuple[int, int, int] = (32, 64, 128),
        fc_widths: tuple[int, int] = (1028, 512),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.block1 = _conv_block(in_chans, w1, dropout)
        self.block2 = _conv_block(w1, w2, dropout)
        self.block3 = _conv_block(w2, w3, dropout)
        h, w = input_hw
        for _ in range(3):  # two valid 3×3 convs (−4) then a 2×2 pool (÷2) per block
            h, w = (h - 4) // 2, (w - 4) // 2
        if h < 1 or w < 1:
            raise ValueError(f"input {input_hw} is too small for the baseline CNN")
        self.flatten = nn.Flatten()
        self.fc1 = _fc_block(w3 * h * w, fc_widths[0], dropout)
        self.fc2 = _fc_block(fc_widths[0], fc_widths[1], dropout)
        self.head = nn.Linear(fc_widths[1], num_classes)
        self.num_features = fc_widths[1]
        self.stages = OrderedDict(
            head=[self.head],
            fc2=[self.fc2],
            fc1=[self.fc1],
            block3=[self.block3],
            block2=[self.block2],
            block1=[self.block1],
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(x)))  # (B, 128, 4, 6)
        return self.fc2(self.fc1(self.flatten(x)))  # (B, 512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))  # (B, num_classes) logits


@register_model
def baseline(
    num_classes: int = 8,
    in_chans: int | None = None,
    pretrained: str | None = None,
    input_hw: tuple[int, int] = (60, 80),
    **kwargs: Any,
) -> nn.Module:
    """The Madani/thesis baseline CNN, 1×60×80 grayscale."""
    chans = in_chans or 1
    model = BaselineCNN(num_classes=num_classes, in_chans=chans, input_hw=input_hw, **kwargs)
    model.cfg = ModelCfg(
        name="baseline",
        input_size=(chans, *input_hw),
        mean=(0.0,) * chans,
        std=(1.0,) * chans,
        labels=default_labels(num_classes),
    )
    if pretrained == "imagenet":
        raise ValueError("baseline has no ImageNet weights; pass a local weights file or None")
    if pretrained:
        load_state_file(model, pretrained)
    return model
