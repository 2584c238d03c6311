"""``echostream bench archive``: files/s of ``archive`` in one process vs as a Ray Data job.

Both runs classify the same cines (a folder, e.g. from ``echostream simulate``: the runtime
does not make cines itself) into a temp CSV with the same model; every file is read once first,
so both find it in the page cache. The Ray run uses a cluster of this machine's cores
(``--ray local``) or the one at an address; its files/s include starting the job's tasks and
actors but not starting the cluster (``ray_start_s``). ``stage_seconds`` (CPU time summed over
files: read + decode + preprocess, inference) tell how to split a bigger cluster between
reading tasks and classify actors.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .archive import ArchiveSummary, file_sha256, list_archive, run_local
from .archive_output import open_output, read_output
from .archive_ray import RayOptions, actor_count, connect, import_ray, run_ray
from .pipeline import Engine


def _rates(summary: ArchiveSummary) -> dict[str, Any]:
    d = summary.to_dict()
    keys = ("files_per_s", "steady_files_per_s", "first_row_s", "seconds", "classified",
            "not_classified", "failed", "stage_seconds")  # fmt: skip
    return {k: d[k] for k in keys}


def _views(path: Path) -> dict[str, str]:
    return {r["path"]: r["view"] for r in read_output(path)}


def run_bench_archive(
    folder: Path,
    engine: Engine,
    backend: str,
    cfg: dict[str, Any],
    opts: RayOptions,
    *,
    limit: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The benchmark's JSON: both runs' files/s, their ratio, and whether their views agree."""
    files = list_archive([folder])[:limit]
    if not files:
        raise ValueError(f"{folder}: no cines found")
    for f in files:  # warm the page cache for both runs
        file_sha256(f)
    if opts.address == "local" and opts.cpus is None:
        opts.cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        local_csv, ray_csv = Path(tmp) / "local.csv", Path(tmp) / "ray.csv"
        progress(f"one process: {len(files)} cines")
        with open_output(local_csv, resume=False) as out:
            local = run_local(files, engine, cfg, out)
        ray = import_ray()
        progress(f"ray ({opts.address}): starting")
        t0 = time.perf_counter()
        started = connect(ray, opts)
        start_s = time.perf_counter() - t0
        try:
            cluster_cpus = float(ray.cluster_resources().get("CPU", 0))
            actors = actor_count(ray, opts)
            progress(f"ray: {len(files)} cines, {cluster_cpus:g} CPUs, {actors} actor(s)")
            with open_output(ray_csv, resume=False) as out:
                on_ray = run_ray(files, engine, backend, cfg, out, opts)
        finally:
            if started:
                ray.shutdown()
        one, other = _views(local_csv), _views(ray_csv)
    same = sum(one.get(k) == v for k, v in other.items())
    ratio = (on_ray.files_per_s or 0) / local.files_per_s if local.files_per_s else None
    steady = (
        on_ray.steady_files_per_s / local.steady_files_per_s
        if on_ray.steady_files_per_s and local.steady_files_per_s
        else None
    )
    return {
        "cines": len(files),
        "machine_cpus": os.cpu_count(),
        "model": engine.describe().get("model"),
        "one_process": _rates(local),
        "ray": {
            "address": opts.address,
            "cluster_cpus": cluster_cpus,
            "actors": actors,
            "ray_start_s": round(start_s, 3),
            **_rates(on_ray),
        },
        "ray_over_one_process": None if ratio is None else round(ratio, 3),
        "steady_ray_over_one_process": None if steady is None else round(steady, 3),
        "views_agree": f"{same}/{len(one)}",
    }
