"""TensorRT backend: a strongly typed engine built from the ONNX file, cached on disk.

Written against the TensorRT 10/11 Python API (``tensorrt`` is imported only inside functions):

- TensorRT 11 has no weak typing (no ``BuilderFlag.FP16``/``INT8``, no calibrators): precision
  comes from the file — the fp16 copy (``echostream export --fp16``) or the QDQ int8 file
  (``--int8 --int8-for tensorrt``: symmetric activations). The network is created with
  ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (required on 10.x for the same behaviour,
  accepted and ignored on 11.x).
- One optimisation profile for the dynamic batch (min 1, opt, max), a timing cache file per
  TensorRT version and GPU, and an :class:`~.engine_cache.EngineCache` keyed by TensorRT
  version, GPU name, compute capability, precision, input shapes and the ONNX sha256.
- Inference: ``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3`` on a CUDA
  stream, with torch CUDA tensors as buffers.

>>> b = TensorRTBackend().load("model.fp16.onnx", max_batch=32)  # doctest: +SKIP
>>> b.predict(batch)                                             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..model_file import ModelFileError, ModelInfo, file_sha256
from .base import Backend
from .engine_cache import EngineCache, EngineKey

log = logging.getLogger(__name__)

NOT_INSTALLED = (
    "tensorrt is not installed in this Python environment (on a machine with an NVIDIA GPU: "
    "pip install 'echostream[gpu]'); onnxruntime (or torch on CUDA) runs the models instead"
)


def is_available() -> tuple[bool, str]:
    try:
        import tensorrt as trt
    except ImportError:
        return False, NOT_INSTALLED
    try:
        import torch
    except ImportError:
        return False, f"tensorrt {trt.__version__} found, but torch (CUDA buffers) is not installed"
    if not torch.cuda.is_available():
        return False, f"tensorrt {trt.__version__} found, but no CUDA GPU is visible"
    return True, f"tensorrt {trt.__version__} on {torch.cuda.get_device_name(0)}"


def describe() -> dict[str, Any]:
    ok, reason = is_available()
    out: dict[str, Any] = {"available": ok, "reason": reason, "cache_dir": str(EngineCache().root)}
    if ok:
        import tensorrt as trt
        import torch

        out["version"] = trt.__version__
        out["devices"] = [_gpu_identity(i)[0] for i in range(torch.cuda.device_count())]
    return out


def _gpu_identity(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor")."""
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return torch.cuda.get_device_name(device), f"{major}.{minor}"


def _logger() -> Any:
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


def engine_key(
    onnx_path: Path, info: ModelInfo, *, max_batch: int, opt_batch: int, device: int = 0
) -> EngineKey:
    import tensorrt as trt

    gpu, cc = _gpu_identity(device)
    shape = tuple(info.input_size)
    return EngineKey(
        trt_version=trt.__version__,
        gpu_name=gpu,
        compute_capability=cc,
        precision=info.precision,
        min_shape=(1, *shape),
        max_shape=(max_batch, *shape),
        onnx_sha256=file_sha256(onnx_path),
        opt_shape=(opt_batch, *shape),
    )


def build_engine(
    onnx_path: str | Path,
    *,
    max_batch: int = 32,
    opt_batch: int | None = None,
    cache: EngineCache | None = None,
    workspace_bytes: int = 1 << 30,
    device: int = 0,
    force: bool = False,
) -> tuple[bytes, Path, bool]:
    """Serialized engine for ``onnx_path``: (bytes, cache path, built now?)."""
    import tensorrt as trt

    path = Path(onnx_path)
    info = ModelInfo.from_onnx(path)
    cache = cache or EngineCache()
    opt = opt_batch or max(1, min(max_batch, 8))
    key = engine_key(path, info, max_batch=max_batch, opt_batch=opt, device=device)
    if not force and (cached := cache.load(key)) is not None:
        return cached, cache.engine_path(key), False

    logger = _logger()
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:
        flags |= 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelFileError(path, f"TensorRT's ONNX parser failed: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    profile = builder.create_optimization_profile()
    profile.set_shape(info.input_name, key.min_shape, key.opt_shape, key.max_shape)
    config.add_optimization_profile(profile)

    timing_path = cache.timing_cache_path(key.trt_version, key.gpu_name, key.compute_capability)
    timing_bytes = timing_path.read_bytes() if timing_path.is_file() else b""
    timing = config.create_timing_cache(timing_bytes)
    config.set_timing_cache(timing, ignore_mismatch=True)

    log.info(
        "building TensorRT engine for %s (%s, batch ≤ %d)", path.name, info.precision, max_batch
    )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"{path}: TensorRT failed to build an engine (see its log above)")
    engine = bytes(serialized)
    atomic_write(timing_path, bytes(config.get_timing_cache().serialize()))
    return engine, cache.store(key, engine), True


def _torch_dtype(trt_dtype: Any) -> Any:
    import tensorrt as trt
    import torch

    table = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.INT8: torch.int8,
        trt.DataType.INT32: torch.int32,
        trt.DataType.BOOL: torch.bool,
    }
    bf16 = getattr(trt.DataType, "BF16", None)
    if bf16 is not None:
        table[bf16] = torch.bfloat16
    return table[trt_dtype]


class TensorRTBackend(Backend):
    """Deserialize (or build) the engine, run it with ``execute_async_v3``."""

    name = "tensorrt"
    thread_safe = False  # one execution context (and its stream) per engine: runs take turns

    def __init__(self) -> None:
        super().__init__()
        self.engine: Any = None
        self.context: Any = None
        self.stream: Any = None
        self.engine_path: Path | None = None
        self.built = False
        self.max_batch = 0

    def load(
        self,
        model_file: str | Path,
        *,
        max_batch: int = 32,
        opt_batch: int | None = None,
        precision: str | None = None,
        cache_dir: str | Path | None = None,
        device: int = 0,
        **_: Any,
    ) -> TensorRTBackend:
        """``precision`` (optional) must match the file's: fp16 and int8 come from the file."""
        ok, reason = is_available()
        if not ok:
            raise RuntimeError(reason)
        import tensorrt as trt
        import torch

        path = Path(model_file)
        info = ModelInfo.from_onnx(path)
        if precision and precision != info.precision:
            hint = {
                "fp16": "make the fp16 copy with `echostream export --fp16`",
                "int8": "use `echostream export --int8 --int8-for tensorrt --calibration DIR`",
                "fp32": "pass the fp32 export",
            }[precision]
            raise ModelFileError(path, f"file is {info.precision}, not {precision}: {hint}")
        if info.precision == "int8" and info.extra.get("activation_symmetric") is False:
            raise ModelFileError(
                path,
                "int8 file has asymmetric activations (made for onnxruntime); TensorRT needs "
                "`echostream export --int8 --int8-for tensorrt --calibration DIR`",
            )
        torch.cuda.set_device(device)
        cache = EngineCache(cache_dir)
        data, self.engine_path, self.built = build_engine(
            path, max_batch=max_batch, opt_batch=opt_batch, cache=cache, device=device
        )
        runtime = trt.Runtime(_logger())
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None and not self.built:  # verified bytes, yet unusable: rebuild once
            data, self.engine_path, self.built = build_engine(
                path,
                max_batch=max_batch,
                opt_batch=opt_batch,
                cache=cache,
                device=device,
                force=True,
            )
            engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise RuntimeError(f"{path}: TensorRT could not deserialize the engine it built")
        self.engine = engine
        self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.info = info.with_(input_name=inputs[0], output_name=outputs[0])
        self._in_dtype = _torch_dtype(engine.get_tensor_dtype(inputs[0]))
        self._out_dtype = _torch_dtype(engine.get_tensor_dtype(outputs[0]))
        self.device = torch.device("cuda", device)
        self.stream = torch.cuda.Stream(device=self.device)
        self.max_batch = max_batch
        self.model_file = path
        return self

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape[0] > self.max_batch:  # the profile ends at max_batch: run in chunks
            parts = [
                self._run(batch[i : i + self.max_batch])
                for i in range(0, batch.shape[0], self.max_batch)
            ]
            return np.concatenate(parts)
        import torch

        info = self._require_info()
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(batch).to(self.device, non_blocking=True).to(self._in_dtype)
            x = x.contiguous()
            self.context.set_input_shape(info.input_name, tuple(x.shape))
            out_shape = tuple(self.context.get_tensor_shape(info.output_name))
            out = torch.empty(out_shape, dtype=self._out_dtype, device=self.device)
            self.context.set_tensor_address(info.input_name, x.data_ptr())
            self.context.set_tensor_address(info.output_name, out.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError(f"{self.model_file}: TensorRT execution failed")
            result = out.float().cpu()  # copies on self.stream, then syncs with the host
        self.stream.synchronize()
        return result.numpy()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "engine": str(self.engine_path),
            "built_now": self.built,
            "max_batch": self.max_batch,
        }

    def close(self) -> None:
        self.context = None
        self.engine = None


BACKEND = TensorRTBackend
