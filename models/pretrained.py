"""Pretrained weights for the zoo: where they come from and how they are fitted to a model.

``pretrained`` is one of:

- ``None``: random initialisation;
- ``"imagenet"``: Google's TFLite MobileNets for ``mobilenet_v1_*`` / ``mobilenet_v2`` (offline,
  read from :func:`tflite_dir`), torchvision's weights for the others (needs a network, or
  torchvision's cache in ``$TORCH_HOME``);
- a path to a local file (a state dict, or a checkpoint holding ``"model"``).

Whatever the source, :func:`load_into` fits it to the model the way timm does: a 3-channel first
conv is summed to one channel for grayscale input (``adapt_input_conv``); a head whose class count
differs is dropped and left randomly initialised (logged); a 1001-class TFLite head (class 0 is
"background") loses its row 0 for a 1000-class model.

>>> from echostream.models.registry import create_model
>>> m = create_model("mobilenet_v1_025", in_chans=1, pretrained="imagenet")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TFLITE_ENV = "ECHOSTREAM_TFLITE_DIR"
_REPO = Path(__file__).resolve().parents[1]


class PretrainedError(RuntimeError):
    """Pretrained weights cannot be found, fetched or fitted (one-line message)."""


def tflite_dir() -> Path:
    """Folder of the ImageNet MobileNet TFLite files.

    ``$ECHOSTREAM_TFLITE_DIR`` if set, else ``<repo>/../shared/weights/imagenet-mobilenet-tflite``.
    """
    env = os.environ.get(TFLITE_ENV)
    path = Path(env) if env else _REPO.parent / "shared" / "weights" / "imagenet-mobilenet-tflite"
    if not path.is_dir():
        raise PretrainedError(
            f"{path}: ImageNet TFLite folder not found; set {TFLITE_ENV} to the folder holding "
            "mobilenet_*_quant.tflite, or pass pretrained=PATH to a local weights file"
        )
    return path


def norm_stats(
    in_chans: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std for ``in_chans`` channels (the channel mean for grayscale, as timm)."""
    if in_chans == len(mean):
        return tuple(mean), tuple(std)
    m, s = sum(mean) / len(mean), sum(std) / len(std)
    return (m,) * in_chans, (s,) * in_chans


def adapt_input_conv(in_chans: int, weight: torch.Tensor) -> torch.Tensor:
    """Fit a first-conv weight (O, I, kH, kW) to ``in_chans`` inputs (timm's adapt_input_conv).

    1 channel: sum over the RGB filters, so a gray image replicated to RGB gives the same output.
    More channels: repeat the filters and rescale.
    """
    out, cin = weight.shape[:2]
    if in_chans == cin:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = -(-in_chans // cin)
    return weight.repeat(1, reps, 1, 1)[:, :in_chans] * (cin / in_chans)


def read_state_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from a local file (a plain state dict or a checkpoint holding ``"model"``)."""
    p = Path(path)
    if not p.is_file():
        raise PretrainedError(f"{p}: weights file not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad pickle/zip
        raise PretrainedError(f"{p}: not a torch weights file ({exc.__class__.__name__})") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise PretrainedError(f"{p}: holds no state dict")
    return state


def torchvision_state(weights_name: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """State dict and class names of torchvision weights, e.g. ``VGG16_Weights.IMAGENET1K_V1``.

    Needs a network unless torchvision's cache (``$TORCH_HOME``) already holds the file.
    """
    from torchvision.models import get_weight

    weights = get_weight(weights_name)
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except OSError as exc:  # urllib's URLError is an OSError
        raise PretrainedError(
            f"{weights_name}: cannot download {weights.url} (no network? "
            f"{exc.__class__.__name__}); pass pretrained=PATH to a local weights file instead"
        ) from exc
    return state, list(weights.meta.get("categories", []))


def load_into(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    first_conv: str,
    classifier: str | tuple[str, ...],
    source: str,
    ignore_prefixes: tuple[str, ...] = (),
) -> bool:
    """Load ``state`` into ``model``, fitting the first conv and the head.

    ``classifier`` names the head layer(s) (several for Inception's aux head). Returns True when
    they were loaded, False when the head was left randomly initialised (a different class
    count, or no head in ``state``). Any other missing or mismatched weight is an error.
    """
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    own = model.state_dict()
    key = f"{first_conv}.weight"
    if key in state and key in own:
        state[key] = adapt_input_conv(own[key].shape[1], state[key])
    heads = (classifier,) if isinstance(classifier, str) else classifier
    head_keys = [f"{c}.{w}" for c in heads for w in ("weight", "bias") if f"{c}.{w}" in own]
    head_in_state = all(k in state for k in head_keys)
    head_loaded = head_in_state
    for k in head_keys:
        if k not in state:
            continue
        want, got = own[k].shape[0], state[k].shape[0]
        if got == want + 1 == 1001:  # TFLite's 1001 ImageNet classes: drop "background"
            state[k] = state[k][1:]
        elif got != want:
            head_loaded = False
    if not head_loaded:
        for k in head_keys:
            state.pop(k, None)
        log.info(
            "%s: head %s re-initialised for %d classes (%s)",
            source,
            "/".join(heads),
            int(own[head_keys[0]].shape[0]) if head_keys else 0,
            "other class count" if head_in_state else "the weights have no classifier",
        )
    bad = [k for k in state if k in own and state[k].shape != own[k].shape]
    if bad:
        raise PretrainedError(
            f"{source}: shape mismatch for {bad[0]}: {tuple(state[bad[0]].shape)} vs "
            f"{tuple(own[bad[0]].shape)} ({len(bad)} tensors differ)"
        )
    result = model.load_state_dict(state, strict=False)
    missing = [
        k
        for k in result.missing_keys
        if k not in head_keys and not k.endswith("num_batches_tracked")
    ]
    if missing or result.unexpected_keys:
        extra = result.unexpected_keys
        raise PretrainedError(
            f"{source}: weights do not fit the model: {len(missing)} missing "
            f"({', '.join(missing[:3])}), {len(extra)} unexpected ({', '.join(extra[:3])})"
        )
    return head_loaded


def resolve_pretrained(
    model: nn.Module,
    pretrained: str | None,
    *,
    imagenet: Callable[[], tuple[dict[str, torch.Tensor], dict[str, object]]] | None,
    first_conv: str,
    classifier: str | tuple[str, ...],
    ignore_prefixes: tuple[str, ...] = (),
) -> dict[str, object]:
    """Apply ``pretrained`` to ``model``; returns facts for the model's cfg.

    ``imagenet`` returns (state dict, info) where info may hold ``source``, ``labels``, ``mean``,
    ``std`` for the cfg; None when the model has no ImageNet weights.
    Returned keys: ``source``, ``head_loaded`` and whatever ``imagenet`` put in info.
    """
    if pretrained is None:
        return {}
    name = model.__class__.__name__
    if pretrained == "imagenet":
        if imagenet is None:
            raise PretrainedError(
                f"{name}: no ImageNet weights exist for PyTorch; "
                "pass pretrained=PATH to a local weights file"
            )
        state, info = imagenet()
        info = dict(info)
    else:
        state, info = read_state_file(pretrained), {"source": f"file:{Path(pretrained).name}"}
    source = str(info.get("source", pretrained))
    info["head_loaded"] = load_into(
        model,
        state,
        first_conv=first_conv,
        classifier=classifier,
        source=source,
        ignore_prefixes=ignore_prefixes,
    )
    return info


def finish_model(
    model: nn.Module,
    *,
    name: str,
    input_hw: tuple[int, int],
    in_chans: int,
    num_classes: int,
    pretrained: str | None,
    imagenet: Callable[[], tuple[dict[str, torch.Tensor], dict[str, object]]] | None,
    first_conv: str,
    classifier: str | tuple[str, ...],
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    ignore_prefixes: tuple[str, ...] = (),
    extra: dict[str, object] | None = None,
) -> nn.Module:
    """Load ``pretrained`` weights and attach ``model.cfg`` (the shared tail of every entry point).

    The normalisation the weights were trained with (``mean``/``std`` in ``info``) overrides the
    default; labels come from the weights when their head was kept.
    """
    from .registry import ModelCfg, default_labels

    info = resolve_pretrained(
        model,
        pretrained,
        imagenet=imagenet,
        first_conv=first_conv,
        classifier=classifier,
        ignore_prefixes=ignore_prefixes,
    )
    m, s = norm_stats(in_chans, info.get("mean", mean), info.get("std", std))  # type: ignore[arg-type]
    labels = default_labels(num_classes)
    weight_labels = list(info.get("labels", []))  # type: ignore[call-overload]
    if info.get("head_loaded") and len(weight_labels) >= num_classes:
        labels = tuple(weight_labels[-num_classes:])  # 1000 of TFLite's 1001: no "background"
    model.cfg = ModelCfg(  # type: ignore[assignment]
        name=name,
        input_size=(in_chans, *input_hw),
        mean=m,
        std=s,
        labels=labels,
        pretrained=str(info["source"]) if info else None,
        extra=dict(extra or {}),
    )
    return model
