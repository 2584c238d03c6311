"""TensorRT backend: the engine cache (pure python) everywhere; engine builds where installed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from echostream.stream.backends import tensorrt as trt_backend
from echostream.stream.backends.engine_cache import (
    ENV_CACHE_DIR,
    EngineCache,
    EngineKey,
    default_cache_dir,
)

TRT_OK, TRT_REASON = trt_backend.is_available()


def key(**changes) -> EngineKey:
    base = EngineKey(
        trt_version="10.9.0",
        gpu_name="NVIDIA H100 80GB HBM3",
        compute_capability="9.0",
        precision="fp16",
        min_shape=(1, 1, 60, 80),
        max_shape=(32, 1, 60, 80),
        onnx_sha256="ab" * 32,
        opt_shape=(8, 1, 60, 80),
    )
    return dataclasses.replace(base, **changes)


def test_key_digest_depends_on_every_field() -> None:
    assert key().digest() == key().digest()
    variants = [
        key(trt_version="11.0.0"),
        key(gpu_name="NVIDIA H200"),
        key(compute_capability="8.9"),
        key(precision="int8"),
        key(max_shape=(64, 1, 60, 80)),
        key(min_shape=(2, 1, 60, 80)),
        key(opt_shape=(16, 1, 60, 80)),
        key(onnx_sha256="cd" * 32),
    ]
    digests = {v.digest() for v in variants}
    assert len(digests) == len(variants) and key().digest() not in digests
    assert EngineKey.from_dict(json.loads(json.dumps(key().to_dict()))) == key()
    stem = key(gpu_name="NVIDIA H100 80GB/HBM3").stem()
    assert "/" not in stem and " " not in stem and stem.startswith("trt10.9.0-sm90-fp16-b32-")


def test_store_load_roundtrip(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.load(key()) is None
    path = cache.store(key(), b"engine-bytes")
    assert path.parent == tmp_path and cache.load(key()) == b"engine-bytes"
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".engine", ".json"]  # no temp files
    side = json.loads(cache.sidecar_path(key()).read_text())
    assert side["key"] == key().to_dict() and side["engine_bytes"] == 12
    assert cache.load(key(precision="int8")) is None  # another key, another file
    assert [e["digest"] for e in cache.entries()] == [key().digest()]


def test_tampered_or_mismatched_entries_are_rejected(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store(key(), b"engine-bytes")
    cache.engine_path(key()).write_bytes(b"engine-bytez")  # altered engine
    assert cache.load(key()) is None
    cache.store(key(), b"engine-bytes")
    side = cache.sidecar_path(key())
    meta = json.loads(side.read_text())
    meta["key"]["trt_version"] = "9.0"  # sidecar for another key under this name
    side.write_text(json.dumps(meta))
    assert cache.load(key()) is None
    side.write_text("{not json")
    assert cache.load(key()) is None
    side.unlink()
    assert cache.load(key()) is None


def test_cache_dir_default_and_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_CACHE_DIR, raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "echostream" / "engines"
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path))
    assert default_cache_dir() == tmp_path / "engines"
    name = EngineCache().timing_cache_path("10.9", "NVIDIA H100 80GB", "9.0").name
    assert name == "timing-trt10.9-NVIDIA_H100_80GB-sm9.0.cache"


def test_availability_reason() -> None:
    assert isinstance(TRT_OK, bool) and TRT_REASON
    if not TRT_OK:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            assert "pip install 'echostream[gpu]'" in TRT_REASON
        with pytest.raises(RuntimeError):
            trt_backend.TensorRTBackend().load("model.onnx")


def test_engine_build_cli_without_tensorrt(tmp_path: Path) -> None:
    if TRT_OK:
        pytest.skip("tensorrt is installed here")
    from typer.testing import CliRunner

    from echostream.stream.cli import app

    res = CliRunner().invoke(app, ["engine", "build", str(tmp_path / "m.onnx")])
    assert res.exit_code == 1 and "tensorrt" in res.output


@pytest.mark.gpu
@pytest.mark.skipif(not TRT_OK, reason=TRT_REASON)
def test_engine_build_cache_and_parity(tmp_path: Path) -> None:
    import torch

    from echostream.models.checkpoint import make_provenance
    from echostream.models.export import convert_fp16, export_model
    from echostream.models.registry import create_model
    from echostream.stream.backends import load_backend

    torch.manual_seed(0)
    model = create_model("baseline").eval()
    export_model(model, tmp_path / "m.onnx", model_name="baseline", provenance=make_provenance())
    convert_fp16(tmp_path / "m.onnx", tmp_path / "m.fp16.onnx")
    x = np.random.default_rng(0).standard_normal((5, 1, 60, 80)).astype(np.float32)
    ref = load_backend(tmp_path / "m.onnx", "onnxruntime").predict(x)
    for name, atol in (("m.onnx", 1e-3), ("m.fp16.onnx", 1e-2)):
        first = trt_backend.TensorRTBackend().load(tmp_path / name, cache_dir=tmp_path / "c")
        assert first.built
        np.testing.assert_allclose(first.predict(x), ref, atol=atol)
        again = trt_backend.TensorRTBackend().load(tmp_path / name, cache_dir=tmp_path / "c")
        assert not again.built and again.engine_path == first.engine_path
        np.testing.assert_allclose(
            again.predict(np.concatenate([x] * 8)), np.concatenate([ref] * 8), atol=atol
        )
