"""Model registry in the style of timm: ``@register_model`` entry points and ``create_model``.

Every model carries a :class:`ModelCfg` (``model.cfg``) describing its input and preprocessing,
and ``model.stages``: an ordered mapping of stage name → modules, listed in the order the thesis
unfroze them (head first), so gradual unfreezing is a list of names.

>>> from echostream.models.registry import create_model
>>> m = create_model("baseline")
>>> m.cfg.input_size
(1, 60, 80)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from echostream.stream.views import VIEWS

_entrypoints: dict[str, Callable[..., nn.Module]] = {}


@dataclass(frozen=True)
class ModelCfg:
    """How a model wants its input; saved into checkpoints and ONNX metadata.

    ``mean``/``std`` are per channel on the 0–1 scale (whitening with the training set's values
    replaces the defaults after training). ``crop`` is the crop policy: ``"region"`` crops the
    ultrasound region before resizing, ``"full"`` uses the whole frame.
    """

    name: str
    input_size: tuple[int, int, int]  # (C, H, W)
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    interpolation: str = "bilinear"
    crop: str = "region"
    labels: tuple[str, ...] = VIEWS
    pretrained: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCfg:
        d = dict(d)
        for key in ("input_size", "mean", "std", "labels"):
            if key in d and d[key] is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    def with_(self, **changes: Any) -> ModelCfg:
        return replace(self, **changes)


def default_labels(num_classes: int) -> tuple[str, ...]:
    """The 8 views for 8 classes, else ``class0 … classN-1``."""
    return VIEWS if num_classes == len(VIEWS) else tuple(f"class{i}" for i in range(num_classes))


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register ``fn`` under its function name."""
    _entrypoints[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _import_zoo()
    return sorted(_entrypoints)


def create_model(
    name: str,
    num_classes: int = 8,
    in_chans: int | None = None,
    pretrained: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    ``pretrained`` is None (random init), ``"imagenet"`` (timm/torchvision weights where a network
    is available; the offline TFLite import for MobileNets) or a path to a local weights file.
    """
    _import_zoo()
    if name not in _entrypoints:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(_entrypoints))}")
    model = _entrypoints[name](
        num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, **kwargs
    )
    return model


def stage_parameters(model: nn.Module, stage: str) -> Iterator[nn.Parameter]:
    """Parameters of one named stage of ``model``."""
    for module in model.stages[stage]:  # type: ignore[index]
        yield from module.parameters()


def set_trainable_stages(model: nn.Module, stages: list[str]) -> None:
    """Freeze everything, then unfreeze the named stages (gradual unfreezing)."""
    for p in model.parameters():
        p.requires_grad_(False)
    for stage in stages:
        for p in stage_parameters(model, stage):
            p.requires_grad_(True)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def load_state_file(model: nn.Module, path: str) -> None:
    """Load weights from a local file (a state dict, or a checkpoint holding ``"model"``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    model.load_state_dict(state)


def _import_zoo() -> None:
    # Importing the architecture modules registers their entry points.
    from . import baseline, inception, mobilenet, nasnet, vgg  # noqa: F401
