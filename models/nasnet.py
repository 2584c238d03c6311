"""NASNet-A Mobile (4 @ 1056) from the paper's cells (Zoph et al. 2018), Keras' layout.

No PyTorch library ships it, so it is built here from the NASNet-A normal and reduction cells
(Fig. 4 of the paper) with the wiring of ``keras.applications.NASNetMobile``: a 3×3/2 valid stem
conv (32) + BN, two reduction cells as stem (``stem_1``, ``stem_2``), then 4 normal cells,
a reduction cell, 4 normal cells, a reduction cell, 4 normal cells (filters 44, 88, 176;
penultimate 1056 = 24 · 44), ReLU → global average pool → FC. Separable convs are
ReLU → depthwise → pointwise → BN, twice; strided ones use TF "SAME" padding like Keras'
``correct_pad``; the previous-cell input is fitted by a factorised reduction (two shifted 1×1
paths) or a 1×1 projection. 5,289,978 parameters with 1000 classes (Keras: 5,326,716 including
36,738 BN moving statistics, which are buffers here).

Stages (head first): ``head``, ``normal_12`` … ``normal_9``, ``reduce_8``, ``normal_8`` …
``normal_5``, ``reduce_4``, ``normal_3`` … ``normal_0``, ``stem_2``, ``stem_1``, ``stem``
(Keras' block ids).

>>> from echostream.models.registry import create_model
>>> create_model("nasnet_mobile", num_classes=1000).num_features  # doctest: +SKIP
1056
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .mobilenet import Conv2dSame, pad_same
from .pretrained import finish_model
from .registry import register_model

Shape = tuple[int, int]  # (channels, reduction level)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3)


def _sep(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    """Keras ``_separable_conv_block``: 2 × (ReLU → depthwise k×k → pointwise 1×1 → BN)."""
    dw1: nn.Conv2d
    if stride > 1:
        dw1 = Conv2dSame(cin, cin, k, stride, 0, groups=cin, bias=False)
    else:
        dw1 = nn.Conv2d(cin, cin, k, 1, k // 2, groups=cin, bias=False)
    return nn.Sequential(
        nn.ReLU(),
        dw1,
        nn.Conv2d(cin, cout, 1, bias=False),
        _bn(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, k, 1, k // 2, groups=cout, bias=False),
        nn.Conv2d(cout, cout, 1, bias=False),
        _bn(cout),
    )


def _relu_conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))


class FactorizedReduce(nn.Module):
    """Halve the previous input's size: two 1×1 convs on pixel grids shifted by one, concat, BN."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout - cout // 2, 1, bias=False)
        self.bn = _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))  # Keras: pad bottom/right, crop top/left
        p1 = self.conv_1(x[:, :, ::2, ::2])
        p2 = self.conv_2(shifted[:, :, ::2, ::2])
        return self.bn(torch.cat([p1, p2], 1))


def _adjust(p: Shape | None, ip: Shape, filters: int) -> tuple[nn.Module, int]:
    """Keras ``_adjust_block``: fit the previous output ``p`` to this cell → (module, channels)."""
    if p is None:
        return nn.Identity(), ip[0]
    if p[1] != ip[1]:
        return FactorizedReduce(p[0], filters), filters
    if p[0] != filters:
        return _relu_conv_bn(p[0], filters), filters
    return nn.Identity(), filters


def _avg3(x: torch.Tensor) -> torch.Tensor:  # 3×3/1 "SAME" average, padding not counted (TF)
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class NormalCell(nn.Module):
    """NASNet-A normal cell; output 6 · filters channels at the input size."""

    def __init__(self, ip: Shape, p: Shape | None, filters: int) -> None:
        super().__init__()
        f = filters
        self.adjust, cp = _adjust(p, ip, f)
        self.conv_1 = _relu_conv_bn(ip[0], f)
        self.left1, self.right1 = _sep(f, f, 5), _sep(cp, f, 3)
        self.left2, self.right2 = _sep(cp, f, 5), _sep(cp, f, 3)
        self.left5 = _sep(f, f, 3)
        self.out_channels = cp + 5 * f

    def forward(self, ip: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        p = self.adjust(p)
        h = self.conv_1(ip)
        x1 = self.left1(h) + self.right1(p)
        x2 = self.left2(p) + self.right2(p)
        x3 = _avg3(h) + p
        x4 = _avg3(p) + _avg3(p)
        x5 = self.left5(h) + h
        return torch.cat([p, x1, x2, x3, x4, x5], 1)


class ReductionCell(nn.Module):
    """NASNet-A reduction cell; output 4 · filters channels at half the input size."""

    def __init__(self, ip: Shape, p: Shape | None, filters: int) -> None:
        super().__init__()
        f = filters
        self.adjust, cp = _adjust(p, ip, f)
        self.conv_1 = _relu_conv_bn(ip[0], f)
        self.left1, self.right1 = _sep(f, f, 5, 2), _sep(cp, f, 7, 2)
        self.right2 = _sep(cp, f, 7, 2)
        self.right3 = _sep(cp, f, 5, 2)
        self.left5 = _sep(f, f, 3)
        self.out_channels = 4 * f

    def forward(self, ip: torch.Tensor, p: torch.Tensor | None) -> torch.Tensor:
        p = self.adjust(ip if p is None else p)
        h = self.conv_1(ip)
        h3 = pad_same(h, (3, 3), (2, 2))  # zero padding, as Keras' ZeroPadding2D
        x1 = self.left1(h) + self.right1(p)
        x2 = F.max_pool2d(h3, 3, 2) + self.right2(p)
        x3 = F.avg_pool2d(h3, 3, 2) + self.right3(p)
        x4 = _avg3(x1) + x2
        x5 = self.left5(x1) + F.max_pool2d(h3, 3, 2)
        return torch.cat([x2, x3, x4, x5], 1)


class NASNetAMobile(nn.Module):
    """NASNet-A ``num_blocks`` @ ``penultimate_filters`` (Mobile: 4 @ 1056, stem 32)."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        penultimate_filters: int = 1056,
        num_blocks: int = 4,
        stem_filters: int = 32,
        multiplier: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        filters = penultimate_filters // 24
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem_filters, 3, 2, bias=False), _bn(stem_filters)
        )
        cells: OrderedDict[str, nn.Module] = OrderedDict()
        x: Shape = (stem_filters, 0)
        p: Shape | None = None

        def add(name: str, cell: NormalCell | ReductionCell, level: int) -> None:
            nonlocal x, p
            cells[name] = cell
            x, p = (cell.out_channels, level), x

        add("stem_1", ReductionCell(x, p, filters // multiplier**2), 1)
        add("stem_2", ReductionCell(x, p, filters // multiplier), 2)
        for stage in range(3):  # Keras' ids: normal_0-3, reduce_4, normal_5-8, reduce_8, …
            f = filters * multiplier**stage
            if stage:
                add(f"reduce_{stage * num_blocks}", ReductionCell(x, p, f), x[1] + 1)
            for i in range(num_blocks):
                add(f"normal_{stage * num_blocks + i + (stage > 0)}", NormalCell(x, p, f), x[1])
        self.cells = nn.ModuleDict(cells)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(x[0], num_classes)
        self.num_features = x[0]
        self.stages: OrderedDict[str, list[nn.Module]] = OrderedDict(head=[self.classifier])
        for name in reversed(cells):
            self.stages[name] = [cells[name]]
        self.stages["stem"] = [self.stem]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)  # Keras' he_normal

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        ip, p = self.stem(x), None  # (B, 32, H/2, W/2)
        for cell in self.cells.values():
            ip, p = cell(ip, p), ip
        return F.adaptive_avg_pool2d(F.relu(ip), 1).flatten(1)  # (B, 1056)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))  # (B, num_classes)


@register_model
def nasnet_mobile(
    num_classes: int = 8,
    in_chans: int | None = None,
    pretrained: str | None = None,
    input_hw: tuple[int, int] = (224, 224),
    **kw: Any,
) -> nn.Module:
    """NASNet-A Mobile 4 @ 1056, 224×224 (no PyTorch ImageNet weights: random or a local file)."""
    chans = in_chans or 3
    model = NASNetAMobile(num_classes=num_classes, in_chans=chans, **kw)
    return finish_model(
        model,
        name="nasnet_mobile",
        input_hw=input_hw,
        in_chans=chans,
        num_classes=num_classes,
        pretrained=pretrained,
        imagenet=None,
        first_conv="stem.0",
        classifier="classifier",
    )
