"""Classify files and folders: one verdict per cine, bad files collected, not fatal.

Example::

    engine = Engine.load(default_model_path())
    report = classify_paths(["study/"], engine, load_stream_config())
    for cine in report.cines:
        print(cine.path, cine.view, cine.confidence, cine.vote_share)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import display_name, item_error
from .frame import AcquisitionKind, SourceInfo
from .model_file import data_text
from .pipeline import Engine, FrameResult, run_file
from .sources import DICOM_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES, open_source
from .sources.acquisition_pixels import acquisition_reason
from .temporal import chain_for, describe_config
from .unknown import UNKNOWN, UnknownRule, rule_for
from .verdict import CineVerdict, verdict_for

#: Acquisitions that are not a view to classify: reported as such.
NOT_CLASSIFIED = (AcquisitionKind.DOPPLER, AcquisitionKind.MMODE)
KNOWN_SUFFIXES = DICOM_SUFFIXES | VIDEO_SUFFIXES | IMAGE_SUFFIXES
CSV_FIELDS = [
    "path", "status", "view", "confidence", "vote_share", "by_mean", "second", "frames",
    "fps", "frames_per_s", "time_s", "acquisition", "vendor", "transfer_syntax", "reason",
    "error",
]  # fmt: skip
FRAME_CSV_FIELDS = [
    "path", "index", "timestamp", "raw", "raw_prob", "label", "confidence", "uncertain",
    "reason",
]  # fmt: skip
#: Decimals kept in reports (the cine's fps: DICOM FrameTime 33.333 ms is 30.0003 fps).
DECIMALS = {"fps": 3, "frames_per_s": 1, "time_s": 3, "confidence": 4, "vote_share": 4}


@dataclass
class CineResult:
    """One file's outcome. ``status``: ``"ok"``, ``"not_classified"`` (Doppler, M-mode:
    ``reason`` says how that was known, from the DICOM header or seen in the pixels) or
    ``"error"`` (``error`` holds the one-line reason). An ``"ok"`` cine whose ``view`` is
    ``"unknown"`` is none of the model's views (``reason`` says why; ``top2`` still names the
    best known views). ``fps`` is the cine's own frame rate, ``frames_per_s`` how fast it was
    classified."""

    path: str
    status: str
    view: str | None = None
    confidence: float | None = None
    vote_share: float | None = None
    by_mean: str | None = None
    top2: list[dict[str, Any]] = field(default_factory=list)
    frames: int = 0
    fps: float | None = None
    frames_per_s: float | None = None
    time_s: float = 0.0
    acquisition: str | None = None
    vendor: str | None = None
    transfer_syntax: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    reason: str | None = None
    per_frame: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["per_frame"] is None:
            del d["per_frame"]
        for key, decimals in DECIMALS.items():
            if d[key] is not None:
                d[key] = round(d[key], decimals)
        d["top2"] = [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in c.items()} for c in d["top2"]
        ]
        return d

    def csv_row(self) -> dict[str, Any]:
        d = self.to_dict()
        d["second"] = self.top2[1]["label"] if len(self.top2) > 1 else None
        return d


@dataclass
class ClassifyReport:
    """Every file's result plus the model that produced them."""

    model: dict[str, Any]
    smoother: str
    cines: list[CineResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CineResult]:
        return [c for c in self.cines if c.status == "error"]

    def to_dict(self) -> dict[str, Any]:
        data = data_text(self.model.get("data"))
        simulated = self.model.get("simulated_data", True)
        note = (
            f"model trained on simulated data ({data}); labels are not validated on real echo"
            if simulated
            else f"model trained on {data}"
        )
        return {
            "model": self.model,
            "note": note,
            "smoother": self.smoother,
            "cines": [c.to_dict() for c in self.cines],
            "failed": [{"path": c.path, "error": c.error} for c in self.failed],
            "summary": {
                "files": len(self.cines),
                "classified": sum(c.status == "ok" for c in self.cines),
                "not_classified": sum(c.status == "not_classified" for c in self.cines),
                "failed": len(self.failed),
            },
        }


class FrameObserver(Protocol):
    """Watches one file go through :func:`classify_file`, e.g. to draw an annotated playback
    from the same decode (the demo does)."""

    def opened(self, info: SourceInfo) -> None:
        """The file is open (readers add to ``info.warnings`` while reading)."""

    def labelled(self, result: FrameResult) -> None:
        """One frame's result, in order; ``result.frame`` is the decoded frame (full
        resolution, colour), kept for this call only."""


def _observed(rows: Iterable[FrameResult], observer: FrameObserver | None) -> list[FrameResult]:
    """``rows`` as a list, each handed to ``observer`` first (and its pixels dropped after)."""
    if observer is None:
        return list(rows)
    out = []
    for row in rows:
        observer.labelled(row)
        row.frame = None  # the pixels were for the observer: the rows stay small
        out.append(row)
    return out


def _is_candidate(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    if path.suffix.lower() in KNOWN_SUFFIXES:
        return True
    if path.suffix:  # e.g. .json sidecars, .txt notes: not media
        return False
    try:  # DICOM files often have no suffix: look for the preamble
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def expand_paths(paths: Iterable[str | Path]) -> list[str]:
    """Files named, plus media files found recursively in folders named (sorted).

    A named file is always kept (a bad one is reported later); in folders, only files with a
    media suffix or a DICOM preamble are taken.
    """
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out += sorted(str(f) for f in path.rglob("*") if f.is_file() and _is_candidate(f))
        else:
            out.append(str(p))
    return out


def classify_file(
    engine: Engine,
    path: str | Path,
    smoother_cfg: dict[str, Any] | None,
    *,
    workers: int = 2,
    batch_size: int = 8,
    queue_size: int = 64,
    reduced: bool = True,
    per_frame: bool = False,
    preprocess_workers: int = 1,
    name: str | None = None,
    observer: FrameObserver | None = None,
) -> CineResult:
    """The verdict for one file; never raises for a bad file (``status="error"``): whatever
    reading it (or ``observer``) raises becomes its one-line error
    (:func:`~echostream.stream.errors.item_error`).

    ``name``: what the result and its errors call the file (default: the path's safe display
    name; see :class:`~echostream.stream.names.PathNamer`). ``observer``: sees the file's
    facts and each labelled frame with its pixels (:class:`FrameObserver`); the file is then
    decoded whole (full resolution, colour) instead of reduced to what the model needs."""
    name = display_name(path) if name is None else name
    t0 = time.perf_counter()
    whole = observer is not None
    try:
        opts = engine.source_options(str(path), workers=workers, reduced=reduced and not whole)
        if whole:
            opts.pop("luminance", None)
        with open_source(str(path), name=name, **opts) as src:
            info = src.info
            if observer is not None:
                observer.opened(info)
            result = CineResult(
                path=name,
                status="ok",
                fps=info.fps or None,
                acquisition=info.acquisition.value,
                vendor=info.vendor,
                transfer_syntax=info.transfer_syntax,
                warnings=list(info.warnings),
            )
            if info.acquisition in NOT_CLASSIFIED:
                result.status = "not_classified"
                result.reason = acquisition_reason(info)
                result.frames = info.n_frames or 0
                result.time_s = time.perf_counter() - t0
                return result
            rule = rule_for(engine)
            chain = chain_for(rule, smoother_cfg, fps=info.fps)
            rows = _observed(
                run_file(
                    engine,
                    src,
                    chain,
                    batch_size=batch_size,
                    queue_size=queue_size,
                    keep_frames=whole,
                    preprocess_workers=preprocess_workers,
                ),
                observer,
            )
    except Exception as err:  # noqa: BLE001 - one bad item must never cost the batch
        return CineResult(path=name, status="error", error=str(item_error(name, err)),
                          time_s=time.perf_counter() - t0)  # fmt: skip
    elapsed = time.perf_counter() - t0
    result.warnings = list(info.warnings)  # readers add some while reading (a cut video)
    if not rows:
        return CineResult(path=name, status="error", error=f"{name}: no frames", time_s=elapsed)
    probs = np.stack([r.probs for r in rows])  # (N, K)
    apply_verdict(result, verdict_for(probs, engine))
    result.frames = len(rows)
    result.time_s = elapsed
    result.frames_per_s = len(rows) / elapsed if elapsed > 0 else None
    if per_frame:
        result.per_frame = frame_rows(rows, engine.labels, rule)
    return result


def apply_verdict(result: CineResult, verdict: CineVerdict) -> None:
    """Copy a cine's verdict into its result (view, confidence, vote share, top-2; for an
    ``unknown`` cine, why)."""
    result.view = verdict.label
    result.confidence = verdict.confidence
    result.vote_share = verdict.vote_share
    result.by_mean = verdict.by_mean
    result.top2 = [asdict(c) for c in verdict.top2]
    if verdict.reason is not None:
        result.reason = verdict.reason


def frame_rows(
    rows: Sequence[FrameResult], labels: Sequence[str], rule: UnknownRule
) -> list[dict[str, Any]]:
    """One dict per frame: ``raw`` (this frame alone: a view or ``"unknown"``), ``label`` (after
    the temporal stages: a view, ``"unknown"`` or ``"uncertain"``), ``reason`` (why unknown)."""
    raw_reasons = rule.reasons(np.stack([r.probs for r in rows])) if rows else []
    out = []
    for r, raw_reason in zip(rows, raw_reasons, strict=True):
        out.append(
            {
                "index": r.index,
                "timestamp": round(r.timestamp, 4),
                "raw": UNKNOWN if raw_reason else labels[int(np.argmax(r.probs))],
                "raw_prob": float(np.max(r.probs)),
                "label": r.pred.label(labels),
                "confidence": r.pred.confidence,
                "uncertain": r.pred.uncertain,
                "reason": r.pred.reason if r.pred.unknown else None,
                "probs": {lab: round(float(p), 5) for lab, p in zip(labels, r.probs, strict=True)},
            }
        )
    return out


def default_workers() -> int:
    """Parallel decode threads: the machine's cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def classify_paths(
    files: Sequence[str],
    engine: Engine,
    cfg: dict[str, Any],
    *,
    workers: int | None = None,
    per_frame: bool = False,
    on_done: Callable[[CineResult], None] | None = None,
    namer: Callable[[str], str] = str,
) -> ClassifyReport:
    """Classify ``files`` one after the other (see :func:`expand_paths`); ``namer`` turns
    each path into what the report shows (e.g. a :class:`~echostream.stream.names.PathNamer`)."""
    reader, backend = cfg.get("reader", {}), cfg.get("backend", {})
    report = ClassifyReport(model=engine.describe(), smoother=describe_config(cfg.get("smoother")))
    report.model["unknown_rule"] = rule_for(engine).describe()
    for f in files:
        res = classify_file(
            engine,
            f,
            cfg.get("smoother"),
            workers=workers or int(reader.get("workers", 2)),
            batch_size=int(backend.get("batch_size", 8)),
            queue_size=int(reader.get("queue_size", 64)),
            reduced=bool(reader.get("reduced_scale", True)),
            per_frame=per_frame,
            preprocess_workers=int(reader.get("preprocess_workers", 1)),
            name=namer(f),
        )
        report.cines.append(res)
        if on_done is not None:
            on_done(res)
    return report
