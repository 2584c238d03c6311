"""Optional Ray backend: each grid run becomes a Ray task (``--ray ADDRESS``).

Each task is an ordinary training run (:func:`~.cell.run_cell`) on one worker; with GPUs on the
worker it trains there (``train.device: auto``). A run that should span several GPUs can set
``ray: {num_gpus: N}`` in the experiment file and start ``torchrun`` inside its task — the
training loop already speaks DDP. Ray is imported lazily: without it, ``--ray`` fails with one
clear line and local runs are unaffected. The data folder must be readable at the same path on
every worker (shared storage); each worker builds or reuses its frame store there.

Example::

    for spec, result in run_on_ray(specs, "ray://head:10001", resources={"num_cpus": 2}):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .cell import RunSpec


class RayUnavailable(RuntimeError):
    """``ray`` is not installed (install the optional extra: ``pip install 'echostream[ray]'``)."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "--ray needs the optional 'ray' package, which is not installed here: "
            "pip install 'ray[default]>=2.9' (or run without --ray: runs go locally one by one)"
        ) from None
    return ray


def _task(spec: dict[str, Any]) -> dict[str, Any]:
    from .cell import run_cell

    return run_cell(spec)


def run_on_ray(
    specs: Sequence[RunSpec],
    address: str,
    *,
    resources: dict[str, Any] | None = None,
    progress: bool = True,
) -> Iterator[tuple[RunSpec, dict[str, Any] | BaseException]]:
    """Submit every spec as a task at ``address``; yield ``(spec, result or exception)`` as
    tasks finish."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address)
    opts = {"num_cpus": 1, "num_gpus": 0, "max_retries": 0, **(resources or {})}
    remote = ray.remote(**opts)(_task)
    pending = {remote.remote(s.to_dict()): s for s in specs}
    from .grid import _progress

    with _progress(progress) as bar:
        task = bar.add_task("grid (ray)", total=len(pending))
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                spec = pending.pop(ref)
                try:
                    yield spec, ray.get(ref)
                except Exception as err:  # a task's failure: reported, the grid goes on
                    yield spec, err
                bar.advance(task)
