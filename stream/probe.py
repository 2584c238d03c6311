"""``echostream probe``: what a source holds, and how fast it decodes. No patient fields.

Example::

    results = probe_many(["a4c.dcm", "clip.mp4"])
    for r in results:
        print(format_result(r))

Each result is a plain dict: ``ok`` and ``error`` (one line) on failure, otherwise the
source's :class:`~echostream.stream.frame.SourceInfo` fields plus ``decode`` speeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import SourceError, item_error
from .sources import open_source, source_kind

FAST_TARGET = (60, 80)
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"  # the baseline model's input (h, w)


def _decode_speed(source: str | Path, frames: int, **options: Any) -> dict[str, Any]:
    """Frames/s over the first ``frames`` frames (opening the source not counted)."""
    with open_source(source, **options) as src:
        it = iter(src)
        first = next(it)  # warm-up: decoder plugins load on first use
        count, start = 0, time.perf_counter()
        for _ in range(frames):
            try:
                next(it)
            except StopIteration:
                break
            count += 1
        seconds = time.perf_counter() - start
    if count == 0:  # a one-frame source: time the frame we have by decoding it again
        with open_source(source, **options) as src:
            start = time.perf_counter()
            next(iter(src))
            seconds, count = time.perf_counter() - start, 1
    shape = list(first.pixels.shape)
    return {"fps": round(count / max(seconds, 1e-9), 1), "frames": count, "shape": shape}


def probe(source: str | Path, *, speed_frames: int = 10, name: str | None = None) -> dict[str, Any]:
    """Facts about one source and its decode speed; raises :class:`SourceError` on bad input.

    ``decode.full`` is the default decode (RGB for colour files); ``decode.fast`` the
    luminance fast path at the baseline's input size, measured for JPEG baseline DICOM only.
    ``name``: what the result and errors call the source (default: as given).
    """
    named = {} if name is None else {"name": name}
    with open_source(source, **named) as src:
        info = src.info.to_dict()
        fast_path = (
            src.info.kind == "dicom" and info["transfer_syntax"] == "JPEG Baseline (Process 1)"
        )
    result: dict[str, Any] = {"source": info["name"], "ok": True, **info}  # URLs: no secrets
    if source_kind(source) == "live" or speed_frames <= 0:
        return result
    decode: dict[str, Any] = {"full": _decode_speed(source, speed_frames, **named)}
    if fast_path:
        fast = _decode_speed(source, speed_frames, luminance=True, target_size=FAST_TARGET, **named)
        decode["fast"] = {**fast, "target_size": list(FAST_TARGET)}
        decode["fast_vs_full"] = round(fast["fps"] / max(decode["full"]["fps"], 1e-9), 2)
    result["decode"] = decode
    return result


def probe_one(
    source: str | Path, *, speed_frames: int = 10, name: str | None = None
) -> tuple[dict[str, Any], SourceError | None]:
    """:func:`probe` that never raises: ``(result, None)``, or for a source that cannot be read
    (whatever the reason) ``({"source": ..., "ok": False, "error": problem}, error)``."""
    try:
        return probe(source, speed_frames=speed_frames, name=name), None
    except Exception as err:  # noqa: BLE001 - one bad item must never cost the batch
        error = item_error(name or str(source), err)
        return {"source": error.source, "ok": False, "error": error.problem}, error


def probe_many(sources: Iterable[str | Path], *, speed_frames: int = 10) -> list[dict[str, Any]]:
    """:func:`probe` each source; a bad one gives ``{"ok": False, "error": ...}`` and the
    others are still probed."""
    return [probe_one(source, speed_frames=speed_frames)[0] for source in sources]


def _fan_lines(fan: dict[str, Any] | None) -> list[str]:
    if not fan or "apex" not in fan:
        return [f"  sector       {fan['kind']}"] if fan else []
    sector = fan["right_deg"] - fan["left_deg"]
    return [
        f"  sector       apex ({fan['apex'][0]:.0f}, {fan['apex'][1]:.0f}), {sector:.0f} deg,"
        f" radius {fan['radius']:.0f} px"
    ]


def format_result(result: dict[str, Any]) -> str:
    """Human-readable lines for one probe result (the error line for a failed one)."""
    if not result["ok"]:
        return f"{result['source']}: {result['error']}"
    region = result.get("region")
    region_text = (
        f"x {region['x0']}..{region['x1']} y {region['y0']}..{region['y1']} ({region['origin']})"
        if region
        else "none"
    )
    frames = result["n_frames"] if result["n_frames"] is not None else "live"
    lines = [
        f"{result['source']}",
        f"  frames       {frames}, {result['width']}x{result['height']}",
        f"  fps          {result['fps']:.3f} (from {result['fps_origin']})",
        f"  encoding     {result.get('transfer_syntax') or result.get('codec') or '?'}"
        f" / {result.get('photometric') or '?'}",
        f"  region       {region_text}",
        *_fan_lines(result.get("fan")),
        f"  vendor       {result.get('vendor') or 'unknown'}",
        f"  acquisition  {result['acquisition']}",
    ]
    decode = result.get("decode")
    if decode:
        speed = f"full {decode['full']['fps']:.0f} frames/s"
        if "fast" in decode:
            speed += (
                f", luminance fast path {decode['fast']['fps']:.0f} frames/s"
                f" ({decode['fast_vs_full']}x)"
            )
        lines.append(f"  decode       {speed}")
    lines += [f"  warning      {w}" for w in result.get("warnings", [])]
    return "\n".join(lines)
