"""``echostream archive --ray ADDRESS``: the archive as a Ray Data job.

listing (this process) → read + decode + preprocess (:func:`decode_batch`, Ray CPU tasks) →
classify (:class:`Classifier`, a pool of Ray actors, each loading the model once through
:meth:`~.pipeline.Engine.load`, on CPU or GPU) → rows streamed back here and written to the one
output file (:mod:`.archive_output`) as they arrive, with the progress bar.

The CPU tasks read each file through :func:`~.classify.classify_paths` itself, with a
:class:`DeferredBackend` in the model's place that keeps the preprocessed frames: errors,
Doppler/M-mode, warnings and frame counts are exactly ``classify``'s, and the actor computes the
verdict from the model's probabilities with :func:`~.verdict.cine_verdict`, as ``classify``
does. The archive (and a ``--model`` file) must be readable at the same path on every node.

Ray is optional (``pip install 'echostream[ray]'``); without it ``--ray`` ends with one line.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .archive import ArchiveSummary, file_sha256
from .archive_output import ArchiveOutput, archive_row
from .classify import CineResult, apply_verdict, classify_paths
from .errors import item_error
from .model_file import ModelInfo
from .pipeline import Engine
from .verdict import verdict_for

#: Memory a reading task reserves: a few cines' frames at the model's input size.
DECODE_MEMORY = 256 * 2**20
RAY_MISSING = "--ray needs Ray Data, which is not installed: pip install 'echostream[ray]'"


class RayMissing(RuntimeError):
    """Ray (or Ray Data) is not installed."""


def import_ray() -> Any:
    """The ``ray`` module with ``ray.data`` loaded, or :class:`RayMissing`."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayMissing(RAY_MISSING) from None
    return ray


@dataclass
class RayOptions:
    """Where and how the job runs. ``address``: a running cluster (``auto``, ``HOST:PORT``,
    ``ray://HOST:10001``) or ``local`` (a one-machine cluster started here with ``cpus``).
    ``actors``: classify actors (default: a quarter of the cluster's CPUs, at least one), each
    with ``actor_cpus`` inference threads and ``actor_gpus`` GPUs; ``files_per_task``: files
    one CPU task reads."""

    address: str = "auto"
    actors: int | None = None
    actor_cpus: float = 1.0
    actor_gpus: float = 0.0
    cpus: int | None = None
    files_per_task: int = 4


class DeferredBackend:
    """Stands in for the model while a CPU task reads a file: keeps each preprocessed batch it
    is handed and answers uniform probabilities; the classify actor runs the real model."""

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.batches: list[np.ndarray] = []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(np.ascontiguousarray(batch, dtype=np.float32))
        return np.full((len(batch), self.n_classes), 1.0 / self.n_classes, np.float32)

    def describe(self) -> dict[str, str]:
        return {"backend": "deferred"}


def _table(rows: list[dict[str, Any]], columns: dict[str, Any]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=pa.schema(list(columns.items())))


def decoded_columns() -> dict[str, Any]:
    import pyarrow as pa

    return {"sha256": pa.string(), "skipped": pa.bool_(), "result": pa.string(),
            "frames": pa.large_binary(), "shape": pa.list_(pa.int64()),
            "decode_s": pa.float64()}  # fmt: skip


_DONE: dict[str, frozenset[str]] = {}


def _done_set(done: Any) -> frozenset[str]:
    """The hashes already in the output: ``done`` itself, or the set behind its object
    reference, fetched once per worker process (a big archive's set is sent once, not per task)."""
    if isinstance(done, frozenset):
        return done
    key = done.hex()
    if key not in _DONE:
        import ray

        _DONE.clear()
        _DONE[key] = frozenset(ray.get(done))
    return _DONE[key]


def decode_batch(batch: Any, *, info: ModelInfo, model: str, cfg: dict[str, Any], done: Any) -> Any:
    """Ray CPU task: hash, read, decode and preprocess each file of ``batch`` (a pyarrow table
    with ``path`` and ``name``); files whose content is in ``done`` (a set, or an object
    reference to one) are only marked skipped."""
    from .preprocess import Preprocessor

    pre = Preprocessor.from_model_info(info)
    done = _done_set(done)
    rows = []
    # Library warnings may name the file (pydicom's do) and a worker's stderr goes to the
    # cluster's log files: none are shown; what matters is in the row's error. (pydicom's log
    # records stay: the DICOM reader collects them to tell a truncated file.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in batch.to_pylist():
            rows.append(_decode_one(item, info, pre, model, cfg, done))
    return _table(rows, decoded_columns())


def _decode_one(
    item: dict[str, Any],
    info: ModelInfo,
    pre: Any,
    model: str,
    cfg: dict[str, Any],
    done: frozenset[str],
) -> dict[str, Any]:
    """One file's decoded row (see :func:`decode_batch`)."""
    t0 = time.perf_counter()
    digest = file_sha256(item["path"])
    row: dict[str, Any] = {"sha256": digest, "skipped": bool(digest) and digest in done,
                           "result": "", "frames": b"", "shape": [0]}  # fmt: skip
    if not row["skipped"]:
        deferred = DeferredBackend(len(info.labels))
        engine = Engine(info, pre, deferred, Path(model))
        name = str(item["name"])
        report = classify_paths([item["path"]], engine, cfg, workers=1, namer=lambda _: name)
        cine = report.cines[0]
        if cine.status == "ok" and deferred.batches:
            frames = np.concatenate(deferred.batches)
            row.update(frames=frames.tobytes(), shape=list(frames.shape))
        row["result"] = json.dumps(asdict(cine))
    row["decode_s"] = time.perf_counter() - t0
    return row


def row_columns() -> dict[str, Any]:
    import pyarrow as pa

    return {"row": pa.string(), "skipped": pa.bool_(), "decode_s": pa.float64(),
            "infer_s": pa.float64()}  # fmt: skip


class Classifier:
    """Ray actor: loads the model once (:meth:`Engine.load`), then turns each decoded file
    into its output row."""

    def __init__(self, model: str, backend: str, threads: int, batch_size: int) -> None:
        self.engine = Engine.load(model, backend, threads=threads, spin=False)
        self.batch_size = max(1, int(batch_size))

    def __call__(self, batch: Any) -> Any:
        return _table([self.classify(item) for item in batch.to_pylist()], row_columns())

    def classify(self, item: dict[str, Any]) -> dict[str, Any]:
        """One file's row (as JSON text), the model run in ``batch_size`` micro-batches."""
        out = {"row": "", "skipped": item["skipped"], "decode_s": item["decode_s"], "infer_s": 0.0}
        if item["skipped"]:
            return out
        cine = CineResult(**json.loads(item["result"]))
        t0 = time.perf_counter()
        if cine.status == "ok":
            try:
                self._verdict(cine, item["frames"], item["shape"])
            except Exception as err:  # noqa: BLE001 - one bad item must never cost the batch
                cine = CineResult(path=cine.path, status="error",
                                  error=str(item_error(cine.path, err)))  # fmt: skip
        out["infer_s"] = time.perf_counter() - t0
        cine.time_s += out["infer_s"]
        if cine.status == "ok" and cine.time_s > 0:
            cine.frames_per_s = cine.frames / cine.time_s
        out["row"] = json.dumps(archive_row(cine, item["sha256"]))
        return out

    def _verdict(self, cine: CineResult, data: bytes, shape: list[int]) -> None:
        x = np.frombuffer(data, np.float32).reshape(shape)
        b = self.batch_size
        probs = np.concatenate([self.engine.backend.predict(x[i : i + b].copy())
                                for i in range(0, len(x), b)])  # fmt: skip
        apply_verdict(cine, verdict_for(probs, self.engine))


def connect(ray: Any, opts: RayOptions) -> bool:
    """Join the cluster at ``opts.address`` (or start ``local``); False if already joined."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if opts.address == "local":
        ray.init(num_cpus=opts.cpus, include_dashboard=False, **quiet)
    else:
        ray.init(address=opts.address, **quiet)
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-run INFO lines
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # ours is on
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours counts files (stream/progress.py)
    ctx.enable_auto_log_stats = False
    return True


def actor_count(ray: Any, opts: RayOptions) -> int:
    """The classify actors: ``opts.actors`` or a quarter of the cluster's CPUs; refuses a pool
    that would leave no CPU for the reading tasks."""
    cpus = float(ray.cluster_resources().get("CPU", 1))
    actors = opts.actors or max(1, int(cpus // 4))
    if actors * opts.actor_cpus >= cpus:
        raise ValueError(
            f"{actors} classify actor(s) × {opts.actor_cpus:g} CPU leave none of the cluster's "
            f"{cpus:g} CPUs to read files: use fewer --actors or --actor-cpus"
        )
    return actors


def run_ray(
    files: Sequence[str],
    engine: Engine,
    backend: str,
    cfg: dict[str, Any],
    output: ArchiveOutput,
    opts: RayOptions,
    *,
    namer: Callable[[str], str] = str,
    on_done: Callable[..., None] | None = None,
) -> ArchiveSummary:
    """Classify ``files`` on the Ray cluster of ``opts``; each row written as it arrives.
    ``engine``: the model as loaded here (its file and metadata go to the tasks and actors;
    ``backend`` is resolved on each actor's node)."""
    ray = import_ray()
    t0 = time.perf_counter()
    started = connect(ray, opts)
    try:
        summary = ArchiveSummary(listed=len(files))
        stages = {"decode": 0.0, "inference": 0.0}
        ds = _dataset(ray, files, engine, backend, cfg, output, opts, namer)
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            for item in batch.to_pylist():
                stages["decode"] += item["decode_s"]
                stages["inference"] += item["infer_s"]
                if item["skipped"]:
                    summary.skipped += 1
                else:
                    if summary.first_row_s is None:
                        summary.first_row_s = time.perf_counter() - t0
                    row = json.loads(item["row"])
                    output.write(row)
                    summary.count(row)
                if on_done is not None:
                    on_done()
        summary.stage_seconds = stages
    finally:
        if started:
            ray.shutdown()
    summary.seconds = time.perf_counter() - t0
    return summary


def _dataset(
    ray: Any,
    files: Sequence[str],
    engine: Engine,
    backend: str,
    cfg: dict[str, Any],
    output: ArchiveOutput,
    opts: RayOptions,
    namer: Callable[[str], str],
) -> Any:
    """listing → decode tasks → classify actors, as a lazy Ray Dataset."""
    per_task = max(1, opts.files_per_task)
    items = [{"path": f, "name": namer(f)} for f in files]
    ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / per_task)))
    ds = ds.map_batches(
        decode_batch,
        batch_size=per_task,
        batch_format="pyarrow",
        num_cpus=1,
        memory=DECODE_MEMORY,  # also keeps Ray from fusing the reading into the actors
        fn_kwargs={
            "info": engine.info,
            "model": str(engine.path),
            "cfg": cfg,
            "done": ray.put(frozenset(output.done)),
        },
    )
    threads = max(1, math.ceil(opts.actor_cpus))
    return ds.map_batches(
        Classifier,
        batch_size=per_task,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actor_count(ray, opts)),
        num_cpus=opts.actor_cpus,
        num_gpus=opts.actor_gpus,
        fn_constructor_kwargs={"model": str(engine.path), "backend": backend, "threads": threads,
                               "batch_size": int(cfg.get("backend", {}).get("batch_size", 8))},
    )  # fmt: skip
