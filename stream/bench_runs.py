"""Timed runs for ``echostream bench stream``: decode only, the classify pipeline, the CPU
time per stage, a naive torch loop and the live path, each on one cine (see
:mod:`.bench_stream` for what the benchmark reports).

>>> cpu_ceiling(1.0, {"preprocess": 0.25, "inference": 0.75}, 2)["cores"]
2
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .latency import LatencyHistogram
from .model_file import precision_sibling
from .pipeline import STAGE_NAMES, Engine, percentiles, run_file
from .sinks import NullSink
from .sources import open_source
from .temporal import chain_for


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def decode_only(path: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Frames/s of the reader alone (the pipeline's options), and its process CPU time per
    frame (all threads of this process; other processes' load is not counted)."""
    c0, t0 = time.process_time(), time.perf_counter()
    with open_source(path, **opts) as src:
        n = sum(1 for _ in src)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "frames": n,
        "wall_s": wall,
        "fps": n / wall,
        "cpu_ms_per_frame": cpu * 1e3 / n,
        "cores_used": cpu / wall,  # well under usable_cores: starved by other load, or idle
    }


def cpu_costs(engine: Engine, path: str, opts: dict[str, Any], batch_size: int) -> dict:
    """Process CPU milliseconds per frame of preprocessing and of inference alone, on this
    cine's frames decoded (as the pipeline decodes them) into memory first."""
    with open_source(path, **opts) as src:
        frames = list(src)
    c0 = time.process_time()
    xs = [engine.preprocessor(f) for f in frames]
    c1 = time.process_time()
    for i in range(0, len(xs), batch_size):
        engine.backend.predict(np.stack(xs[i : i + batch_size]))
    c2 = time.process_time()
    n = max(1, len(frames))
    return {"preprocess": (c1 - c0) * 1e3 / n, "inference": (c2 - c1) * 1e3 / n}


def cpu_ceiling(decode_ms: float, costs: Mapping[str, float], cores: int) -> dict[str, Any]:
    """The frames/s the CPU work allows when every core is busy: per frame the pipeline must
    spend decode + preprocess + inference CPU time, on ``cores`` cores.

    >>> cpu_ceiling(1.0, {"preprocess": 0.25, "inference": 0.75}, 2)["cpu_bound_fps"]
    1000.0
    """
    per_frame = decode_ms + sum(costs.values())
    return {
        "cores": cores,
        "cpu_ms_per_frame": {"decode": decode_ms, **costs, "total": per_frame},
        "cpu_bound_fps": cores / (per_frame / 1000.0) if per_frame > 0 else None,
    }


def int8_sibling(model: str | Path) -> Path | None:
    """``X.int8.onnx`` next to ``X.onnx`` where it exists (None for an int8 file itself).

    >>> int8_sibling("/nonexistent/m.onnx") is None
    True
    """
    path = Path(model)
    if path.suffix != ".onnx":
        return None
    sib = precision_sibling(path, "int8")
    return sib if sib != path and sib.is_file() else None


def pipeline_file(engine: Engine, path: str, opts: dict, cfg: dict) -> dict[str, Any]:
    """The classify path over the whole file: fps, time to first label, stage latencies,
    process CPU time per frame."""
    backend = cfg.get("backend", {})
    stages: dict[str, list[float]] = {s: [] for s in STAGE_NAMES[:4]}
    first = None
    probs = []
    c0, t0 = time.process_time(), time.perf_counter()
    with open_source(path, **opts) as src:
        for r in run_file(
            engine,
            src,
            chain_for(engine, cfg.get("smoother"), fps=src.info.fps),
            batch_size=int(backend.get("batch_size", 8)),
            queue_size=int(cfg.get("reader", {}).get("queue_size", 64)),
            preprocess_workers=int(cfg.get("reader", {}).get("preprocess_workers", 1)),
        ):
            if first is None:
                first = time.perf_counter() - t0
            for k, v in r.times.items():
                stages[k].append(v)
            probs.append(r.probs)
        source_fps = src.info.fps
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(probs)
    return {
        "source_fps": source_fps,
        "frames": n,
        "wall_s": wall,
        "fps": n / wall,
        "cpu_ms_per_frame": cpu * 1e3 / max(1, n),
        "cores_used": cpu / wall,
        "time_to_first_label_s": first,
        "dropped": 0,
        "stages_ms": {k: percentiles(v) for k, v in stages.items()},
        "_probs": np.stack(probs) if probs else np.empty((0, len(engine.labels))),
    }


def naive_model(engine: Engine, checkpoint: str | None = None) -> tuple[Any, str]:
    """The torch model for the naive loop: the checkpoint named by the model file (or given),
    else the same architecture with random weights (timing is the same; labels are not)."""
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is None and engine.info.checkpoint:
        ckpt = (engine.path.parent / engine.info.checkpoint).resolve()
    if ckpt is not None and ckpt.is_file():
        from echostream.models.checkpoint import load_checkpoint

        model, _ = load_checkpoint(ckpt)
        return model.eval(), f"checkpoint {ckpt}"
    from echostream.models.registry import create_model

    members = engine.info.extra.get("members")
    if members:  # an ensemble file (models/ensemble.py): its members' architectures
        from echostream.models.ensemble import torch_ensemble

        nets = [create_model(m["model_name"], **(m.get("model_kwargs") or {})) for m in members]
        return torch_ensemble(nets).eval(), "random (an ensemble's members): timing only"
    kwargs = dict(engine.info.extra.get("model_kwargs") or {})
    model = create_model(engine.info.model_name, **kwargs).eval()
    return model, "random (no checkpoint beside the model file): timing only"


def naive_loop(engine: Engine, path: str, model: Any) -> dict[str, Any]:
    """Full-resolution pydicom decode → crop → gray → resize → torch eager, batch 1."""
    import torch
    from PIL import Image
    from pydicom import dcmread
    from pydicom.pixels import iter_pixels

    info = engine.info
    region = None
    with open_source(path) as src:  # the region, as the pipeline uses it
        region = src.info.region
    c, h, w = info.input_size
    mean = torch.tensor(info.mean).view(1, c, 1, 1)
    std = torch.tensor(info.std).view(1, c, 1, 1)
    n = 0
    t0 = time.perf_counter()
    ds = dcmread(path, stop_before_pixels=True)
    del ds  # the header read is part of the naive cost
    with torch.inference_mode():
        for arr in iter_pixels(path):  # (H, W, 3) RGB, full resolution
            if region is not None:
                arr = region.crop(arr)
            img = Image.fromarray(arr).convert("L" if c == 1 else "RGB").resize((w, h))
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
            x = x.view(1, 1, h, w) if c == 1 else x.permute(2, 0, 1)[None]
            model((x - mean) / std).softmax(dim=1)
            n += 1
    wall = time.perf_counter() - t0
    return {"frames": n, "wall_s": wall, "fps": n / wall}


def live_run(engine: Engine, path: str, cfg: dict, pace: bool = True) -> dict[str, Any]:
    """The live path on ``path`` played at its own frame rate, overlay drawn (not written),
    with the configured live settings (:meth:`~.pipeline_live.LiveSettings.from_config`)."""
    from .live import open_live_source
    from .pipeline_live import LiveSettings, run_live

    with open_live_source(path, cfg) as src:
        report = run_live(
            engine,
            src,
            chain_for(engine, cfg.get("smoother"), fps=src.info.fps),
            LiveSettings.from_config(cfg, pace=pace),
            sinks=[NullSink()],
        )
    out = {"paced_at_fps": src.info.fps if pace else None, **report.summary()}
    out["_latency"] = report.latency_ms
    return out


def live_runs(engine: Engine, path: str, cfg: dict, repeat: int) -> dict[str, Any]:
    """``repeat`` live runs: the run with the median p99, every run's p99, and the
    frame-to-label percentiles over all runs' frames pooled (a steadier p99)."""
    runs = [live_run(engine, path, cfg) for _ in range(max(1, repeat))]
    pooled = LatencyHistogram()
    for r in runs:
        pooled.merge(r.pop("_latency"))

    def p99(r: dict[str, Any]) -> float:
        return float((r.get("frame_to_label_ms") or {}).get("p99") or float("inf"))

    best = dict(sorted(runs, key=p99)[len(runs) // 2])
    best["p99_runs"] = [p99(r) for r in runs]
    best["frame_to_label_ms_pooled"] = pooled.summary()
    best["settings"] = {
        "threads": getattr(engine.backend, "threads", None),
        "spin": getattr(engine.backend, "spin", None),
        **{k: v for k, v in cfg.get("live", {}).items() if k not in ("show_port", "read_timeout")},
    }
    return best


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median fps, with all fps values listed."""
    ordered = sorted(runs, key=lambda r: r["fps"])
    best = dict(ordered[len(ordered) // 2])
    best["fps_runs"] = [r["fps"] for r in runs]
    best.pop("_probs", None)
    return best
