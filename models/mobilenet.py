"""MobileNet v1 (the thesis' Keras model, width multiplier), v2 and v3-large (torchvision's).

Stage names (``model.stages``, head first, the thesis' unfreezing order, Table D.1):

- ``mobilenet_v1*``: ``head`` (the classifier), ``block13`` … ``block1`` (Keras ``conv_dw_N`` +
  ``conv_pw_N`` with their BN), ``conv1`` (the stem conv + BN).
- ``mobilenet_v2``: ``head``, ``conv_last`` (Keras ``Conv_1``, 1280 ch), ``block16`` … ``block1``
  (Keras ``block_N``), ``block0`` (Keras ``expanded_conv``), ``conv1``.
- ``mobilenet_v3_large``: ``head``, ``pre_logits`` (the 960→1280 FC), ``conv_last``,
  ``block15`` … ``block1``, ``conv1``.

Strided convs of v1 use TF "SAME" padding (:class:`Conv2dSame`: bottom/right for even inputs, as
Keras' ``ZeroPadding2D(((0, 1), (0, 1)))``), which the TFLite weights need. v2/v3 keep
torchvision's symmetric padding unless built with ``tf_padding=True`` (automatic with the TFLite
ImageNet weights of v2).

>>> from echostream.models.registry import create_model
>>> create_model("mobilenet_v1_025", in_chans=1).cfg.input_size
(1, 128, 128)
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .pretrained import finish_model, torchvision_state
from .registry import register_model


def pad_same(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], value: float = 0.0
) -> torch.Tensor:
    """Pad (B, C, H, W) as TensorFlow's "SAME" does: the odd pixel goes bottom/right."""
    pads = []
    for size, k, s in zip(x.shape[-2:], kernel, stride, strict=True):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return F.pad(x, (left, right, top, bottom), value=value)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding (same weights, same state-dict keys)."""

    same_padding = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride)  # type: ignore[arg-type]
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _like(
    conv: nn.Conv2d, *, cls: type[nn.Conv2d] | None = None, in_chans: int | None = None
) -> nn.Conv2d:
    """A copy of ``conv``'s configuration (as ``cls``, with ``in_chans`` inputs)."""
    cls = cls or type(conv)
    same = issubclass(cls, Conv2dSame)
    return cls(
        in_chans or conv.in_channels,
        conv.out_channels,
        conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=0 if same else conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        groups=conv.groups,
        bias=conv.bias is not None,
    )


def to_same_padding(module: nn.Module) -> nn.Module:
    """Swap every strided ``nn.Conv2d`` inside ``module`` for a :class:`Conv2dSame` (in place)."""
    for name, child in module.named_children():
        if type(child) is nn.Conv2d and max(child.stride) > 1:
            new = _like(child, cls=Conv2dSame)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            to_same_padding(child)
    return module


def set_in_chans(parent: nn.Module, key: str, in_chans: int) -> None:
    """Rebuild conv ``parent[key]`` (or attribute ``key``) for ``in_chans`` input channels."""
    holder: Any = parent
    conv = holder[int(key)] if key.isdigit() else getattr(holder, key)
    if conv.in_channels == in_chans:
        return
    new = _like(conv, in_chans=in_chans)
    if key.isdigit():
        holder[int(key)] = new
    else:
        setattr(holder, key, new)


def _conv_bn(cin: int, cout: int, k: int, s: int, groups: int = 1) -> nn.Sequential:
    conv: nn.Conv2d
    if s > 1:
        conv = Conv2dSame(cin, cout, k, s, 0, groups=groups, bias=False)
    else:
        conv = nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU6(inplace=True))


# (pointwise filters, depthwise stride) of blocks 1–13, as in the paper and Keras.
_V1_BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [
        (1024, 2),
        (1024, 1),
    ]
)


class MobileNetV1(nn.Module):
    """MobileNet v1 (Howard et al. 2017) as Keras builds it: stem + 13 depthwise-separable blocks,
    then global average pool → dropout → FC (Keras' 1×1 conv on the pooled features)."""

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, width: float = 1.0, dropout: float = 1e-3
    ) -> None:
        super().__init__()
        cin = int(32 * width)
        self.conv1 = _conv_bn(in_chans, cin, 3, 2)
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (filters, stride) in enumerate(_V1_BLOCKS, start=1):
            cout = int(filters * width)
            blocks[f"block{i}"] = nn.Sequential(
                OrderedDict(
                    conv_dw=_conv_bn(cin, cin, 3, stride, groups=cin),
                    conv_pw=_conv_bn(cin, cout, 1, 1),
                )
            )
            cin = cout
        self.blocks = nn.Sequential(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(cin, num_classes)
        self.num_features = cin
        self.stages: OrderedDict[str, list[nn.Module]] = OrderedDict(head=[self.classifier])
        for i in range(len(_V1_BLOCKS), 0, -1):
            self.stages[f"block{i}"] = [blocks[f"block{i}"]]
        self.stages["conv1"] = [self.conv1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.conv1(x))  # (B, C, H/32, W/32)
        return self.pool(x).flatten(1)  # (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))  # (B, num_classes)


def _mobilenet_v1(
    name: str,
    width: float,
    input_hw: tuple[int, int],
    *,
    num_classes: int,
    in_chans: int | None,
    pretrained: str | None,
    **kwargs: Any,
) -> nn.Module:
    from .tflite_import import tflite_imagenet

    chans = in_chans or 3
    model = MobileNetV1(num_classes=num_classes, in_chans=chans, width=width, **kwargs)
    return finish_model(
        model,
        name=name,
        input_hw=input_hw,
        in_chans=chans,
        num_classes=num_classes,
        pretrained=pretrained,
        imagenet=lambda: tflite_imagenet(model, "mobilenet_v1", width),
        first_conv="conv1.0",
        classifier="classifier",
        extra={"width": width},
    )


@register_model
def mobilenet_v1(
    num_classes: int = 8,
    in_chans: int | None = None,
    pretrained: str | None = None,
    width: float = 1.0,
    input_hw: tuple[int, int] = (224, 224),
    **kwargs: Any,
) -> nn.Module:
    """MobileNet v1 at any ``width`` multiplier (default 1.0, 224×224)."""
    return _mobilenet_v1(
        "mobilenet_v1",
        width,
        input_hw,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        **kwargs,
    )


def _v1_variant(name: str, width: float, input_hw: tuple[int, int], about: str) -> None:
    """Register ``name``: MobileNet v1 at a fixed ``width``, ``input_hw`` by default; its
    docstring is "MobileNet v1 {width} {about}"."""

    def entry(
        num_classes: int = 8,
        in_chans: int | None = None,
        pretrained: str | None = None,
        input_hw: tuple[int, int] = input_hw,
        **kw: Any,
    ) -> nn.Module:
        return _mobilenet_v1(
            name,
            width,
            input_hw,
            num_classes=num_classes,
            in_chans=in_chans,
            pretrained=pretrained,
            **kw,
        )

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"MobileNet v1 {width} {about}"
    register_model(entry)


# The width variants, each with ImageNet weights from a TFLite file (:mod:`.tflite_import`).
_v1_variant("mobilenet_v1_025", 0.25, (128, 128), "at 128×128 (the TFLite 0.25_128 file's size).")
_v1_variant("mobilenet_v1_050", 0.5, (224, 224), "(ImageNet weights: the TFLite 0.5_160 file).")
_v1_variant("mobilenet_v1_075", 0.75, (224, 224), "(ImageNet weights: the TFLite 0.75_192 file).")
_v1_variant(
    "mobilenet_v1_100",
    1.0,
    (224, 224),
    "(ImageNet weights: the TFLite embedding extractor; head stays random).",
)


# --- torchvision's v2 and v3-large, with stages and forward_features ----------------------------


def _tv_stages(
    features: nn.Sequential, head: list[tuple[str, nn.Module]], first_block: int
) -> OrderedDict[str, list[nn.Module]]:
    """Head stages, ``conv_last``, blocks (last first), ``conv1`` of torchvision's ``features``."""
    stages: OrderedDict[str, list[nn.Module]] = OrderedDict((k, [m]) for k, m in head)
    stages["conv_last"] = [features[-1]]
    n = len(features) - 2
    for i in range(n, 0, -1):
        stages[f"block{i - 1 + first_block}"] = [features[i]]
    stages["conv1"] = [features[0]]
    return stages


@functools.cache
def _tv_class(base: type[nn.Module], n_pre: int) -> type[nn.Module]:
    """A subclass of torchvision's ``base`` with ``forward_features`` (pooled, through
    ``classifier[:n_pre]``) and a forward through it."""

    def forward_features(self: Any, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)  # (B, C)
        return self.classifier[:n_pre](x) if n_pre else x

    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        return self.classifier[n_pre:](self.forward_features(x))  # (B, num_classes)

    ns = {"forward_features": forward_features, "forward": forward, "__module__": __name__}
    return type(base.__name__, (base,), ns)


def _tv_mobilenet(
    name: str,
    *,
    num_classes: int,
    in_chans: int | None,
    pretrained: str | None,
    tf_padding: bool | None = None,
    input_hw: tuple[int, int] = (224, 224),
    **kwargs: Any,
) -> nn.Module:
    from torchvision import models as tvm

    chans = in_chans or 3
    model: Any
    if name == "mobilenet_v2":
        model = _tv_class(tvm.MobileNetV2, 0)(num_classes=num_classes, **kwargs)
        head = [("head", model.classifier[1])]
        first_block, classifier = 0, "classifier.1"
        tf_padding = pretrained == "imagenet" if tf_padding is None else tf_padding
    else:
        from torchvision.models.mobilenetv3 import _mobilenet_v3_conf

        setting, last = _mobilenet_v3_conf("mobilenet_v3_large")
        model = _tv_class(tvm.MobileNetV3, 3)(setting, last, num_classes=num_classes, **kwargs)
        head = [("head", model.classifier[3]), ("pre_logits", model.classifier[0])]
        first_block, classifier = 1, "classifier.3"
    set_in_chans(model.features[0], "0", chans)
    if tf_padding:
        to_same_padding(model)
    model.stages = _tv_stages(model.features, head, first_block)
    model.num_features = model.classifier[-1].in_features

    def imagenet() -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        if name == "mobilenet_v2":
            from .tflite_import import tflite_imagenet

            return tflite_imagenet(model, "mobilenet_v2", 1.0)
        state, labels = torchvision_state("MobileNet_V3_Large_Weights.IMAGENET1K_V1")
        return state, {
            "source": "torchvision:MobileNet_V3_Large_Weights.IMAGENET1K_V1",
            "labels": labels,
        }

    return finish_model(
        model,
        name=name,
        input_hw=input_hw,
        in_chans=chans,
        num_classes=num_classes,
        pretrained=pretrained,
        imagenet=imagenet,
        first_conv="features.0.0",
        classifier=classifier,
        extra={"padding": "tf_same" if tf_padding else "symmetric"},
    )


@register_model
def mobilenet_v2(
    num_classes: int = 8, in_chans: int | None = None, pretrained: str | None = None, **kw: Any
) -> nn.Module:
    """torchvision's MobileNet v2 1.0, 224×224 (ImageNet weights: the TFLite v2 file)."""
    return _tv_mobilenet(
        "mobilenet_v2", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kw
    )


@register_model
def mobilenet_v3_large(
    num_classes: int = 8, in_chans: int | None = None, pretrained: str | None = None, **kw: Any
) -> nn.Module:
    """torchvision's MobileNet v3-large, 224×224 (ImageNet weights: torchvision's, online)."""
    return _tv_mobilenet(
        "mobilenet_v3_large",
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        **kw,
    )
