"""``echostream bench decode``: full RGB decode vs the luminance fast path, and peak memory.

Measures, on one DICOM cine (or a simulated-content JPEG YBR_FULL_422 cine it writes):

* frames/s of pydicom's full RGB decode (``iter_pixels``), and of :class:`DicomSource` in full
  RGB and on the luminance fast path at the baseline's input size (60×80), with 1 and 2 decode
  threads; medians of ``repeats`` runs, ratios from the same run;
* peak resident memory (``VmHWM``) of a fresh process reading a long cine frame by frame, per
  mode, next to the size all its frames would take decoded.

Example::

    echostream bench decode --make-cine 100x600x800 --json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

TARGET = (60, 80)
MEMORY_MODES = ("pydicom_iter_pixels_rgb", "source_rgb", "source_fast_w2")


def parse_cine_spec(spec: str) -> tuple[int, int, int]:
    """``"100x600x800"`` → (frames, height, width).

    >>> parse_cine_spec("100x600x800")
    (100, 600, 800)
    """
    try:
        n, h, w = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        problem = f"cine spec must be FRAMESxHEIGHTxWIDTH, e.g. 100x600x800, not {spec!r}"
        raise ValueError(problem) from None
    if min(n, h, w) <= 0:
        raise ValueError(f"cine spec needs positive numbers, not {spec!r}")
    return n, h, w


def _sector_frames(h: int, w: int, distinct: int, seed: int) -> list[np.ndarray]:
    """``distinct`` echo-like RGB frames: a speckled sector with moving walls, text on black."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    apex_x, apex_y, radius = w / 2, 0.07 * h, 0.87 * h
    r = np.hypot(xx - apex_x, yy - apex_y)
    theta = np.arctan2(xx - apex_x, yy - apex_y)
    fan = (r < radius) & (np.abs(theta) < np.deg2rad(40))
    attenuation = np.exp(-r / (1.3 * radius))
    frames = []
    for i in range(distinct):
        phase = 2 * np.pi * i / distinct
        # speckle: Rayleigh noise at half resolution, upsampled (grain of a few pixels)
        small = rng.rayleigh(0.5, (h // 2 + 1, w // 2 + 1)).astype(np.float32)
        speckle = np.kron(small, np.ones((2, 2), np.float32))[:h, :w]
        cy, cx = 0.5 * h, apex_x
        a, b = 0.22 * w * (1 + 0.08 * np.sin(phase)), 0.3 * h * (1 + 0.08 * np.sin(phase))
        ring = np.abs(((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 - 1) < 0.15  # LV wall
        tissue = 0.35 + 1.6 * ring
        gray = np.clip(120 * speckle * tissue * attenuation * fan, 0, 255).astype(np.uint8)
        img = Image.fromarray(np.stack([gray] * 3, axis=2), "RGB")
        draw = ImageDraw.Draw(img)
        draw.text((10, 10), "SIM 2D  HR 72", fill=(255, 255, 255))
        draw.text((w - 90, 10), f"F{i:03d}", fill=(200, 200, 80))
        frames.append(np.asarray(img))
    return frames


def make_cine(
    path: str | Path, n: int = 100, h: int = 600, w: int = 800, *, fps: float = 50, seed: int = 0
) -> Path:
    """Write a simulated-content JPEG baseline YBR_FULL_422 cine of ``n`` frames ``h×w``.

    At most 100 distinct frames are drawn and looped (a cine repeats its heartbeats), so
    writing a 1,000-frame cine does not hold 1,000 decoded frames.
    """
    from .dicom_writer import Device, UltrasoundRegion, write_cine

    distinct = _sector_frames(h, w, min(n, 100), seed)
    frames = [distinct[i % len(distinct)] for i in range(n)]
    half = int(0.87 * h * np.sin(np.deg2rad(40)))
    region = UltrasoundRegion(
        x0=max(0, w // 2 - half), y0=int(0.07 * h), x1=min(w, w // 2 + half), y1=int(0.94 * h)
    )
    return write_cine(
        path, frames, fps=fps, encoding="jpeg", device=Device("echostream", "bench"),
        regions=[region],
    )  # fmt: skip


def _fps(run: Callable[[], Iterator[Any]], repeats: int) -> dict[str, Any]:
    """Median frames/s of ``repeats`` full passes (each pass: ``run()`` exhausted)."""
    rates, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(1 for _ in run())
        rates.append(count / max(time.perf_counter() - start, 1e-9))
    return {"fps": round(statistics.median(rates), 1), "runs": [round(r, 1) for r in rates],
            "frames": count}  # fmt: skip


def _limited(it: Iterator[Any], frames: int | None) -> Iterator[Any]:
    for i, item in enumerate(it):
        if frames is not None and i >= frames:
            return
        yield item


def speed(path: Path, *, frames: int | None, repeats: int, workers: tuple[int, ...]) -> dict:
    """Frames/s of every decode mode on ``path``, and the fast-path-to-full ratios."""
    from pydicom.pixels import iter_pixels

    from .sources.dicom import DicomSource

    def source(**opts: Any) -> Callable[[], Iterator[Any]]:
        return lambda: _limited(DicomSource(path, **opts).frames(frames), frames)

    src = DicomSource(path, luminance=True, target_size=TARGET)
    probe_frame = next(iter(src))
    modes: dict[str, Any] = {
        "pydicom_iter_pixels_rgb": _fps(lambda: _limited(iter_pixels(path), frames), repeats)
    }
    for k in workers:
        modes[f"source_rgb_w{k}"] = _fps(source(workers=k), repeats)
    for k in workers:
        modes[f"source_fast_w{k}"] = _fps(
            source(luminance=True, target_size=TARGET, workers=k), repeats
        )
    full = modes["pydicom_iter_pixels_rgb"]["fps"]
    ratios = {
        f"{name}_vs_full_rgb": round(m["fps"] / max(full, 1e-9), 2)
        for name, m in modes.items()
        if name != "pydicom_iter_pixels_rgb"
    }
    return {
        "modes": modes,
        "ratios": ratios,
        "fast_path": {
            "enabled": src.fast_path,
            "target_size": list(TARGET),
            "scale": probe_frame.scale,
            "decoded_shape": list(probe_frame.pixels.shape),
            "region_crop_shape": list(probe_frame.region_pixels().shape),
        },
    }


def _vm_hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def memory_child(path: Path, mode: str) -> dict[str, Any]:
    """Read every frame of ``path`` one at a time in this process; peak RSS before/after."""
    from pydicom.pixels import iter_pixels

    from .sources.dicom import DicomSource

    if mode == "pydicom_iter_pixels_rgb":
        frames: Iterator[Any] = iter_pixels(path)
    elif mode == "source_rgb":
        frames = iter(DicomSource(path))
    elif mode == "source_fast_w2":
        frames = iter(DicomSource(path, luminance=True, target_size=TARGET, workers=2))
    else:
        raise ValueError(f"unknown memory mode {mode!r}")
    before = _vm_hwm_kb()
    count = sum(1 for _ in frames)
    after = _vm_hwm_kb()
    return {"mode": mode, "frames": count, "peak_rss_mb": round(after / 1024, 1),
            "peak_before_reading_mb": round(before / 1024, 1),
            "growth_while_reading_mb": round((after - before) / 1024, 1)}  # fmt: skip


def memory(path: Path, n: int, h: int, w: int) -> dict[str, Any]:
    """Peak RSS per mode, each in a fresh subprocess, against the decoded size of the cine."""
    decoded = n * h * w * 3
    results = {}
    for mode in MEMORY_MODES:
        out = subprocess.run(
            [sys.executable, "-m", "echostream.stream.bench_decode", "--memory-child", mode,
             str(path)],
            capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        child = json.loads(out.stdout.strip().splitlines()[-1])
        child["peak_vs_decoded"] = round(child["peak_rss_mb"] * 2**20 / decoded, 4)
        results[mode] = child
    return {"cine": f"{n}x{h}x{w}", "decoded_size_mb": round(decoded / 2**20, 1),
            "modes": results}  # fmt: skip


def run(
    source: str | None = None,
    *,
    make_cine_spec: str | None = None,
    frames: int | None = None,
    workers: tuple[int, ...] = (1, 2),
    repeats: int = 3,
    memory_frames: int = 1000,
    progress: Callable[[str], None] = lambda msg: None,
) -> dict[str, Any]:
    """The whole benchmark; returns the JSON-able result."""
    with tempfile.TemporaryDirectory(prefix="echostream-bench-") as tmp:
        if source is None:
            n, h, w = parse_cine_spec(make_cine_spec or "100x600x800")
            progress(f"writing a simulated {n}x{h}x{w} JPEG YBR cine")
            path = make_cine(Path(tmp) / "bench.dcm", n, h, w)
            label = f"simulated {n}x{h}x{w} JPEG baseline YBR_FULL_422"
        else:
            path, label = Path(source), str(source)
            h = w = 0
        progress("timing decodes")
        result: dict[str, Any] = {
            "source": label,
            "cpu_count": os.cpu_count(),
            "repeats": repeats,
            **speed(path, frames=frames, repeats=repeats, workers=workers),
        }
        if memory_frames > 0:
            if not h:
                from .sources.dicom import DicomSource

                info = DicomSource(path).info
                h, w = info.height, info.width
            progress(f"writing a {memory_frames}-frame {h}x{w} cine for the memory check")
            long_path = make_cine(Path(tmp) / "long.dcm", memory_frames, h, w)
            progress("measuring peak memory (one subprocess per mode)")
            result["memory"] = memory(long_path, memory_frames, h, w)
    return result


def _main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "--memory-child":
        print(json.dumps(memory_child(Path(argv[2]), argv[1])))
        return
    raise SystemExit("usage: python -m echostream.stream.bench_decode --memory-child MODE PATH")


if __name__ == "__main__":
    _main(sys.argv[1:])
