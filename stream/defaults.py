"""Where the shipped model lives, and the stream settings (``configs/stream.yaml``).

The default model path is defined here and nowhere else. Settings are read as ``cfg[stage]``
(``reader``, ``preprocess``, ``backend``, ``smoother``, ``overlay``, ``live``, ``bench``); a user
file given with ``--config`` is merged over the defaults key by key.

>>> cfg = load_stream_config()
>>> cfg["smoother"]["stages"]
['ema', 'vote', 'uncertain']
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_MODEL_FILE = "realecho_v2.onnx"
REPO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "stream.yaml"

#: The same values as ``configs/stream.yaml`` (a test keeps them equal), so an installed wheel
#: without the ``configs/`` folder behaves the same.
DEFAULTS: dict[str, Any] = {
    "reader": {"workers": 2, "preprocess_workers": 1, "reduced_scale": True, "queue_size": 64},
    "preprocess": {},
    "backend": {"name": "auto", "precision": "auto", "threads": 0, "spin": False, "batch_size": 8},
    "smoother": {
        "stages": ["ema", "vote", "uncertain"],
        "ema": {"alpha": 0.5},
        "vote": {"window_s": 0.7},
        "hysteresis": {"margin": 0.1, "patience": 3},
        "uncertain": {"threshold": 0.5},
    },
    "overlay": {"top_k": 3, "keep_screen": False},
    "live": {
        "threads": 1,
        "spin": False,
        "preprocess_in_reader": True,
        "switch_interval_ms": None,
        "sink_nice": 0,
        "workers": None,
        "queue_size": 4,
        "sink_queue_size": 8,
        "show_port": 8765,
        "read_timeout": 5.0,
        "connect_timeout": 10.0,
    },
    "bench": {
        "smoothing_settings": {
            "ema": {"stages": ["ema"], "ema": {"alpha": 0.3}},
            "vote": {"stages": ["vote"], "vote": {"window": 15}},
            "vote 0.7 s": {"stages": ["vote"], "vote": {"window_s": 0.7}},
            "ema+hysteresis": {
                "stages": ["ema", "hysteresis"],
                "ema": {"alpha": 0.3},
                "hysteresis": {"margin": 0.1, "patience": 3},
            },
            "vote+hysteresis": {
                "stages": ["vote", "hysteresis"],
                "vote": {"window": 9},
                "hysteresis": {"margin": 0.0, "patience": 3},
            },
        },
        "settle_s": 0.5,
        "stable_hold_s": 1.0,
    },
}


def default_model_path() -> Path:
    """The shipped model file (``models/zoo/realecho_v2.onnx``); it may not exist yet."""
    return Path(str(resources.files("echostream.models") / "zoo" / DEFAULT_MODEL_FILE))


def missing_model_message(path: Path) -> str:
    """One line saying which model file is missing and how to get one."""
    if path == default_model_path():
        return (
            f"the default model {path} is missing: train and export it "
            "(`echostream export CHECKPOINT --out models/zoo/realecho_v2.onnx`, see "
            "scripts/make_default_model.sh) or pass --model FILE.onnx"
        )
    return f"{path}: no such model file"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, section by section. A setting given in frames
    replaces the default's seconds form and vice versa (``window`` drops ``window_s``).

    >>> _merge({"vote": {"window_s": 0.7}}, {"vote": {"window": 20}})
    {'vote': {'window': 20}}
    """
    out = copy.deepcopy(base)
    for key, value in over.items():
        out.pop(key[:-2] if key.endswith("_s") else f"{key}_s", None)
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "stages":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_stream_config(path: str | Path | None = None) -> dict[str, Any]:
    """The stream settings: ``path`` (or ``configs/stream.yaml`` in a source checkout) merged
    over :data:`DEFAULTS`. Raises ValueError naming the file when it is not a YAML mapping."""
    import yaml

    file = Path(path) if path is not None else (REPO_CONFIG if REPO_CONFIG.is_file() else None)
    if file is None:
        return copy.deepcopy(DEFAULTS)
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{file}: cannot read stream config ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file}: stream config must be a mapping of stage sections")
    return _merge(DEFAULTS, data)
