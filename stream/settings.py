"""Typed settings from YAML: one merge rule, one validator, one error format.

Both the stream settings (:mod:`.defaults`, ``stream/stream.yaml``) and the training configs
(``train/config.py``, ``configs/*.yaml``) are YAML mappings merged over their defaults with
:func:`deep_merge` and checked by pydantic models: a misspelt key or a value of the wrong type
ends with one line naming the file and the key (:func:`validated`).

>>> deep_merge({"vote": {"window_s": 0.7}, "ema": {"alpha": 0.5}}, {"vote": {"window": 20}})
{'vote': {'window': 20}, 'ema': {'alpha': 0.5}}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

T = TypeVar("T")

#: Settings models refuse keys they do not know (a typo is an error, not a silent default).
STRICT_KEYS = ConfigDict(extra="forbid")


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any] | None) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: mappings merge key by key, anything else
    (lists included) replaces. A count given in frames replaces the default's seconds form and
    vice versa (``window`` drops ``window_s``; ``patience_s`` drops ``patience``)."""
    out = copy.deepcopy(dict(base))
    for key, value in (over or {}).items():
        out.pop(key[:-2] if key.endswith("_s") else f"{key}_s", None)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The YAML mapping in ``path``; ValueError naming the file when it cannot be read or is
    not a mapping (an empty file is ``{}``)."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{file}: cannot read {what} ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file}: {what} must be a YAML mapping")
    return data


def error_line(err: ValidationError, where: str) -> str:
    """One line naming each bad key (dotted path) and what is wrong with it.

    >>> from pydantic import BaseModel
    >>> class Optim(BaseModel):
    ...     lr: float
    >>> try:
    ...     Optim.model_validate({"lr": "fast"})
    ... except ValidationError as err:
    ...     print(error_line(err, "run.yaml"))
    run.yaml: lr: Input should be a valid number, unable to parse string as a number
    """
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        unknown = e["type"] in ("extra_forbidden", "unexpected_keyword_argument")
        what = "unknown key" if unknown else e["msg"]
        parts.append(f"{key}: {what}")
    return f"{where}: " + "; ".join(parts)


def validated(kind: type[T], data: Any, where: str) -> T:
    """``data`` as ``kind`` (a pydantic model or dataclass), values coerced where YAML spells
    them loosely (``1e-3`` read as a string becomes 0.001); ValueError from
    :func:`error_line` otherwise."""
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as err:
        raise ValueError(error_line(err, where)) from None
