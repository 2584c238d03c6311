"""Sweep cines for the smoothing benchmark: one simulated probe sweeping between views, with a
per-frame truth sidecar (``<cine>.labels.json``) that ``echostream bench stream --sweep`` reads.

>>> sweep_paths("sweeps/sweep.dcm", [1])
[PosixPath('sweeps/sweep.dcm')]
>>> [p.name for p in sweep_paths("sweeps/sweep.dcm", [1, 2])]
['sweep-seed1.dcm', 'sweep-seed2.dcm']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from echostream.stream.atomic import atomic_write
from echostream.stream.dicom_writer import UltrasoundRegion, write_cine
from echostream.stream.views import VIEWS

from .cine import CineSpec, render_cine

#: The sweep cine's default acoustic window: poor, the hard case smoothing exists for.
POOR_WINDOW = 0.1
#: Default hand drift towards the neighbouring view while holding one (0–0.45).
HAND_WOBBLE = 0.35


def sweep_paths(out: str | Path, seeds: Sequence[int]) -> list[Path]:
    """Where the sweep cine of each seed goes: ``out`` itself for one seed, else
    ``NAME-seedN.dcm`` beside it."""
    out = Path(out)
    if len(seeds) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-seed{s}{out.suffix or '.dcm'}") for s in seeds]


def make_sweep(
    out: str | Path,
    *,
    views: Sequence[str] = ("A4C", "A3C", "SAXMID", "PLAX"),
    frames_per_view: int = 600,
    size: tuple[int, int] = (800, 600),
    vendor: str = "epiq7g",
    seed: int = 1,
    quality: float | None = POOR_WINDOW,
    wobble: float = HAND_WOBBLE,
) -> Path:
    """Write a simulated cine that sweeps between views (each view's own probe sweep, one
    after the other, same patient and scanner) as JPEG DICOM, with its ``.labels.json``
    sidecar: the view per frame, ``null`` while the probe moves between views.

    ``quality`` is the acoustic window, 0 (poor) … 1 (excellent), ``None`` for the simulated
    patient's own. The default is a poor window (0.1): the hard case smoothing exists for,
    where raw per-frame labels flicker on steady views. Each view's sweep holds the view for
    25 %, moves, holds its partner view for 30 %, and comes back (see ``sweep_weight``), so
    600 frames at 30-80 fps give 2-5 s of steady stretch per view. Tune smoothing on one
    ``seed`` and report on another. ``wobble`` (0–0.45) lets the hand-held probe drift towards
    the neighbouring view while it holds one (truth unchanged: see ``hand_wobble``), which is
    where per-frame labels waver in practice."""
    frames: list[np.ndarray] = []
    labels: list[str | None] = []
    fps: float | None = None
    region: tuple[int, int, int, int] = (0, 0, size[0], size[1])
    for view in views:
        spec = CineSpec(seed=seed, patient=0, view=view, vendor=vendor, size=size,
                        n_frames=frames_per_view, sweep=True, quality=quality,
                        wobble=wobble)  # fmt: skip
        cine = render_cine(spec)
        fps = fps or cine.fps
        region = cine.region if not frames else region
        frames += cine.frames
        # Transit frames (probe between two views) have no steady truth: left out of flicker.
        moving = cine.moving or [False] * len(cine.labels)
        labels += [
            lab if lab in VIEWS and not move else None
            for lab, move in zip(cine.labels, moving, strict=True)
        ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_cine(out, frames, fps=float(fps or 30.0), regions=[UltrasoundRegion(*region)])
    atomic_write(
        out.with_suffix(".labels.json"),
        json.dumps(
            {
                "labels": labels,
                "fps": fps,
                "views": list(views),
                "simulated": True,
                "seed": seed,
                "quality": quality,
                "wobble": wobble,
                "frames_per_view": frames_per_view,
            }
        ),  # fmt: skip
    )
    return out
