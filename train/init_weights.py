"""Where a training run starts: ``echostream train CONFIG --data DIR --init MODEL``.

``MODEL`` is one of:

- ``default``: the shipped model (``models/zoo/realecho_v4.onnx``) through the checkpoint its
  metadata names (``models/zoo/realecho_v4.pt``); a shipped file that names none (realecho_v3
  was trained on a lent GPU) starts from ``DEFAULT_START`` beside it;
- an echostream checkpoint (``.pt``): its architecture (model name and keyword arguments)
  replaces the config's model section and all its weights, the head included (the same 8
  views), are the starting point;
- an ONNX file from ``echostream export``: the checkpoint its metadata names (``checkpoint``,
  relative to the ONNX file), checked against the recorded ``checkpoint_sha256``;
- ``imagenet`` / ``random``: the config's own model, from ImageNet weights or from scratch.

The run's ``config.yaml`` records the resolved model section (``pretrained``: the checkpoint's
absolute path), and the checkpoint's provenance the initialisation (``init``). Whitening is
measured again on the new training frames, as for every run.

Example::

    cfg, label = apply_init(load_config("configs/finetune.yaml"), "default")
    cfg.model.pretrained       # '/…/models/zoo/realecho_v4.pt'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from echostream.stream.views import VIEWS

from .config import ModelSection, RunConfig

INIT_WORDS = ("default", "imagenet", "random")
#: Where ``--init default`` starts when the shipped model file names no checkpoint (as
#: realecho_v3, shipped until 2026-12-01, did): its recipe's CPU run, beside it in the zoo.
DEFAULT_START = "realecho_v3_cpu.pt"


@dataclass(frozen=True)
class InitChoice:
    """The model section a run starts from; ``name`` None keeps the config's model."""

    pretrained: str | None
    label: str
    name: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def checkpoint_of_onnx(path: Path) -> Path:
    """The checkpoint an exported ONNX file names in its metadata (checked by its sha256)."""
    from echostream.stream.model_file import ModelInfo, file_sha256

    info = ModelInfo.from_onnx(path)
    if not info.checkpoint:
        raise ValueError(f"{path}: its metadata names no checkpoint; pass the .pt file")
    ckpt = (path.parent / info.checkpoint).resolve()
    if not ckpt.is_file():
        raise FileNotFoundError(f"{path}: its checkpoint {ckpt} is missing")
    expected = str(info.extra.get("checkpoint_sha256") or "")
    if expected and file_sha256(ckpt) != expected:
        raise ValueError(f"{ckpt}: changed since {path.name} was exported (sha256 differs)")
    return ckpt


def checkpoint_init(path: Path) -> InitChoice:
    """The architecture and weights of an echostream checkpoint (8 views, in our order)."""
    from echostream.models.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path)
    labels = tuple((ckpt.get("cfg") or {}).get("labels") or VIEWS)
    if labels != VIEWS:
        raise ValueError(f"{path}: its classes {labels} are not the 8 views {VIEWS}")
    kwargs = {k: v for k, v in dict(ckpt["model_kwargs"]).items() if k != "num_classes"}
    label = f"fine-tuned from {path.name} (trained on {_data_kind(ckpt)})"
    return InitChoice(str(path.resolve()), label, str(ckpt["model_name"]), kwargs)


def _data_kind(ckpt: dict[str, Any]) -> str:
    simulated = bool((ckpt.get("provenance") or {}).get("simulated_data"))
    return "simulated data" if simulated else "data not marked simulated"


def resolve_init(init: str) -> InitChoice:
    """What ``--init`` names (see the module docstring)."""
    if init == "imagenet":
        return InitChoice("imagenet", "ImageNet")
    if init == "random":
        return InitChoice(None, "random init")
    if init == "default":
        from echostream.stream.defaults import default_model_path
        from echostream.stream.model_file import ModelInfo

        shipped = default_model_path()
        if ModelInfo.from_onnx(shipped).checkpoint:
            return checkpoint_init(checkpoint_of_onnx(shipped))
        return checkpoint_init(shipped.with_name(DEFAULT_START))
    path = Path(init)
    if not path.is_file():
        raise FileNotFoundError(
            f"--init {init}: no such model file (or one of {', '.join(INIT_WORDS)})"
        )
    if path.suffix.lower() == ".onnx":
        return checkpoint_init(checkpoint_of_onnx(path))
    return checkpoint_init(path)


def apply_init(cfg: RunConfig, init: str) -> tuple[RunConfig, str]:
    """``cfg`` with the model section ``--init`` asks for, and that start in words."""
    choice = resolve_init(init)
    model = cfg.model
    if choice.name is not None:
        section = ModelSection(name=choice.name, pretrained=choice.pretrained, kwargs=choice.kwargs)
    else:
        section = ModelSection(name=model.name, pretrained=choice.pretrained, kwargs=model.kwargs)
    return replace(cfg, model=section), choice.label
