"""``echostream bench stream``: where the time goes, against a naive loop, in one run.

Measured on one cine, in the same process, alternating runs (median of ``repeat``):

- decode only: the pipeline's reader options (luminance fast path, reduced scale, workers);
- the file pipeline (classify): end-to-end frames/s, time to first label, per-stage latency;
  also with the model's ``X.int8.onnx`` sibling where one sits next to ``X.onnx``;
- the CPU ceiling: process CPU time per frame of decode, preprocess and inference alone, and
  the frames/s the usable cores allow for their sum (``cpu_bound_fps``,
  ``pipeline_vs_cpu_bound``): on a CPU-only box inference shares the decode cores, so the
  pipeline cannot reach decode-only speed;
- a naive loop: full-resolution pydicom decode → Pillow resize → torch eager, batch 1;
- the live path: the file played at its own frame rate, batch 1, overlay drawn:
  frame-to-label p50/p95/p99, per-stage latency (overlay included), dropped frames;
- on sweep cines with per-frame truth (sidecar ``<cine>.labels.json``, written by
  ``echostream simulate-sweep``): label flicker (switches per minute on steady stretches,
  pooled over the cines) and time to a stable label after each view change, for raw argmax
  and each smoothing setting (:mod:`.bench_smoothing`);
- on one-view cines (``--steady``, e.g. a real echo cine, label unknown): label switches after
  the settle time, raw vs each smoothing setting.

The timed runs live in :mod:`.bench_runs`, the smoothing metrics in :mod:`.bench_smoothing`.
A ``flicker_reduction`` from some switches to none is infinite; the JSON (strict, see
``sinks.to_json``) writes it as ``null``, next to the smoother's ``switches: 0``.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .bench_runs import (
    cpu_ceiling,
    cpu_costs,
    decode_only,
    int8_sibling,
    live_runs,
    median_run,
    naive_loop,
    naive_model,
    pipeline_file,
    usable_cores,
)
from .bench_smoothing import (
    TIME_TO_STABLE_TARGET_S,
    smoothing_ratios,
    steady_metrics,
    sweep_metrics,
)
from .pipeline import Engine
from .sources import open_source, source_kind

TARGETS = {
    "classify_vs_naive": 3.0,
    "pipeline_vs_decode_only": 0.8,
    "live_p99_ms": 1000.0 / 60.0,
    "flicker_reduction": 5.0,
    "time_to_stable_s": TIME_TO_STABLE_TARGET_S,
}

CPU_NOTE = (
    "pipeline_vs_cpu_bound: pipeline fps over what this machine's cores allow for the measured "
    "CPU time per frame (decode + preprocess + inference); the 0.8-of-decode-only target needs "
    "inference off the decode cores (a GPU, or more cores than decode workers)"
)


@dataclass(frozen=True)
class BenchOptions:
    """What ``run_bench`` measures besides the file pipeline.

    ``int8``: also time the model's ``.int8.onnx`` sibling. ``sweep``: sweep cines with truth
    sidecars (``sweep_truth`` where not next to each cine), pooled (:func:`sweep_metrics`).
    ``steady``: one-view cines (e.g. real echo) for label-free flicker (:func:`steady_metrics`).
    """

    repeat: int = 3
    workers: int | None = None
    naive: bool = True
    checkpoint: str | None = None
    live: bool = True
    int8: bool = True
    sweep: Sequence[str] = ()
    sweep_truth: Sequence[str | None] | None = None
    steady: Sequence[str] = ()


Say = Callable[[str], None]


def run_bench(
    source: str,
    engine: Engine,
    cfg: dict[str, Any],
    options: BenchOptions | None = None,
    *,
    live_engine: Engine | None = None,
    progress: Say | None = None,
    **option_values: Any,
) -> dict[str, Any]:
    """Every measurement above, as one JSON-able dict (see the module docstring).

    ``options`` (or its fields as keywords: ``repeat=1, naive=False``) says what to measure;
    ``live_engine``: the engine for the live path (its own thread settings; default ``engine``).
    """
    opt = options or BenchOptions(**option_values)
    say = progress or (lambda msg: None)
    reader = cfg.get("reader", {})
    batch = int(cfg.get("backend", {}).get("batch_size", 8))
    workers = opt.workers or int(reader.get("workers", 2))
    src_opts = engine.source_options(source, workers=workers,
                                     reduced=reader.get("reduced_scale", True))  # fmt: skip
    with open_source(source, **src_opts) as src:
        info = src.info.to_dict()
    engines = _engines(engine, batch, opt.int8, say)
    out: dict[str, Any] = {
        "source": info,
        "model": engine.describe(),
        "machine": _machine(),
        "reader_options": {k: list(v) if isinstance(v, tuple) else v for k, v in src_opts.items()},
        "preprocess_workers": int(reader.get("preprocess_workers", 1)),
        "batch_size": batch,
    }
    runs, ratios = _file_runs(source, engines, src_opts, cfg, opt.repeat, say)
    out.update(runs)
    if opt.naive:
        _naive_reference(source, engine, opt, out, ratios, say)
    if opt.live:
        say(f"live path (played at the cine's frame rate), {opt.repeat} run(s)")
        leng = live_engine or engine
        leng.warmup(1)
        out["live"] = live_runs(leng, source, cfg, opt.repeat)
        p99 = (out["live"].get("frame_to_label_ms_pooled") or {}).get("p99")
        if p99 is not None:
            ratios["live_p99_ms"] = p99
    if opt.sweep:
        say(f"{len(opt.sweep)} sweep cine(s): smoothing metrics")
        out["smoothing"] = sweep_metrics(engine, opt.sweep, cfg, opt.sweep_truth, workers=workers)
        ratios.update(smoothing_ratios(out["smoothing"]["settings"]))
    if opt.steady:
        out["steady"] = []
        for cine in opt.steady:
            say(f"one-view cine {cine}: label flicker")
            out["steady"].append(steady_metrics(engine, cine, cfg, workers=workers))
    out["ratios"] = ratios
    out["targets"] = _targets(ratios)
    return out


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "usable_cores": usable_cores(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def _engines(engine: Engine, batch: int, int8: bool, say: Say) -> dict[str, Engine]:
    """The engine as given, keyed by its precision, plus its int8 sibling where one loads."""
    engine.warmup(batch)
    engines = {"fp32" if engine.info.precision != "int8" else "int8": engine}
    sib = int8_sibling(engine.path) if int8 else None
    if sib is None:
        return engines
    try:
        engines["int8"] = Engine.load(
            sib,
            getattr(engine.backend, "name", "auto"),
            threads=int(getattr(engine.backend, "threads", 0) or 0),
            spin=getattr(engine.backend, "spin", None),
        )
        engines["int8"].warmup(batch)
    except (RuntimeError, ValueError, OSError) as err:  # reported, not fatal
        engines.pop("int8", None)
        say(f"int8 sibling {sib} not measured: {err}")
    return engines


def _file_runs(
    source: str,
    engines: dict[str, Engine],
    src_opts: dict[str, Any],
    cfg: dict[str, Any],
    repeat: int,
    say: Say,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode only, the pipeline and its CPU costs per engine, alternating ``repeat`` times
    (so load drifts hit every configuration alike): their medians and the ratios between."""
    batch = int(cfg.get("backend", {}).get("batch_size", 8))
    dec_runs: list[dict[str, Any]] = []
    pipe_runs: dict[str, list[dict[str, Any]]] = {k: [] for k in engines}
    costs: dict[str, list[dict[str, float]]] = {k: [] for k in engines}
    for i in range(repeat):
        say(f"decode-only / pipeline run {i + 1}/{repeat}")
        dec_runs.append(decode_only(source, src_opts))
        for name, eng in engines.items():
            pipe_runs[name].append(pipeline_file(eng, source, src_opts, cfg))
            costs[name].append(cpu_costs(eng, source, src_opts, batch))
    dec = median_run(dec_runs)
    pipes = {k: median_run(v) for k, v in pipe_runs.items()}
    dec_cpu = statistics.median(r["cpu_ms_per_frame"] for r in dec_runs)
    ceilings = {
        name: cpu_ceiling(
            dec_cpu, {k: statistics.median(c[k] for c in cs) for k in cs[0]}, usable_cores()
        )  # fmt: skip
        for name, cs in costs.items()
    }
    head = next(iter(engines))
    pipe = pipes[head]
    out: dict[str, Any] = {"decode_only": dec, "pipeline": pipe, "cpu_ceiling": ceilings[head]}
    bound = ceilings[head]["cpu_bound_fps"]
    ratios: dict[str, Any] = {
        "pipeline_vs_decode_only": pipe["fps"] / dec["fps"],
        "cpu_bound_fps": bound,
        "pipeline_vs_cpu_bound": pipe["fps"] / bound if bound else None,
    }
    if "int8" in engines and head != "int8":
        bound8 = ceilings["int8"]["cpu_bound_fps"]
        out["pipeline_int8"] = {"model": engines["int8"].describe(), **pipes["int8"],
                                "cpu_ceiling": ceilings["int8"]}  # fmt: skip
        ratios["int8_pipeline_vs_decode_only"] = pipes["int8"]["fps"] / dec["fps"]
        ratios["int8_cpu_bound_fps"] = bound8
        ratios["int8_pipeline_vs_cpu_bound"] = pipes["int8"]["fps"] / bound8 if bound8 else None
    ratios["note"] = CPU_NOTE
    return out, ratios


def _naive_reference(
    source: str,
    engine: Engine,
    opt: BenchOptions,
    out: dict[str, Any],
    ratios: dict[str, Any],
    say: Say,
) -> None:
    """The naive torch loop (DICOM only) into ``out["naive"]``, and classify's speed-up."""
    if source_kind(source) != "dicom":
        out["naive"] = {"skipped": "the naive reference reads DICOM with pydicom"}
        return
    model, weights = naive_model(engine, opt.checkpoint)
    naive_runs = []
    for i in range(opt.repeat):
        say(f"naive loop run {i + 1}/{opt.repeat}")
        naive_runs.append(naive_loop(engine, source, model))
    out["naive"] = {**median_run(naive_runs), "weights": weights}
    ratios["classify_vs_naive"] = out["pipeline"]["fps"] / out["naive"]["fps"]


def _targets(ratios: dict[str, Any]) -> dict[str, Any]:
    checks = {
        "classify_vs_naive": lambda v: v >= TARGETS["classify_vs_naive"],
        "pipeline_vs_decode_only": lambda v: v >= TARGETS["pipeline_vs_decode_only"],
        "live_p99_ms": lambda v: v < TARGETS["live_p99_ms"],
        "flicker_reduction": lambda v: v >= TARGETS["flicker_reduction"],
        "time_to_stable_s": lambda v: v is not None and v <= TARGETS["time_to_stable_s"],
    }
    return {
        k: {"value": ratios[k], "target": TARGETS[k], "met": bool(check(ratios[k]))}
        for k, check in checks.items()
        if k in ratios
    }
