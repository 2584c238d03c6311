"""Where the shipped model lives, and the stream settings (``stream/stream.yaml``).

The default model path is defined here and nowhere else. The stream settings' defaults live in
one place, ``stream/stream.yaml`` (shipped inside the package); their types are the models
below. Settings are read as ``cfg[stage]`` (``reader``, ``preprocess``, ``backend``,
``smoother``, ``overlay``, ``live``, ``bench``); a user file given with ``--config`` is merged
over the defaults key by key (:func:`~.settings.deep_merge`) and a wrong key or type ends with
one line naming the file and the key.

>>> cfg = load_stream_config()
>>> cfg["smoother"]["stages"]
['ema', 'vote', 'uncertain']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from .settings import STRICT_KEYS, deep_merge, read_yaml_mapping, validated

DEFAULT_MODEL_FILE = "realecho_v4.onnx"
#: The stream settings' defaults (the only copy).
DEFAULTS_FILE = Path(__file__).resolve().with_name("stream.yaml")


class _Section(BaseModel):
    model_config = STRICT_KEYS


class ReaderSettings(_Section):
    workers: int
    preprocess_workers: int
    reduced_scale: bool
    queue_size: int


class BackendSettings(_Section):
    name: Literal["auto", "onnxruntime", "tensorrt", "torch"]
    precision: Literal["auto", "fp32", "fp16", "int8"]
    threads: int
    spin: bool
    batch_size: int


class EmaSettings(_Section):
    alpha: float | None = None


class VoteSettings(_Section):
    window: int | None = None
    window_s: float | None = None


class HysteresisSettings(_Section):
    margin: float | None = None
    patience: int | None = None
    patience_s: float | None = None


class UncertainSettings(_Section):
    threshold: float | None = None
    min_vote_share: float | None = None


class SmootherSettings(_Section):
    """A ``smoother:`` section: stage names in order, each stage's keywords under its name."""

    stages: list[Literal["raw", "ema", "vote", "hysteresis", "uncertain"]] = []
    ema: EmaSettings | None = None
    vote: VoteSettings | None = None
    hysteresis: HysteresisSettings | None = None
    uncertain: UncertainSettings | None = None


class OverlaySettings(_Section):
    top_k: int
    keep_screen: bool


class LiveSettings(_Section):
    threads: int
    spin: bool
    preprocess_in_reader: bool
    switch_interval_ms: float | None
    sink_nice: int
    workers: int | None
    queue_size: int
    sink_queue_size: int
    show_port: int
    read_timeout: float
    connect_timeout: float


class BenchSettings(_Section):
    smoothing_settings: dict[str, SmootherSettings]
    settle_s: float
    stable_hold_s: float


class StreamSettings(_Section):
    reader: ReaderSettings
    preprocess: dict[str, Any]
    backend: BackendSettings
    smoother: SmootherSettings
    overlay: OverlaySettings
    live: LiveSettings
    bench: BenchSettings


def default_model_path() -> Path:
    """The shipped model file (``models/zoo/realecho_v4.onnx``); it may not exist yet."""
    return Path(str(resources.files("echostream.models") / "zoo" / DEFAULT_MODEL_FILE))


def missing_model_message(path: Path) -> str:
    """One line saying which model file is missing and how to get one."""
    if path == default_model_path():
        return (
            f"the default model {path} is missing: restore it from the repository, train its "
            "recipe (scripts/make_default_model.sh, then pass the file it writes with --model) "
            "or pass --model FILE.onnx"
        )
    return f"{path}: no such model file"


def load_stream_config(path: str | Path | None = None) -> dict[str, Any]:
    """The stream settings: ``path`` (when given) merged over ``stream/stream.yaml``, checked
    against :class:`StreamSettings` (values coerced to their types). Raises ValueError naming
    the file, and the key when one is wrong."""
    data = read_yaml_mapping(DEFAULTS_FILE, "stream settings")
    where = str(DEFAULTS_FILE)
    if path is not None:
        data = deep_merge(data, read_yaml_mapping(path, "stream config"))
        where = str(path)
    return validated(StreamSettings, data, where).model_dump(exclude_unset=True)
