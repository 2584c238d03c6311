"""Write a simulated dataset: DIR/<patient>/<study>/<series>.dcm|.mp4 plus DIR/manifest.csv.

Each patient has one vendor (round robin over ``vendors``) and one cine per requested view; UIDs
and every pixel are derived from the seed, so the same arguments give the same bytes.

Example::

    cfg = DatasetConfig(out=Path("/tmp/sim"), patients=4, seed=1, n_frames=16)
    write_dataset(cfg)          # → /tmp/sim/manifest.csv
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from echostream.stream.views import NEIGHBOURS, VIEWS

from .cine import ALL_VIEWS, REALISM_FEATURES, Cine, CineSpec, render_cine
from .display import DISPLAY_KINDS
from .poses import OTHER
from .vendors import VENDORS

FORMATS = ("dicom", "mp4")
ENCODINGS = ("jpeg", "rgb", "mono")
MANIFEST_COLUMNS = (
    "path",
    "patient_id",
    "study_id",
    "series_id",
    "vendor",
    "model",
    "view",
    "true_view",
    "label_flipped",
    "n_frames",
    "fps",
    "width",
    "height",
    "region",
    "sweep",
    "frame_labels",
    "simulated",
)


@dataclass(frozen=True)
class DatasetConfig:
    out: Path
    patients: int = 20
    vendors: tuple[str, ...] = tuple(VENDORS)
    views: tuple[str, ...] = VIEWS
    seed: int = 0
    fmt: str = "dicom"
    encoding: str = "jpeg"
    workers: int = 2
    label_noise: float = 0.0
    n_frames: int | None = None
    size: tuple[int, int] | None = None  # None: each vendor's own screen size
    scale: float | None = None  # alternative to size: fraction of the vendor's screen
    sweep: bool = False
    ablate: tuple[str, ...] = ()  # realism features switched off (cine.REALISM_FEATURES)
    display: str = ""  # "": drawn per cine; else every cine screen | letterbox | echonet

    def __post_init__(self) -> None:
        check_config(self)


def check_config(cfg: DatasetConfig) -> None:
    """Raise ``ValueError`` with a one-line reason for any bad setting."""
    if cfg.patients < 1:
        raise ValueError(f"--patients must be ≥ 1, not {cfg.patients}")
    if not cfg.vendors:
        raise ValueError("--vendors is empty")
    bad = [v for v in cfg.vendors if v not in VENDORS]
    if bad:
        raise ValueError(f"unknown vendor(s) {', '.join(bad)}; choose from {', '.join(VENDORS)}")
    if not cfg.views:
        raise ValueError("--views is empty")
    bad = [v for v in cfg.views if v not in ALL_VIEWS]
    if bad:
        raise ValueError(f"unknown view(s) {', '.join(bad)}; choose from {', '.join(ALL_VIEWS)}")
    if len(set(cfg.views)) != len(cfg.views):
        raise ValueError("--views lists a view twice")
    if cfg.fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {cfg.fmt!r}")
    if cfg.encoding not in ENCODINGS:
        raise ValueError(f"--encoding must be one of {', '.join(ENCODINGS)}, not {cfg.encoding!r}")
    if cfg.workers < 1:
        raise ValueError(f"--workers must be ≥ 1, not {cfg.workers}")
    if not 0.0 <= cfg.label_noise <= 1.0:
        raise ValueError(f"--label-noise must be in [0, 1], not {cfg.label_noise}")
    if cfg.n_frames is not None and not 1 <= cfg.n_frames <= 2000:
        raise ValueError(f"--frames-per-cine must be in 1..2000, not {cfg.n_frames}")
    if cfg.size is not None and (cfg.size[0] < 64 or cfg.size[1] < 48):
        raise ValueError(f"--size {cfg.size[0]}x{cfg.size[1]} is too small (min 64x48)")
    if cfg.display and cfg.display not in DISPLAY_KINDS:
        raise ValueError(
            f"--display must be one of {', '.join(DISPLAY_KINDS)}, not {cfg.display!r}"
        )
    bad = [f for f in cfg.ablate if f not in REALISM_FEATURES]
    if bad:
        raise ValueError(
            f"--ablate: unknown feature(s) {', '.join(bad)}; known: {', '.join(REALISM_FEATURES)}"
        )
    if cfg.scale is not None and not 0.1 <= cfg.scale <= 1.0:
        raise ValueError(f"--scale must be in [0.1, 1], not {cfg.scale}")


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` → (640, 480); a clear ``ValueError`` otherwise."""
    try:
        w, h = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 640x480, not {text!r}") from None
    return w, h


@dataclass(frozen=True)
class Job:
    spec: CineSpec
    rel_path: str
    patient_id: str
    study_id: str
    series_id: str
    series_number: int
    label: str
    flipped: bool
    fmt: str
    encoding: str
    out: str
    uids: dict[str, str] = field(default_factory=dict)


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["echostream-sim", *map(str, parts)]))


def plan(cfg: DatasetConfig) -> list[Job]:
    """All cines of the dataset, in manifest order (deterministic)."""
    jobs = []
    for p in range(cfg.patients):
        vendor = cfg.vendors[p % len(cfg.vendors)]
        size = cfg.size
        if size is None and cfg.scale is not None:
            w, h = VENDORS[vendor].size
            size = (int(round(w * cfg.scale)) // 2 * 2, int(round(h * cfg.scale)) // 2 * 2)
        pid, sid = f"P{p:04d}", "ST01"
        for k, view in enumerate(cfg.views):
            rng = np.random.default_rng([cfg.seed, p, ALL_VIEWS.index(view), 4242])
            label, flipped = view, False
            if view != OTHER and rng.random() < cfg.label_noise:
                label, flipped = str(rng.choice(NEIGHBOURS[view])), True
            series = f"SE{k + 1:02d}"
            ext = "dcm" if cfg.fmt == "dicom" else "mp4"
            jobs.append(
                Job(
                    spec=CineSpec(
                        cfg.seed,
                        p,
                        view,
                        vendor,
                        size=size,
                        n_frames=cfg.n_frames,
                        sweep=cfg.sweep,
                        ablate=tuple(cfg.ablate),
                        display=cfg.display,
                    ),
                    rel_path=f"{pid}/{sid}/{series}.{ext}",
                    patient_id=pid,
                    study_id=f"{pid}-{sid}",
                    series_id=series,
                    series_number=k + 1,
                    label=label,
                    flipped=flipped,
                    fmt=cfg.fmt,
                    encoding=cfg.encoding,
                    out=str(cfg.out),
                    uids={
                        "study": _uid(cfg.seed, p, "study"),
                        "series": _uid(cfg.seed, p, view, "series"),
                        "sop": _uid(cfg.seed, p, view, "sop"),
                    },
                )
            )
    return jobs


def _run_length(labels: Sequence[str]) -> str:
    out: list[str] = []
    for lab in labels:
        if out and out[-1].split(":")[0] == lab:
            name, n = out[-1].split(":")
            out[-1] = f"{name}:{int(n) + 1}"
        else:
            out.append(f"{lab}:1")
    return ";".join(out)


def write_cine_file(cine: Cine, path: Path, job: Job) -> None:
    """Write ``cine`` as DICOM (via the shared writer) or MP4 (PyAV, H.264 yuv420p)."""
    if job.fmt == "mp4":
        write_mp4(path, cine.frames, cine.fps)
        return
    from echostream.stream.dicom_writer import Device, Identity, UltrasoundRegion, write_cine

    style = VENDORS[job.spec.vendor]
    x0, y0, x1, y1 = cine.region
    p = cine.patient
    write_cine(
        path,
        cine.frames,
        fps=cine.fps,
        encoding=job.encoding,
        device=Device(style.manufacturer, style.model_name),
        regions=[
            UltrasoundRegion(
                x0, y0, x1, y1, delta_cm=1.0 / cine.px_per_cm, reference_y0=cine.apex_y
            )
        ],
        identity=Identity(
            patient_name=p.name,
            patient_id=p.patient_id,
            birth_date=p.birth_date,
            study_date=p.study_date,
            study_time=p.study_time,
            study_uid=job.uids["study"],
            series_uid=job.uids["series"],
            sop_uid=job.uids["sop"],
            series_number=job.series_number,
        ),
    )


def write_mp4(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """H.264 (yuv420p, single-threaded so the bytes are reproducible) in an MP4 container."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    he, we = h - h % 2, w - w % 2
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(int(round(fps * 1000)), 1000))
        stream.width, stream.height = we, he
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "threads": "1"}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:he, :we]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def run_job(job: Job) -> dict[str, object]:
    """Render and write one cine; return its manifest row."""
    cine = render_cine(job.spec)
    path = Path(job.out) / job.rel_path
    write_cine_file(cine, path, job)
    style = VENDORS[job.spec.vendor]
    h, w = cine.frames[0].shape[:2]
    return {
        "path": job.rel_path,
        "patient_id": job.patient_id,
        "study_id": job.study_id,
        "series_id": job.series_id,
        "vendor": style.key,
        "model": style.model_name,
        "view": job.label,
        "true_view": job.spec.view,
        "label_flipped": int(job.flipped),
        "n_frames": len(cine.frames),
        "fps": f"{cine.fps:g}",
        "width": w,
        "height": h,
        "region": " ".join(map(str, cine.region)),
        "sweep": int(bool(cine.info["sweep_partner"])),
        "frame_labels": _run_length(cine.labels) if cine.info["sweep_partner"] else "",
        "simulated": 1,
    }


def iter_rows(jobs: Sequence[Job], workers: int) -> Iterator[dict[str, object]]:
    """Run ``jobs`` in ``workers`` processes (one process per worker), yielding rows."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(run_job, jobs)
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes=workers) as pool:
        yield from pool.imap_unordered(run_job, jobs, chunksize=1)


def write_dataset(
    cfg: DatasetConfig, on_row: Callable[[dict[str, object]], None] | None = None
) -> Path:
    """Write every cine and the manifest; ``on_row`` is called as each cine finishes."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    jobs = plan(cfg)
    rows = []
    for row in iter_rows(jobs, cfg.workers):
        rows.append(row)
        if on_row:
            on_row(row)
    order = {j.rel_path: i for i, j in enumerate(jobs)}
    rows.sort(key=lambda r: order[str(r["path"])])
    manifest = cfg.out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    meta["note"] = "Simulated echo (echostream simulator); not real patient data."
    meta.pop("out")
    meta.pop("workers")  # the bytes do not depend on it
    (cfg.out / "simulation.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return manifest
