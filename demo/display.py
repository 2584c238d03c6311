"""What the page shows for a classified cine and a live stream: the status line, the verdict,
the acquisition facts, per-stage timings and the probability timeline.

The cine's verdict and counts are ``echostream classify``'s own result
(:class:`~echostream.stream.classify.CineResult`); per-frame lines and timings come from the
frames as they were labelled (:class:`~echostream.demo.playback.CinePlayback`). Nothing here
shows a patient field or an upload's own file name.

Example::

    result, playback = classify_cine(path, engine, smoother, out_dir=out)
    print(verdict_markdown(result, playback, engine.describe(), "onnxruntime"))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from echostream.stream.classify import CineResult
from echostream.stream.frame import SourceInfo
from echostream.stream.model_file import data_text
from echostream.stream.unknown import UNKNOWN
from echostream.stream.views import VIEW_NAMES

from .playback import CinePlayback

UNCERTAIN_COLOR = "#9e9e9e"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def done_status(shown_name: str, result: CineResult, playback: CinePlayback) -> str:
    """The status line: frames classified and how fast (decode to verdict and playback)."""
    n = len(playback.results)
    secs = result.time_s if n else 0.0
    return f"**Done:** {shown_name}: {_plural(n, 'frame')} classified in " + (
        f"{secs:.2f} s ({n / secs:.0f} frames/s, decode to verdict and playback)"
        if secs > 0
        else "no time"
    )


def verdict_markdown(
    result: CineResult, playback: CinePlayback, model: dict[str, Any], backend: str
) -> str:
    """The verdict block: view, confidence, vote share, runner-up, the model (``model``:
    :meth:`~echostream.stream.pipeline.Engine.describe`) on ``backend`` and its data."""
    simulated = bool(model.get("simulated_data", True))
    model_line = (
        f"Model `{model.get('model', '?')}` {model.get('version', '')} on {backend}; "
        f"training data: {data_text(model.get('data'))}"
        + (" (simulated echo: its labels on real echo are not validated)." if simulated else ".")
    )
    if result.view is None:  # Doppler, M-mode: as `echostream classify`, not classified
        note = f"{result.acquisition} acquisition: not a view of the heart; not classified"
        return f"### Not classified\n{note}\n\n{model_line}"
    if result.view == UNKNOWN:
        return _unknown_markdown(result, model_line)
    lines = [
        f"### Verdict: {result.view} — {VIEW_NAMES.get(result.view, result.view)}",
        f"**confidence {_pct(result.confidence or 0.0)}** (mean probability) · "
        f"**vote share {_pct(result.vote_share or 0.0)}** of {_plural(result.frames, 'frame')}",
    ]
    if len(result.top2) > 1:
        r = result.top2[1]
        lines.append(
            f"runner-up {r['label']}: vote {_pct(r['vote_share'])}, "
            f"mean probability {_pct(r['mean_prob'])}"
        )
    if result.by_mean != result.view:
        lines.append(f"the vote and the mean probability disagree (mean says {result.by_mean})")
    n_unc = sum(1 for s in playback.shown if s == "uncertain")
    if n_unc:
        lines.append(f"{n_unc} of {len(playback.shown)} frames shown as uncertain by the smoother")
    lines.append(model_line)
    return "\n\n".join(lines)


def _unknown_markdown(result: CineResult, model_line: str) -> str:
    """The verdict block of a cine that is none of the model's views: why, and the closest."""
    lines = ["### Verdict: unknown — not one of the model's views"]
    if result.reason:
        lines.append(result.reason)
    if result.top2:
        best = result.top2[0]
        lines.append(
            f"closest view {best['label']}: vote {_pct(best['vote_share'])}, "
            f"mean probability {_pct(best['mean_prob'])}"
        )
    lines.append(model_line)
    return "\n\n".join(lines)


def facts_rows(info: SourceInfo, n_labelled: int, shown_name: str) -> list[list[str]]:
    """Acquisition facts (never a patient field): frames, fps, size, vendor, encoding, region;
    the file as ``shown_name``; ``n_labelled`` frames when the source does not say."""
    region = info.region
    rows = [
        ["file", shown_name],
        ["kind", info.kind],
        ["frames", str(info.n_frames if info.n_frames is not None else n_labelled)],
        ["fps", f"{info.fps:.2f} ({info.fps_origin})"],
        ["size", f"{info.width}×{info.height}"],
        ["vendor", info.vendor or "—"],
        ["transfer syntax", info.transfer_syntax or info.codec or "—"],
        ["photometric", info.photometric or "—"],
        ["acquisition", info.acquisition.value],
        [
            "ultrasound region",
            "—"
            if region is None
            else f"x {region.x0}–{region.x1}, y {region.y0}–{region.y1} ({region.origin})",
        ],
    ]
    rows += [["warning", w] for w in info.warnings]
    return rows


def timing_rows(playback: CinePlayback) -> list[list[str]]:
    """Per-stage milliseconds per frame: p50 and p95 over the cine's frames."""
    return [
        [stage, f"{p['p50']:.3f}", f"{p['p95']:.3f}"]
        for stage, p in playback.timings().items()
        if p is not None
    ]


def timeline_figure(playback: CinePlayback) -> Figure:
    """One line per view over time: smoothed (solid) and raw (dotted); a strip of shown labels."""
    labels = playback.labels
    fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [8, 1]})
    colors = [f"C{i}" for i in range(len(labels))]
    t, raw, smooth = playback.times, playback.raw, playback.smoothed
    if len(t) == 1:  # a still: draw a short segment so the point is visible
        t = np.array([0.0, 1.0])
        raw, smooth = np.repeat(raw, 2, axis=0), np.repeat(smooth, 2, axis=0)
    for k, label in enumerate(labels):
        ax.plot(t, smooth[:, k], color=colors[k], lw=2, label=label)
        ax.plot(t, raw[:, k], color=colors[k], lw=1, ls=":", alpha=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title("per-frame view probability — solid: smoothed, dotted: raw", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    shown = playback.shown
    shown = shown if len(shown) == len(t) else shown * len(t)
    color_of = dict(zip(labels, colors, strict=True))
    for j in range(len(t)):
        t0 = t[j]
        t1 = t[j + 1] if j + 1 < len(t) else t[j] + (t[1] - t[0] if len(t) > 1 else 1.0)
        strip.axvspan(t0, t1, color=color_of.get(shown[j], UNCERTAIN_COLOR), lw=0)
    strip.set_yticks([])
    strip.set_ylabel("shown", rotation=0, ha="right", va="center", fontsize=8)
    strip.set_xlabel("time (s)")
    return fig


def live_summary(summary: dict[str, Any], shown: str) -> str:
    """The live tab's last line for a stopped stream (``summary``: a live run's
    :meth:`~echostream.stream.pipeline_live.LiveReport.summary`)."""
    lat = summary["frame_to_label_ms"] or {}
    return (
        f"Stopped {shown}: {summary['frames_labelled']} frames labelled, "
        f"{summary['dropped']['reader']} dropped"
        + (f", frame-to-label p50 {lat['p50']:.1f} ms" if lat else "")
        + (f" — {summary['error']}" if summary["error"] else "")
    )
