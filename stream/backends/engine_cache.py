"""A cache of serialized TensorRT engines, keyed by everything an engine depends on.

An engine is only valid for one TensorRT version, one GPU (name and compute capability), one
precision, one input shape profile and one ONNX file. Each entry is ``<digest>.engine`` plus a
sidecar ``<digest>.json`` holding the key and the sha256 of the engine bytes; both are written
atomically (temp file + ``os.replace``). A load whose sidecar disagrees returns None, so the
caller rebuilds.

Pure python (no tensorrt import), so it is tested everywhere.

>>> key = EngineKey("10.9.0", "NVIDIA H100", "9.0", "fp16", (1, 1, 60, 80), (32, 1, 60, 80),
...                 "ab" * 32, opt_shape=(8, 1, 60, 80))
>>> len(key.digest())
64
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "ECHOSTREAM_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$ECHOSTREAM_CACHE_DIR/engines``, else ``~/.cache/echostream/engines``."""
    root = os.environ.get(ENV_CACHE_DIR)
    base = Path(root) if root else Path.home() / ".cache" / "echostream"
    return base / "engines"


@dataclass(frozen=True)
class EngineKey:
    """What an engine was built for; any difference means a different engine."""

    trt_version: str
    gpu_name: str
    compute_capability: str  # "9.0"
    precision: str  # fp32 | fp16 | int8
    min_shape: tuple[int, ...]
    max_shape: tuple[int, ...]
    onnx_sha256: str  # of the ONNX file's bytes
    opt_shape: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineKey:
        d = dict(d)
        for k in ("min_shape", "max_shape", "opt_shape"):
            d[k] = tuple(d.get(k, ()))
        return cls(**d)

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def stem(self) -> str:
        """A readable, unique file stem: ``trt10.9.0-sm90-fp16-b32-<digest16>``."""
        cc = self.compute_capability.replace(".", "")
        stem = f"trt{self.trt_version}-sm{cc}-{self.precision}-b{self.max_shape[0]}"
        return re.sub(r"[^A-Za-z0-9._-]", "_", stem) + f"-{self.digest()[:16]}"


class EngineCache:
    """Engines on disk under ``root`` (default :func:`default_cache_dir`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    def engine_path(self, key: EngineKey) -> Path:
        return self.root / f"{key.stem()}.engine"

    def sidecar_path(self, key: EngineKey) -> Path:
        return self.root / f"{key.stem()}.json"

    def timing_cache_path(self, trt_version: str, gpu_name: str, cc: str) -> Path:
        """One timing cache per TensorRT version and GPU, shared by all models."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"timing-trt{trt_version}-{gpu_name}-sm{cc}")
        return self.root / f"{name}.cache"

    def store(self, key: EngineKey, engine: bytes) -> Path:
        """Write the engine, then its sidecar (so a sidecar always names a complete engine)."""
        path = self.engine_path(key)
        atomic_write(path, bytes(engine))
        sidecar = {
            "key": key.to_dict(),
            "digest": key.digest(),
            "engine_sha256": hashlib.sha256(engine).hexdigest(),
            "engine_bytes": len(engine),
        }
        atomic_write(self.sidecar_path(key), json.dumps(sidecar, indent=2).encode())
        return path

    def load(self, key: EngineKey) -> bytes | None:
        """The cached engine bytes, or None when absent or failing verification."""
        path, side = self.engine_path(key), self.sidecar_path(key)
        if not path.is_file() or not side.is_file():
            return None
        problem = self._verify(key, path, side)
        if problem:
            log.warning("engine cache: %s: %s; rebuilding", path.name, problem)
            return None
        return path.read_bytes()

    def _verify(self, key: EngineKey, path: Path, side: Path) -> str | None:
        try:
            meta = json.loads(side.read_text())
            stored = EngineKey.from_dict(meta["key"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            return f"unreadable sidecar ({type(err).__name__})"
        if stored != key:
            return "sidecar key differs from the requested key"
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("engine_sha256"):
            return "engine bytes do not match the sidecar's sha256"
        return None

    def entries(self) -> list[dict[str, Any]]:
        """Sidecars of all cached engines (for listing)."""
        out = []
        for side in sorted(self.root.glob("*.json")):
            try:
                out.append(
                    {"path": str(side.with_suffix(".engine")), **json.loads(side.read_text())}
                )
            except (OSError, ValueError):
                continue
        return out
