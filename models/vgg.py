"""VGG16 (Simonyan & Zisserman 2015), torchvision's architecture, with the thesis' stages.

Stages (head first, Table D.2 unfreezes VGG16 by conv block): ``head`` (the last FC),
``fc2``, ``fc1`` (the two 4096-unit FCs), ``block5`` … ``block1`` (Keras ``blockN_conv*``).
``forward_features`` returns the 4096-unit output of ``fc2`` (after ReLU and dropout).

>>> from echostream.models.registry import create_model
>>> create_model("vgg16").cfg.input_size  # doctest: +SKIP
(3, 224, 224)
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from .mobilenet import set_in_chans
from .pretrained import finish_model, torchvision_state
from .registry import register_model

_WEIGHTS = "VGG16_Weights.IMAGENET1K_V1"


@functools.cache
def _vgg_class() -> type[nn.Module]:
    from torchvision.models import VGG

    class VGG16(VGG):
        """torchvision's VGG with ``forward_features`` (the fc2 output) and ``stages``."""

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.flatten(self.avgpool(self.features(x)), 1)  # (B, 512·7·7)
            return self.classifier[:-1](x)  # (B, 4096)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier[-1](self.forward_features(x))  # (B, num_classes)

    return VGG16


def _vgg(
    name: str,
    cfg: str,
    *,
    num_classes: int,
    in_chans: int | None,
    pretrained: str | None,
    input_hw: tuple[int, int] = (224, 224),
    **kwargs: Any,
) -> nn.Module:
    from torchvision.models.vgg import cfgs, make_layers

    chans = in_chans or 3
    model: Any = _vgg_class()(make_layers(cfgs[cfg]), num_classes=num_classes, **kwargs)
    set_in_chans(model.features, "0", chans)
    ends = [i + 1 for i, m in enumerate(model.features) if isinstance(m, nn.MaxPool2d)]
    blocks = {
        f"block{b + 1}": list(model.features[a:e])
        for b, (a, e) in enumerate(zip([0, *ends[:-1]], ends, strict=True))
    }
    fc = model.classifier  # Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
    model.stages = OrderedDict(head=[fc[6]], fc2=[fc[3]], fc1=[fc[0]])
    model.stages.update((k, blocks[k]) for k in sorted(blocks, reverse=True))
    model.num_features = fc[6].in_features

    def imagenet() -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        state, labels = torchvision_state(_WEIGHTS)
        return state, {"source": f"torchvision:{_WEIGHTS}", "labels": labels}

    return finish_model(
        model,
        name=name,
        input_hw=input_hw,
        in_chans=chans,
        num_classes=num_classes,
        pretrained=pretrained,
        imagenet=imagenet,
        first_conv="features.0",
        classifier="classifier.6",
    )


@register_model
def vgg16(
    num_classes: int = 8, in_chans: int | None = None, pretrained: str | None = None, **kw: Any
) -> nn.Module:
    """VGG16 (configuration D), 224×224, 138 M parameters with the ImageNet head."""
    return _vgg(
        "vgg16", "D", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kw
    )
