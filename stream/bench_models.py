"""``echostream bench models``: ms/frame and frames/s per model × backend × batch.

Each model is built from the registry with random weights, saved as a checkpoint and exported to
a temporary folder (the torch backend runs the checkpoint, ONNX Runtime the ONNX file); the
baseline also gets a static int8 QDQ copy (``onnxruntime-int8``). Timing: warm-up runs excluded,
then ``repeats`` timed rounds of ``calls`` predictions each; the median round gives ms/frame.
Speed does not depend on the weights, so random weights measure the real cost.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

INT8_MODELS = ("baseline",)
#: ``--models`` default: the shipped architecture and the thesis' main pretrained one (71 s
#: on 2 cores); ``all`` adds every registered model (VGG16, Inception v3, …: many minutes).
QUICK_MODELS = ("baseline", "mobilenet_v1")


def select_models(text: str, registered: list[str]) -> list[str]:
    """``quick`` (default) → :data:`QUICK_MODELS`, ``all`` → ``registered``, else a comma list;
    raises ValueError naming unknown models.

    >>> select_models("all", ["a", "b"]), select_models("b, a", ["a", "b"])
    (['a', 'b'], ['b', 'a'])
    """
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names in ([], ["quick"]):
        names = list(QUICK_MODELS)
    elif names == ["all"]:
        names = list(registered)
    unknown = sorted(set(names) - set(registered))
    if unknown:
        raise ValueError(f"unknown models {', '.join(unknown)} (registered: quick, all, "
                         f"{', '.join(registered)})")  # fmt: skip
    return names


@dataclass
class BenchRow:
    model: str
    backend: str
    batch: int
    ms_per_frame: float
    frames_per_s: float
    ms_per_batch: float
    repeats: int
    calls_per_repeat: int
    precision: str
    device: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_backend(
    predict: Callable[[np.ndarray], Any],
    x: np.ndarray,
    *,
    repeats: int = 5,
    min_round_s: float = 0.2,
    warmup: int = 3,
) -> tuple[float, int]:
    """(median seconds per call, calls per round); rounds last about ``min_round_s``."""
    for _ in range(warmup):
        predict(x)
    t0 = time.perf_counter()
    predict(x)
    one = max(time.perf_counter() - t0, 1e-6)
    calls = max(1, int(min_round_s / one))
    rounds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            predict(x)
        rounds.append((time.perf_counter() - t0) / calls)
    return statistics.median(rounds), calls


def prepare_model(name: str, folder: Path) -> dict[str, Path]:
    """Checkpoint + fp32 ONNX (+ int8 for :data:`INT8_MODELS`) of a random-weight ``name``."""
    from echostream.models.checkpoint import make_provenance, save_checkpoint
    from echostream.models.export import export_checkpoint
    from echostream.models.registry import create_model

    model = create_model(name).eval()
    prov = make_provenance(data="random weights (benchmark only)", simulated_data=True)
    ckpt = save_checkpoint(
        folder / f"{name}.pt",
        model,
        model_name=name,
        model_kwargs={},
        cfg=model.cfg,
        provenance=prov,
        config=None,
        epoch=0,
    )
    onnx_path = folder / f"{name}.onnx"
    _, info = export_checkpoint(ckpt, onnx_path)
    files = {"torch": ckpt, "onnxruntime": onnx_path}
    if name in INT8_MODELS:
        from echostream.models.quantize import quantize_int8

        rng = np.random.default_rng(0)
        calib = rng.standard_normal((64, *info.input_size)).astype(np.float32)
        files["onnxruntime-int8"] = folder / f"{name}.int8.onnx"
        quantize_int8(onnx_path, files["onnxruntime-int8"], calib)
    return files


def run_bench(
    models: list[str],
    backends: list[str],
    batches: list[int],
    *,
    repeats: int = 5,
    min_round_s: float = 0.2,
    threads: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Benchmark every model × backend × batch; ``onnxruntime`` implies ``onnxruntime-int8``
    for the baseline."""
    from .backends import load_backend

    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="echostream-bench-") as tmp:
        for i, name in enumerate(models, 1):
            step = f"[{i}/{len(models)}] {name}"
            if progress:
                progress(f"{step}: exporting")
            files = prepare_model(name, Path(tmp))
            for backend_name in backends:
                variants = [backend_name]
                if backend_name == "onnxruntime" and "onnxruntime-int8" in files:
                    variants.append("onnxruntime-int8")
                for variant in variants:
                    real = "onnxruntime" if variant == "onnxruntime-int8" else variant
                    model_file = files["torch" if real == "torch" else variant]
                    backend = load_backend(model_file, real, threads=threads)
                    info = backend._require_info()
                    desc = backend.describe()
                    device = str(desc.get("device") or ",".join(desc.get("providers", [])))
                    for b in batches:
                        x = np.random.default_rng(0).standard_normal((b, *info.input_size))
                        sec, calls = time_backend(
                            backend.predict,
                            x.astype(np.float32),
                            repeats=repeats,
                            min_round_s=min_round_s,
                        )
                        rows.append(
                            BenchRow(
                                model=name,
                                backend=variant,
                                batch=b,
                                ms_per_frame=1000 * sec / b,
                                frames_per_s=b / sec,
                                ms_per_batch=1000 * sec,
                                repeats=repeats,
                                calls_per_repeat=calls,
                                precision=info.precision,
                                device=device,
                            )
                        )
                        if progress:
                            progress(f"{step} {variant} batch {b}: {1000 * sec / b:.3f} ms/frame")
                    backend.close()
    return rows
