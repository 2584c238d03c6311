"""``echostream bench simulate --json``: frames/s of the simulator with worker processes.

Two wall-clock numbers per repeat: rendering only, and rendering + writing JPEG DICOM files
(pool started and warmed before timing; medians over repeats). Because the machine may be shared,
it also reports the CPU time per rendered frame of one process and the load average.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from .cine import CineSpec, render_cine
from .dataset import DatasetConfig, plan, run_job

VIEWS_CYCLE = ("PLAX", "SAXMID", "SAXBASAL", "A5C", "A4C", "A3C", "A2C", "SUB4C")


def _render_only(spec: CineSpec) -> int:
    return len(render_cine(spec).frames)


def bench_simulate(
    *,
    workers: int = 2,
    size: tuple[int, int] = (640, 480),
    cines: int = 8,
    frames: int = 40,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, object]:
    """Median frames/s over ``repeats`` runs of ``cines`` cines of ``frames`` frames each."""
    vendors = ("epiq7g", "ie33", "sc2000")
    specs = [
        CineSpec(seed, i, VIEWS_CYCLE[i % 8], vendors[i % 3], size=size, n_frames=frames)
        for i in range(cines)
    ]
    render_fps, write_fps = [], []
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes=workers) as pool, tempfile.TemporaryDirectory() as tmp:
        warm = CineSpec(seed, 999, "A4C", "ie33", size=size, n_frames=2)
        pool.map(_render_only, [warm] * workers)
        cfg = DatasetConfig(
            out=Path(tmp),
            patients=max(1, cines // 8 + (cines % 8 > 0)),
            seed=seed,
            n_frames=frames,
            size=size,
            workers=workers,
        )
        jobs = plan(cfg)[:cines]
        for _ in range(repeats):
            t = time.perf_counter()
            n = sum(pool.map(_render_only, specs, chunksize=1))
            render_fps.append(n / (time.perf_counter() - t))
            t = time.perf_counter()
            rows = pool.map(run_job, jobs, chunksize=1)
            n = sum(int(r["n_frames"]) for r in rows)  # type: ignore[call-overload]
            write_fps.append(n / (time.perf_counter() - t))
    cpu_ms = []  # CPU time per frame in this process: robust when others share the cores
    for i in range(repeats):
        t = time.process_time()
        n = _render_only(specs[i % len(specs)])
        cpu_ms.append(1000 * (time.process_time() - t) / n)
    return {
        "bench": "simulate",
        "size": f"{size[0]}x{size[1]}",
        "workers": workers,
        "cines": cines,
        "frames_per_cine": frames,
        "repeats": repeats,
        "render_fps_median": round(statistics.median(render_fps), 1),
        "render_fps_all": [round(v, 1) for v in render_fps],
        "render_write_dicom_jpeg_fps_median": round(statistics.median(write_fps), 1),
        "render_write_dicom_jpeg_fps_all": [round(v, 1) for v in write_fps],
        "render_cpu_ms_per_frame_median": round(statistics.median(cpu_ms), 2),
        "render_fps_if_cores_were_free_estimate": round(
            workers * 1000 / statistics.median(cpu_ms), 1
        ),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": mp.cpu_count(),
        "machine": platform.machine(),
    }
