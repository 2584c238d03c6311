"""Optional Ray backend: each grid run becomes a Ray task (``--ray ADDRESS``).

Each task is an ordinary training run (:func:`~.cell.run_cell`) on one worker; the frame stores
the runs read are built first, one at a time (:func:`prepare_stores`). With GPUs on the
worker it trains there (``train.device: auto``). A run that should span several GPUs can set
``ray: {num_gpus: N}`` in the experiment file and start ``torchrun`` inside its task — the
training loop already speaks DDP. Ray is imported lazily: without it, ``--ray`` fails with one
clear line and local runs are unaffected. The data folder must be readable at the same path on
every worker (shared storage); the runs read the frame stores built there.

Example::

    for spec, result in run_on_ray(specs, "ray://head:10001", resources={"num_cpus": 2}):
        ...
"""

from __future__ import annotations

import json
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


def _prepare(spec: dict[str, Any]) -> None:
    """Build (or find) the frame store ``spec``'s run reads: the store is built by one process
    at a time (two runs appending to one store at once corrupt it), so each store is made
    here before the runs that share it start, and they only open it."""
    from echostream.models.registry import create_model
    from echostream.train.config import class_names, config_from_dict
    from echostream.train.prepare import prepare_data

    cfg = config_from_dict(dict(spec["config"]))
    model = create_model(cfg.model.name, num_classes=len(class_names(cfg.data)), **cfg.model.kwargs)
    _, h, w = model.cfg.input_size
    prepare_data(spec["data_dir"], cfg.data, (h, w), model.cfg.interpolation, progress=False)


def _store_key(spec: RunSpec) -> str:
    """Runs with equal keys read the same frame store (same data, model input, data options)."""
    config = spec.config or {}
    return json.dumps([spec.data_dir, config.get("model"), config.get("data")], sort_keys=True,
                      default=str)  # fmt: skip


def prepare_stores(ray: Any, specs: Sequence[RunSpec], opts: dict[str, Any]) -> None:
    """One preparation task per distinct frame store, one after the other (two stores may be
    one folder). A failure is left to the runs, which report it as their own."""
    firsts = {_store_key(s): s for s in reversed(specs)}
    remote = ray.remote(**opts)(_prepare)
    for spec in reversed(firsts.values()):
        try:
            ray.get(remote.remote(spec.to_dict()))
        except Exception:  # noqa: BLE001 - e.g. no data: each run says so itself
            continue


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
    prepare_stores(ray, specs, {**opts, "num_gpus": 0})
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
                    cause = getattr(err, "cause", None)  # RayTaskError: what the run raised
                    yield spec, cause if isinstance(cause, BaseException) else err
                bar.advance(task)
