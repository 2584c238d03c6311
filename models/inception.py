"""Inception v3 (Szegedy et al. 2016), torchvision's architecture, 299×299, aux logits off.

Stages (head first; Keras names the blocks ``mixed0`` … ``mixed10``): ``head`` (fc), ``aux``
(only with ``aux_logits=True``), ``mixed10`` … ``mixed0`` (torchvision ``Mixed_7c`` …
``Mixed_5b``), ``stem`` (the five convs before them). ``forward_features`` returns the pooled
2048 features. With torchvision's ImageNet weights the cfg's mean/std are 0.5 (what
torchvision's ``transform_input`` emulates), so ``transform_input`` stays off.

>>> from echostream.models.registry import create_model
>>> create_model("inception_v3").cfg.input_size  # doctest: +SKIP
(3, 299, 299)
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from .pretrained import finish_model, torchvision_state
from .registry import register_model

_WEIGHTS = "Inception_V3_Weights.IMAGENET1K_V1"
_STEM = [
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
]
_MIXED = [
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
]


@functools.cache
def _inception_class() -> type[nn.Module]:
    from torchvision.models import Inception3

    class InceptionV3(Inception3):
        """torchvision's Inception3 with ``forward_features`` and ``stages``."""

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            for name in _STEM + _MIXED:
                x = getattr(self, name)(x)  # ends (B, 2048, 8, 8) at 299×299
            return torch.flatten(self.avgpool(x), 1)  # (B, 2048)

        def forward(self, x: torch.Tensor) -> Any:
            if self.training and self.AuxLogits is not None:
                return super().forward(x)  # InceptionOutputs(logits, aux_logits)
            return self.fc(self.dropout(self.forward_features(x)))  # (B, num_classes)

    return InceptionV3


@register_model
def inception_v3(
    num_classes: int = 8,
    in_chans: int | None = None,
    pretrained: str | None = None,
    aux_logits: bool = False,
    input_hw: tuple[int, int] = (299, 299),
    **kw: Any,
) -> nn.Module:
    """Inception v3 at 299×299; ``aux_logits`` adds the auxiliary classifier (training only)."""
    chans = in_chans or 3
    model: Any = _inception_class()(
        num_classes=num_classes,
        aux_logits=aux_logits,
        transform_input=False,
        init_weights=True,
        **kw,
    )
    if chans != 3:
        conv = model.Conv2d_1a_3x3.conv
        model.Conv2d_1a_3x3.conv = nn.Conv2d(chans, conv.out_channels, 3, stride=2, bias=False)
    model.stages = OrderedDict(head=[model.fc])
    if model.AuxLogits is not None:
        model.stages["aux"] = [model.AuxLogits]
    for i, name in reversed(list(enumerate(_MIXED))):
        model.stages[f"mixed{i}"] = [getattr(model, name)]
    model.stages["stem"] = [getattr(model, n) for n in _STEM]
    model.num_features = model.fc.in_features

    def imagenet() -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        state, labels = torchvision_state(_WEIGHTS)
        info = {"source": f"torchvision:{_WEIGHTS}", "labels": labels}
        return state, {**info, "mean": (0.5,) * 3, "std": (0.5,) * 3}

    return finish_model(
        model,
        name="inception_v3",
        input_hw=input_hw,
        in_chans=chans,
        num_classes=num_classes,
        pretrained=pretrained,
        imagenet=imagenet,
        first_conv="Conv2d_1a_3x3.conv",
        classifier=("fc", "AuxLogits.fc") if aux_logits else "fc",
        ignore_prefixes=() if aux_logits else ("AuxLogits.",),
    )
