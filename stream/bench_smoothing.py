"""Smoothing metrics for ``echostream bench stream``: label flicker on steady stretches and
time to a stable label after each view change, for raw argmax and each smoother setting, on
sweep cines with per-frame truth and on one-view cines (pure functions over label sequences,
plus the two runs that feed them).

Sidecar format: ``{"labels": ["A4C", ..., null, ...], "fps": 50}`` — one entry per frame,
``null`` where the view is in transition (no single truth).

Each setting runs on the model's own chain (:func:`~.temporal.chain_for`: the model file's
unknown-view gate first), so a frame shown ``unknown`` counts as its own label
(:data:`UNKNOWN_CODE`), never as the ``OTHER`` column or the best known view.

>>> flicker_rate([0, 0, 1, 0], [0, 0, 0, 0], fps=1.0, settle_s=0.0)["switches"]
2
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bench_runs import pipeline_file
from .pipeline import Engine
from .temporal import Prediction, chain_for
from .unknown import OTHER, UNKNOWN, UnknownRule, rule_for

#: The time-to-stable target (seconds) a smoothing setting must meet to count as settling.
TIME_TO_STABLE_TARGET_S = 0.5
#: Truth code of a frame in transition between views (no single truth; left out).
TRANSITION = -1
#: Label code of a frame shown ``unknown`` (and of ``OTHER`` truth for a model with that class).
UNKNOWN_CODE = -2


def shown_codes(preds: Sequence[Prediction]) -> list[int]:
    """The label each prediction shows, as a code: its view's index, or :data:`UNKNOWN_CODE`."""
    return [UNKNOWN_CODE if p.unknown else p.index for p in preds]


def segments(truth: Sequence[int]) -> list[tuple[int, int, int]]:
    """Runs of equal truth as ``(start, end, label)``; ``-1`` (transition) runs are left out.

    >>> segments([0, 0, -1, 1, 1, 1, -2, -2])
    [(0, 2, 0), (3, 6, 1), (6, 8, -2)]
    """
    out, start = [], 0
    for i in range(1, len(truth) + 1):
        if i == len(truth) or truth[i] != truth[start]:
            if truth[start] != TRANSITION:
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
    unknown: UnknownRule | None = None,
) -> dict[str, Any]:
    """Flicker and time-to-stable for raw argmax and each smoother setting over ``probs``
    ``(N, K)`` with per-frame ``truth`` (class index, -1 = transition, -2 = unknown)."""
    return pooled_smoothing_metrics([(probs, truth, fps)], settings, settle_s=settle_s,
                                    hold_s=hold_s, unknown=unknown)  # fmt: skip


def pooled_smoothing_metrics(
    runs: Sequence[SweepRun],
    settings: Mapping[str, Mapping[str, Any]],
    *,
    settle_s: float = 0.5,
    hold_s: float = 1.0,
    unknown: UnknownRule | None = None,
) -> dict[str, Any]:
    """:func:`smoothing_metrics` over several sweep cines at once: switches and steady seconds
    summed into one rate, every view change's time to stable listed together. Each cine gets
    its own chain (reset, ``*_s`` settings at its own frame rate).

    ``time_to_stable.lost`` counts the view changes this setting never settles on although raw
    argmax does: what smoothing costs. A change raw argmax never settles on either is the
    classifier's error (it is in ``never``, not in ``lost``). ``unknown``: the model's
    unknown-view rule (:func:`~.unknown.rule_for`; None: none)."""
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
            rule = unknown or UnknownRule(num_classes=np.shape(probs)[1])
            chain = chain_for(rule, cfg, fps=fps)
            preds = chain.run(probs)
            idx = shown_codes(preds)
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
    if OTHER in lookup:  # "none of the views" is shown as unknown, not as the OTHER column
        lookup[OTHER] = UNKNOWN_CODE
    unknown = sorted({v for v in raw if v is not None and v not in lookup})
    if unknown:
        raise ValueError(f"{path}: labels not known to the model: {', '.join(unknown)}")
    truth = [TRANSITION if v is None else lookup[v] for v in raw]
    return truth, (data.get("fps") if isinstance(data, dict) else None)


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
    rule = rule_for(engine)
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
                                       settle_s=settle_s, hold_s=hold_s,
                                       unknown=rule)  # fmt: skip
        cines.append({
            "cine": sweep,
            "frames": len(probs),
            "fps": fps,
            "raw_switches": own["raw"]["flicker"]["switches"],
            "configured_switches": own["configured"]["flicker"]["switches"],
            "steady_s": own["raw"]["flicker"]["steady_s"],
        })  # fmt: skip
    metrics = pooled_smoothing_metrics(
        runs, settings, settle_s=settle_s, hold_s=hold_s, unknown=rule
    )
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
        idx = shown_codes(chain_for(engine, scfg, fps=fps).run(probs))
        flick = flicker_rate(idx, truth, fps, settle)
        entry: dict[str, Any] = {"flicker": flick, "labels_shown": sorted(
            {UNKNOWN if i == UNKNOWN_CODE else engine.labels[i]
             for i in idx[min(len(idx), int(round(settle * fps))):]}
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


def _settles_in_time(s: Mapping[str, Any]) -> bool:
    tts = s["time_to_stable"]
    limit = TIME_TO_STABLE_TARGET_S
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
