"""torch backend: CPU or CUDA; on CUDA fp16 weights and CUDA graphs per batch size.

It runs an echostream checkpoint (``.pt``). Given an ``.onnx`` file it loads the checkpoint the
file records (``echostream.checkpoint``, a path relative to the ONNX file) and checks its hash.

>>> b = TorchBackend().load("ckpt.pt", device="cuda", fp16=True, cuda_graphs=True)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..model_file import ModelFileError, ModelInfo, file_sha256
from .base import Backend


def is_available() -> tuple[bool, str]:
    try:
        import torch
    except ImportError:
        return False, "torch is not installed (pip install echostream[train])"
    try:
        import echostream.models  # noqa: F401
    except ImportError as err:
        return False, f"echostream.models cannot be imported ({err})"
    cuda = f"CUDA {torch.version.cuda}" if torch.cuda.is_available() else "CPU only"
    return True, f"torch {torch.__version__}, {cuda}"


def describe() -> dict[str, Any]:
    ok, reason = is_available()
    if not ok:
        return {"available": False, "reason": reason}
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [
            f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
        ]
    return {"available": True, "reason": reason, "version": torch.__version__, "devices": devices}


def resolve_checkpoint(model_file: str | Path) -> tuple[Path, ModelInfo | None]:
    """The checkpoint behind ``model_file`` (itself if ``.pt``), and the ONNX info if any."""
    path = Path(model_file)
    if path.suffix in (".pt", ".pth"):
        return path, None
    info = ModelInfo.from_onnx(path)
    if (info.unknown or {}).get("score") == "mahalanobis":
        raise ModelFileError(
            path, "its unknown-view gate is in the ONNX graph only: run it with onnxruntime"
        )
    if not info.checkpoint:
        raise ModelFileError(
            path,
            "the torch backend needs the training checkpoint (.pt); this ONNX file records none",
        )
    ckpt = (path.parent / info.checkpoint).resolve()
    if not ckpt.is_file():
        raise ModelFileError(path, f"its checkpoint {info.checkpoint} is not beside it")
    want = info.extra.get("checkpoint_sha256")
    if want and file_sha256(ckpt) != want:
        raise ModelFileError(
            path, f"checkpoint {info.checkpoint} is not the one it was exported from"
        )
    return ckpt, info


class TorchBackend(Backend):
    """A torch model in eval mode; CUDA graphs replay a captured forward per batch size."""

    name = "torch"

    def __init__(self) -> None:
        super().__init__()
        self.model: Any = None
        self.device: Any = None
        self.fp16 = False
        self.cuda_graphs = False
        self._graphs: dict[int, tuple[Any, Any, Any]] = {}  # B → (graph, static in, static out)

    def load(
        self,
        model_file: str | Path,
        *,
        device: str = "auto",
        fp16: bool | None = None,
        cuda_graphs: bool | None = None,
        threads: int = 0,
        **_: Any,
    ) -> TorchBackend:
        """``device``: ``auto`` (CUDA when present), ``cpu``, ``cuda``; ``fp16`` and
        ``cuda_graphs`` default to on for CUDA and are ignored on CPU."""
        import torch

        from echostream.models.checkpoint import load_checkpoint
        from echostream.models.export import model_info_from_cfg

        ckpt_path, onnx_info = resolve_checkpoint(model_file)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        on_cuda = self.device.type == "cuda"
        self.fp16 = bool(on_cuda and (True if fp16 is None else fp16))
        self.cuda_graphs = bool(on_cuda and (True if cuda_graphs is None else cuda_graphs))
        # captured graphs replay into fixed input/output buffers: runs must take turns
        self.thread_safe = not self.cuda_graphs
        if threads and not on_cuda:
            torch.set_num_threads(int(threads))
        try:
            model, ckpt = load_checkpoint(ckpt_path, map_location=self.device)
        except (FileNotFoundError, ValueError) as err:
            raise ModelFileError(ckpt_path, str(err)) from None
        if self.fp16:
            model = model.half()
        self.model = model.eval()
        self.info = onnx_info or model_info_from_cfg(
            model.cfg, model_name=ckpt["model_name"], provenance=ckpt["provenance"]
        )
        self.info = self.info.with_(precision="fp16" if self.fp16 else "fp32", path=str(model_file))
        self.model_file = Path(model_file)
        self._graphs.clear()
        return self

    def _forward(self, x: Any) -> Any:
        # (B, C, H, W) → (B, K) fp32 logits
        return self.model(x.half() if self.fp16 else x).float()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            if self.cuda_graphs:
                return self._run_graph(batch)
            x = torch.from_numpy(batch).to(self.device, non_blocking=True)
            return self._forward(x).cpu().numpy()

    def _run_graph(self, batch: np.ndarray) -> np.ndarray:
        import torch

        b = batch.shape[0]
        if b not in self._graphs:
            self._graphs[b] = self._capture(b)
        graph, static_in, static_out = self._graphs[b]
        static_in.copy_(torch.from_numpy(batch), non_blocking=True)
        graph.replay()
        return static_out.cpu().numpy()

    def _capture(self, b: int) -> tuple[Any, Any, Any]:
        """Capture the forward for batch size ``b`` (after warm-up on a side stream)."""
        import torch

        info = self._require_info()
        static_in = torch.zeros((b, *info.input_size), device=self.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._forward(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._forward(static_in)
        return graph, static_in, static_out

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "device": str(self.device),
            "fp16": self.fp16,
            "cuda_graphs": self.cuda_graphs,
        }

    def close(self) -> None:
        self._graphs.clear()
        self.model = None


BACKEND = TorchBackend
