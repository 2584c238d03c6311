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
- on sweep cines with per-frame truth (sidecar ``<cine>.labels.json``): label flicker
  (switches per minute on steady stretches, pooled over the cines) and time to a stable label
  after each view change, for raw argmax and each smoothing setting;
- on one-view cines (``--steady``, e.g. a real echo cine, label unknown): label switches after
  the settle time, raw vs each smoothing setting.

Sidecar format: ``{"labels": ["A4C", ..., null, ...], "fps": 50}`` — one entry per frame,
``null`` where the view is in transition (no single truth).

A ``flicker_reduction`` from some switches to none is infinite; the JSON (strict, see
``sinks.to_json``) writes it as ``null``, next to the smoother's ``switches: 0``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .latency import LatencyHistogram
from .model_file import precision_sibling
from .pipeline import STAGE_NAMES, Engine, percentiles, run_file
from .sinks import NullSink
from .sources import open_source, source_kind
from .temporal import TemporalChain
from .views import VIEWS

VIEW_SET = set(VIEWS)
#: The sweep cine's default acoustic window: poor, the hard case smoothing exists for.
POOR_WINDOW = 0.1
#: --make-sweep default hand drift towards the neighbouring view while holding one (0–0.45)
HAND_WOBBLE = 0.35

TARGETS = {
    "classify_vs_naive": 3.0,
    "pipeline_vs_decode_only": 0.8,
    "live_p99_ms": 1000.0 / 60.0,
    "flicker_reduction": 5.0,
    "time_to_stable_s": 0.5,
}


# -- smoothing metrics (pure functions over label sequences) ------------------------------------


def segments(truth: Sequence[int]) -> list[tuple[int, int, int]]:
    """Runs of equal truth as ``(start, end, label)``; ``-1`` (transition) runs are left out.

    >>> segments([0, 0, -1, 1, 1, 1])
    [(0, 2, 0), (3, 6, 1)]
    """
    out, start = [], 0
    for i in range(1, len(truth) + 1):
        if i == len(truth) or truth[i] != truth[start]:
            if truth[start] >= 0:
                out.append((start, i, int(truth[start])))
            start = i
    return out


def flicker_rate(pred: Sequence[int], truth: Sequence[int], fps: float, settle_s: float) -> dict:
    """Label switches per minute on steady stretches (each truth run minus its first
    ``settle_s`` seconds)."""
    settle = int(round(settle_s * fps))
    switches, steady = 0, 0
    for start, end, _ in segments(truth):
        s = min(end, start + settle)
        steady += end - s
        switches += sum(pred[i] != pred[i - 1] for i in range(s + 1, end))
    minutes = steady / fps / 60.0
    return {
        "switches": int(switches),
        "steady_s": steady / fps,
        "per_minute": switches / minutes if minutes > 0 else None,
    }


def time_to_stable(
    pred: Sequence[int], truth: Sequence[int], fps: float, hold_s: float
) -> dict[str, Any]:
    """Seconds from each view change until the shown label equals the new view and holds for
    ``hold_s`` (or to the end of the run). The first run (no change before it) is skipped."""
    hold = max(1, int(round(hold_s * fps)))
    times: list[float | None] = []
    for start, end, label in segments(truth):
        if start == 0:
            continue
        found = None
        for j in range(start, end):
            stop = min(end, j + hold)
            if all(pred[k] == label for k in range(j, stop)):
                found = (j - start) / fps
                break
        times.append(found)
    return _summarise_times(times)


def _summarise_times(times: list[float | None]) -> dict[str, Any]:
    done = [t for t in times if t is not None]
    return {
        "changes": len(times),
        "never": sum(t is None for t in times),
        "median_s": statistics.median(done) if done else None,
        "max_s": max(done) if done else None,
        "all_s": times,
    }


def flicker_reduction(raw_rate: float | None, rate: float | None) -> float | None:
    """How many times fewer switches per minute than raw argmax: inf when none are left, None
    (undefined) when raw argmax never switches.

    >>> flicker_reduction(10.0, 2.0), flicker_reduction(10.0, 0.0), flicker_reduction(0.0, 0.0)
    (5.0, inf, None)
    """
    if not raw_rate or rate is None:
        return None
    return raw_rate / rate if rate > 0 else float("inf")


#: One sweep cine for the smoothing metrics: per-frame probabilities (N, K), truth, fps.
SweepRun = tuple[np.ndarray, Sequence[int], float]


def smoothing_metrics(
    probs: np.ndarray,
    truth: Sequence[int],
    fps: float,
    settings: Mapping[str, Mapping[str, Any]],
    *,
    settle_s: float = 0.5,
    hold_s: float = 1.0,
) -> dict[str, Any]:
    """Flicker and time-to-stable for raw argmax and each smoother setting over ``probs``
    ``(N, K)`` with per-frame ``truth`` (class index, -1 = transition)."""
    return pooled_smoothing_metrics([(probs, truth, fps)], settings, settle_s=settle_s,
                                    hold_s=hold_s)  # fmt: skip


def pooled_smoothing_metrics(
    runs: Sequence[SweepRun],
    settings: Mapping[str, Mapping[str, Any]],
    *,
    settle_s: float = 0.5,
    hold_s: float = 1.0,
) -> dict[str, Any]:
    """:func:`smoothing_metrics` over several sweep cines at once: switches and steady seconds
    summed into one rate, every view change's time to stable listed together. Each cine gets
    its own chain (reset, ``*_s`` settings at its own frame rate).

    ``time_to_stable.lost`` counts the view changes this setting never settles on although raw
    argmax does: what smoothing costs. A change raw argmax never settles on either is the
    classifier's error (it is in ``never``, not in ``lost``)."""
    out: dict[str, Any] = {}
    raw_rate = None
    raw_times: list[float | None] = []
    for name, cfg in {"raw": {"stages": []}, **settings}.items():
        switches, steady_s, uncertain, frames = 0, 0.0, 0, 0
        times: list[float | None] = []
        agree: list[bool] = []
        chains: list[str] = []
        for probs, truth_seq, fps in runs:
            truth = [int(t) for t in truth_seq]
            chain = TemporalChain.from_config(cfg, fps=fps)
            preds = chain.run(probs)
            idx = [p.index for p in preds]
            flick = flicker_rate(idx, truth, fps, settle_s)
            switches += flick["switches"]
            steady_s += flick["steady_s"]
            times += time_to_stable(idx, truth, fps, hold_s)["all_s"]
            uncertain += sum(p.uncertain for p in preds)
            frames += len(preds)
            agree += [idx[i] == truth[i] for s, e, _ in segments(truth) for i in range(s, e)]
            chains.append(chain.describe())
        minutes = steady_s / 60.0
        entry: dict[str, Any] = {
            "chain": " | ".join(dict.fromkeys(chains)),
            "flicker": {
                "switches": int(switches),
                "steady_s": steady_s,
                "per_minute": switches / minutes if minutes > 0 else None,
            },
            "time_to_stable": _summarise_times(times),
            "uncertain_share": uncertain / frames if frames else None,
            "agreement_on_truth_frames": float(np.mean(agree)) if agree else None,
        }
        if name == "raw":
            raw_times, raw_rate = times, entry["flicker"]["per_minute"]
        entry["time_to_stable"]["lost"] = sum(
            t is None and r is not None for t, r in zip(times, raw_times, strict=True)
        )
        reduction = flicker_reduction(raw_rate, entry["flicker"]["per_minute"])
        if name != "raw" and reduction is not None:
            entry["flicker_reduction"] = reduction
        out[name] = entry
    return out


def read_truth(cine: str | Path, labels: Sequence[str], sidecar: str | Path | None = None) -> tuple:
    """(per-frame truth indices, fps or None) from the sidecar next to ``cine``."""
    path = Path(sidecar) if sidecar else Path(cine).with_suffix(".labels.json")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no per-frame truth for the sweep cine (expected a JSON sidecar "
            '{"labels": [view or null per frame], "fps": ...})'
        )
    data = json.loads(path.read_text())
    raw = data["labels"] if isinstance(data, dict) else data
    lookup = {lab: i for i, lab in enumerate(labels)}
    unknown = sorted({v for v in raw if v is not None and v not in lookup})
    if unknown:
        raise ValueError(f"{path}: labels not known to the model: {', '.join(unknown)}")
    truth = [-1 if v is None else lookup[v] for v in raw]
    return truth, (data.get("fps") if isinstance(data, dict) else None)


# -- timed runs ----------------------------------------------------------------------------------


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
            TemporalChain.from_config(cfg.get("smoother"), fps=src.info.fps),
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
    with the configured live scheduling options (:func:`~echostream.stream.live.live_options`)."""
    from .live import live_options, open_live_source
    from .pipeline_live import run_live

    live_cfg = cfg.get("live", {})
    with open_live_source(path, cfg) as src:
        report = run_live(
            engine,
            src,
            TemporalChain.from_config(cfg.get("smoother"), fps=src.info.fps),
            sinks=[NullSink()],
            pace=pace,
            queue_size=int(live_cfg.get("queue_size", 4)),
            sink_queue_size=int(live_cfg.get("sink_queue_size", 8)),
            overlay_cfg=cfg.get("overlay"),
            **live_options(cfg),
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


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median fps, with all fps values listed."""
    ordered = sorted(runs, key=lambda r: r["fps"])
    best = dict(ordered[len(ordered) // 2])
    best["fps_runs"] = [r["fps"] for r in runs]
    best.pop("_probs", None)
    return best


CPU_NOTE = (
    "pipeline_vs_cpu_bound: pipeline fps over what this machine's cores allow for the measured "
    "CPU time per frame (decode + preprocess + inference); the 0.8-of-decode-only target needs "
    "inference off the decode cores (a GPU, or more cores than decode workers)"
)


def run_bench(
    source: str,
    engine: Engine,
    cfg: dict[str, Any],
    *,
    repeat: int = 3,
    workers: int | None = None,
    naive: bool = True,
    checkpoint: str | None = None,
    live: bool = True,
    sweep: Sequence[str] = (),
    sweep_truth: Sequence[str | None] | None = None,
    progress: Any = None,
    live_engine: Engine | None = None,
    int8: bool = True,
    steady: Sequence[str] = (),
) -> dict[str, Any]:
    """Every measurement above, as one JSON-able dict (see the module docstring).

    ``live_engine``: the engine for the live path (its own thread settings; default
    ``engine``). ``int8``: also time the pipeline with the model's ``.int8.onnx`` sibling.
    ``steady``: one-view cines (e.g. real echo) for label-free flicker (:func:`steady_metrics`).
    ``sweep``: sweep cines with truth sidecars (``sweep_truth`` where not next to each cine);
    the smoothing metrics pool them (:func:`sweep_metrics`).
    """
    say = progress or (lambda msg: None)
    reader = cfg.get("reader", {})
    batch = int(cfg.get("backend", {}).get("batch_size", 8))
    workers = workers or int(reader.get("workers", 2))
    opts = engine.source_options(source, workers=workers, reduced=reader.get("reduced_scale", True))
    with open_source(source, **opts) as src:
        info = src.info.to_dict()
    engine.warmup(batch)
    engines = {"fp32" if engine.info.precision != "int8" else "int8": engine}
    sib = int8_sibling(engine.path) if int8 else None
    if sib is not None:
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
    head = next(iter(engines))
    dec_runs: list[dict[str, Any]] = []
    pipe_runs: dict[str, list[dict[str, Any]]] = {k: [] for k in engines}
    costs: dict[str, list[dict[str, float]]] = {k: [] for k in engines}
    for i in range(repeat):  # alternating, so load drifts hit every configuration alike
        say(f"decode-only / pipeline run {i + 1}/{repeat}")
        dec_runs.append(decode_only(source, opts))
        for name, eng in engines.items():
            pipe_runs[name].append(pipeline_file(eng, source, opts, cfg))
            costs[name].append(cpu_costs(eng, source, opts, batch))
    dec = _median_run(dec_runs)
    pipes = {k: _median_run(v) for k, v in pipe_runs.items()}
    pipe = pipes[head]
    cores = usable_cores()
    dec_cpu = statistics.median(r["cpu_ms_per_frame"] for r in dec_runs)
    ceilings = {
        name: cpu_ceiling(dec_cpu, {k: statistics.median(c[k] for c in cs) for k in cs[0]}, cores)
        for name, cs in costs.items()
    }
    out: dict[str, Any] = {
        "source": info,
        "model": engine.describe(),
        "machine": {
            "cpus": os.cpu_count(),
            "usable_cores": cores,
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },  # fmt: skip
        "reader_options": {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()},
        "preprocess_workers": int(reader.get("preprocess_workers", 1)),
        "batch_size": batch,
        "decode_only": dec,
        "pipeline": pipe,
        "cpu_ceiling": ceilings[head],
    }
    ratios: dict[str, Any] = {"pipeline_vs_decode_only": pipe["fps"] / dec["fps"]}
    bound = ceilings[head]["cpu_bound_fps"]
    ratios["cpu_bound_fps"] = bound
    ratios["pipeline_vs_cpu_bound"] = pipe["fps"] / bound if bound else None
    if "int8" in engines and head != "int8":
        bound8 = ceilings["int8"]["cpu_bound_fps"]
        out["pipeline_int8"] = {
            "model": engines["int8"].describe(),
            **pipes["int8"],
            "cpu_ceiling": ceilings["int8"],
        }
        ratios["int8_pipeline_vs_decode_only"] = pipes["int8"]["fps"] / dec["fps"]
        ratios["int8_cpu_bound_fps"] = bound8
        ratios["int8_pipeline_vs_cpu_bound"] = pipes["int8"]["fps"] / bound8 if bound8 else None
    ratios["note"] = CPU_NOTE
    if naive:
        if source_kind(source) != "dicom":
            out["naive"] = {"skipped": "the naive reference reads DICOM with pydicom"}
        else:
            model, weights = naive_model(engine, checkpoint)
            naive_runs = []
            for i in range(repeat):
                say(f"naive loop run {i + 1}/{repeat}")
                naive_runs.append(naive_loop(engine, source, model))
            out["naive"] = {**_median_run(naive_runs), "weights": weights}
            ratios["classify_vs_naive"] = pipe["fps"] / out["naive"]["fps"]
    if live:
        say(f"live path (played at the cine's frame rate), {repeat} run(s)")
        leng = live_engine or engine
        leng.warmup(1)
        out["live"] = live_runs(leng, source, cfg, repeat)
        p99 = (out["live"].get("frame_to_label_ms_pooled") or {}).get("p99")
        if p99 is not None:
            ratios["live_p99_ms"] = p99
    if sweep:
        say(f"{len(sweep)} sweep cine(s): smoothing metrics")
        out["smoothing"] = sweep_metrics(engine, sweep, cfg, sweep_truth, workers=workers)
        ratios.update(smoothing_ratios(out["smoothing"]["settings"]))
    if steady:
        out["steady"] = []
        for cine in steady:
            say(f"one-view cine {cine}: label flicker")
            out["steady"].append(steady_metrics(engine, cine, cfg, workers=workers))
    out["ratios"] = ratios
    out["targets"] = _targets(ratios)
    return out


def _settles_in_time(s: Mapping[str, Any]) -> bool:
    tts = s["time_to_stable"]
    limit = TARGETS["time_to_stable_s"]
    return tts["lost"] == 0 and tts["max_s"] is not None and tts["max_s"] <= limit


def smoothing_ratios(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The smoothing targets judged on the configured smoother (what ships): its flicker
    reduction, and its slowest time to stable over the view changes it settles on, given that
    it loses none raw argmax settles on (``time_to_stable_lost``). View changes it never
    settles on are counted apart (``time_to_stable_never``: with ``lost`` 0, raw argmax never
    settles on them either — the classifier's errors); ``raw_never_settles`` for raw argmax.
    ``smoothing_best_setting``: the compared setting with the largest reduction that settles
    in time (information, not the judged one)."""
    conf = settings.get("configured")
    out: dict[str, Any] = {}
    if conf is not None:
        tts = conf["time_to_stable"]
        if conf.get("flicker_reduction") is not None:  # absent when raw argmax never flickers
            out["flicker_reduction"] = conf["flicker_reduction"]
        out["time_to_stable_s"] = tts["max_s"] if tts["lost"] == 0 else None
        out["time_to_stable_lost"] = tts["lost"]
        out["time_to_stable_never"] = tts["never"]
        out["raw_never_settles"] = settings["raw"]["time_to_stable"]["never"]
        out["view_changes"] = tts["changes"]
    ok = [
        (n, s)
        for n, s in settings.items()
        if n != "raw" and s.get("flicker_reduction") is not None and _settles_in_time(s)
    ]
    if ok:
        out["smoothing_best_setting"] = max(ok, key=lambda kv: kv[1]["flicker_reduction"])[0]
    return out


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


def sweep_metrics(
    engine: Engine,
    sweeps: Sequence[str],
    cfg: dict,
    truth_files: Sequence[str | None] | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Raw per-frame probabilities of each sweep cine, then every smoothing setting over them
    all, pooled (:func:`pooled_smoothing_metrics`); per-cine raw and configured switches."""
    truth_files = list(truth_files or [None] * len(sweeps))
    if len(truth_files) != len(sweeps):
        raise ValueError(f"{len(sweeps)} sweep cines but {len(truth_files)} truth sidecars")
    bench_cfg = cfg.get("bench", {})
    settle_s = float(bench_cfg.get("settle_s", 0.5))
    hold_s = float(bench_cfg.get("stable_hold_s", 1.0))
    settings = dict(bench_cfg.get("smoothing_settings", {}))
    settings["configured"] = cfg.get("smoother", {})
    runs: list[SweepRun] = []
    cines: list[dict[str, Any]] = []
    for sweep, truth_file in zip(sweeps, truth_files, strict=True):
        truth, truth_fps = read_truth(sweep, engine.labels, truth_file)
        opts = engine.source_options(sweep, workers=workers)
        run = pipeline_file(engine, sweep, opts, {**cfg, "smoother": {"stages": []}})
        probs, fps = run["_probs"], float(truth_fps or run["source_fps"])
        if len(truth) != len(probs):
            raise ValueError(f"{sweep}: {len(probs)} frames but {len(truth)} truth labels")
        runs.append((probs, truth, fps))
        own = pooled_smoothing_metrics([runs[-1]], {"configured": settings["configured"]},
                                       settle_s=settle_s, hold_s=hold_s)  # fmt: skip
        cines.append({
            "cine": sweep,
            "frames": len(probs),
            "fps": fps,
            "raw_switches": own["raw"]["flicker"]["switches"],
            "configured_switches": own["configured"]["flicker"]["switches"],
            "steady_s": own["raw"]["flicker"]["steady_s"],
        })  # fmt: skip
    metrics = pooled_smoothing_metrics(runs, settings, settle_s=settle_s, hold_s=hold_s)
    note = "simulated sweep cines; truth from the simulator, not a clinician"
    if len(runs) > 1:
        note += f"; metrics pooled over {len(runs)} cines"
    if not metrics["raw"]["flicker"]["per_minute"]:
        note += "; raw argmax never switches on steady stretches, so no reduction is defined"
    return {
        "cines": cines,
        "frames": sum(c["frames"] for c in cines),
        "note": note,
        "settle_s": settle_s,
        "stable_hold_s": hold_s,
        "settings": metrics,
    }


def steady_metrics(engine: Engine, cine: str, cfg: dict, workers: int = 2) -> dict[str, Any]:
    """Label flicker on a cine of ONE view whose true label is unknown (e.g. a real echo
    cine): the whole cine, minus its first ``settle_s``, is one steady stretch, so every
    label switch there is flicker, whatever the right label is. Raw argmax and each smoothing
    setting; no time-to-stable (there is no view change)."""
    opts = engine.source_options(cine, workers=workers)
    run = pipeline_file(engine, cine, opts, {**cfg, "smoother": {"stages": []}})
    probs, fps = run["_probs"], float(run["source_fps"])
    bench_cfg = cfg.get("bench", {})
    settle = float(bench_cfg.get("settle_s", 0.5))
    truth = [0] * len(probs)
    settings = {"raw": {"stages": []}, **bench_cfg.get("smoothing_settings", {})}
    settings["configured"] = cfg.get("smoother", {})
    out: dict[str, Any] = {}
    for name, scfg in settings.items():
        idx = [p.index for p in TemporalChain.from_config(scfg, fps=fps).run(probs)]
        flick = flicker_rate(idx, truth, fps, settle)
        entry: dict[str, Any] = {"flicker": flick, "labels_shown": sorted(
            {engine.labels[i] for i in idx[min(len(idx), int(round(settle * fps))):]}
        )}  # fmt: skip
        raw_rate = out["raw"]["flicker"]["per_minute"] if out else None
        reduction = flicker_reduction(raw_rate, flick["per_minute"])
        if reduction is not None:
            entry["flicker_reduction"] = reduction
        out[name] = entry
    return {
        "cine": cine,
        "frames": len(probs),
        "fps": fps,
        "settle_s": settle,
        "note": "one-view cine, true label unknown: label switches after settle_s are flicker",
        "settings": out,
    }


def make_sweep(
    out: str | Path,
    *,
    views: Sequence[str] = ("A4C", "A3C", "SAXMID", "PLAX"),
    frames_per_view: int = 600,
    size: tuple[int, int] = (800, 600),
    vendor: str = "epiq7g",
    seed: int = 1,
    quality: float | None = POOR_WINDOW,
    wobble: float = HAND_WOBBLE,
) -> Path:
    """Write a simulated cine that sweeps between views (each view's own probe sweep, one
    after the other, same patient and scanner) as JPEG DICOM, with its ``.labels.json``
    sidecar: the view per frame, ``null`` while the probe moves between views. The simulator
    (``echostream.train``) is imported only here.

    ``quality`` is the acoustic window, 0 (poor) … 1 (excellent), ``None`` for the simulated
    patient's own. The default is a poor window (0.1): the hard case smoothing exists for,
    where raw per-frame labels flicker on steady views. Each view's sweep holds the view for
    25 %, moves, holds its partner view for 30 %, and comes back (see ``sweep_weight``), so
    600 frames at 30-80 fps give 2-5 s of steady stretch per view. Tune smoothing on one
    ``seed`` and report on another. ``wobble`` (0–0.45) lets the hand-held probe drift towards
    the neighbouring view while it holds one (truth unchanged: see ``hand_wobble``), which is
    where per-frame labels waver in practice."""
    try:
        from echostream.train.simulator.cine import CineSpec, render_cine
    except ImportError as err:
        raise RuntimeError(
            "--make-sweep needs the simulator in echostream.train (install the train extra), "
            f"or pass --sweep CINE with its .labels.json sidecar ({err})"
        ) from None
    from .dicom_writer import UltrasoundRegion, write_cine

    frames: list[np.ndarray] = []
    labels: list[str | None] = []
    fps: float | None = None
    region: tuple[int, int, int, int] = (0, 0, size[0], size[1])
    for view in views:
        spec = CineSpec(seed=seed, patient=0, view=view, vendor=vendor, size=size,
                        n_frames=frames_per_view, sweep=True, quality=quality,
                        wobble=wobble)  # fmt: skip
        cine = render_cine(spec)
        fps = fps or cine.fps
        region = cine.region if not frames else region
        frames += cine.frames
        # Transit frames (probe between two views) have no steady truth: left out of flicker.
        moving = cine.moving or [False] * len(cine.labels)
        labels += [
            lab if lab in VIEW_SET and not move else None
            for lab, move in zip(cine.labels, moving, strict=True)
        ]
    out = Path(out)
    write_cine(out, frames, fps=float(fps or 30.0), regions=[UltrasoundRegion(*region)])
    out.with_suffix(".labels.json").write_text(
        json.dumps(
            {
                "labels": labels,
                "fps": fps,
                "views": list(views),
                "simulated": True,
                "seed": seed,
                "quality": quality,
                "wobble": wobble,
                "frames_per_view": frames_per_view,
            }
        )  # fmt: skip
    )
    return out
