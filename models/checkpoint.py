"""The echostream checkpoint format: one ``torch.save`` dict, written atomically.

Keys of the dict (format 1):

=====================  ==================================================================
``format``             ``"echostream.checkpoint"``
``format_version``     1
``model_name``         registry name for :func:`create_model`
``model_kwargs``       keyword arguments for :func:`create_model` (``num_classes``, …)
``cfg``                :meth:`ModelCfg.to_dict` — input size, labels, mean/std, crop, …
``model``              the state dict
``provenance``         ``config_hash``, ``data`` (description), ``simulated_data`` (bool),
                       ``dataset_seed``, ``git_commit`` (or None), ``created`` (ISO UTC)
``config``             the run's configuration dict (or None)
``epoch``              epochs trained (int)
``optimizer``          optimizer state dict (or None)
``extra``              anything else (metrics, history, …) (dict)
=====================  ==================================================================

>>> from echostream.models import create_model
>>> from echostream.models.checkpoint import load_checkpoint, make_provenance, save_checkpoint
>>> m = create_model("baseline")
>>> prov = make_provenance(config={"lr": 1e-3}, data="simulated v1", simulated_data=True)
>>> save_checkpoint("ckpt.pt", m, model_name="baseline", model_kwargs={}, cfg=m.cfg,
...                 provenance=prov, config={"lr": 1e-3}, epoch=0)  # doctest: +SKIP
>>> model, ckpt = load_checkpoint("ckpt.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from echostream.stream.atomic import atomic_file

from .registry import ModelCfg, create_model

FORMAT = "echostream.checkpoint"
FORMAT_VERSION = 1
PROVENANCE_KEYS = ("config_hash", "data", "simulated_data", "dataset_seed", "git_commit", "created")


def config_hash(config: dict[str, Any] | None) -> str | None:
    """sha256 of the config as canonical JSON (sorted keys), or None without a config."""
    if config is None:
        return None
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def git_commit(repo: str | Path | None = None) -> str | None:
    """The current git commit of ``repo`` (default: this package's folder), or None."""
    cwd = Path(repo) if repo else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def make_provenance(
    *,
    config: dict[str, Any] | None = None,
    data: str = "unknown",
    simulated_data: bool = True,
    dataset_seed: int | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A provenance dict with all :data:`PROVENANCE_KEYS` filled in (plus ``more``)."""
    return {
        "config_hash": config_hash(config),
        "data": data,
        "simulated_data": bool(simulated_data),
        "dataset_seed": dataset_seed,
        "git_commit": git_commit(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **more,
    }


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: dict[str, Any],
    cfg: ModelCfg,
    provenance: dict[str, Any],
    config: dict[str, Any] | None,
    epoch: int,
    optimizer_state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, then ``os.replace``)."""
    missing = [k for k in PROVENANCE_KEYS if k not in provenance]
    if missing:
        raise ValueError(f"provenance lacks {', '.join(missing)} (use make_provenance)")
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "model_kwargs": dict(model_kwargs),
        "cfg": cfg.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "provenance": dict(provenance),
        "config": config,
        "epoch": int(epoch),
        "optimizer": optimizer_state,
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_file(path, "wb") as fh:
        torch.save(ckpt, fh)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, checked for the format (no model is built)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors vary by torch version
        raise ValueError(
            f"{path}: not a readable torch checkpoint ({type(err).__name__})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not an echostream checkpoint (no 'format': {FORMAT!r})")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {ckpt['format_version']} is too new")
    return ckpt


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model with :func:`create_model` and load its weights; returns (model, dict).

    The model is in eval mode and its ``cfg`` is the saved one (e.g. with the training set's
    mean/std), not the registry default.
    """
    ckpt = read_checkpoint(path)
    model = create_model(ckpt["model_name"], **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model"])
    model.cfg = ModelCfg.from_dict(ckpt["cfg"])  # type: ignore[assignment]
    model.to(map_location).eval()
    return model, ckpt
