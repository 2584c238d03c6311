"""A tiny, learnable toy dataset of real DICOM cines, for tests and quick runs.

Not ultrasound: each view is a bright blob at its own place on a 2×4 grid inside a region
(with a black border and a bright "text" strip outside it that the region crop must cut away),
plus noise and a small per-frame wobble. A small CNN separates the views in a few epochs.

Example::

    root = make_toy_dataset("/tmp/toy", patients=6, frames=6)
    m = read_manifest(root)
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from echostream.stream.views import VIEWS

TOY_VENDORS = (("ToyVendorA", "A1"), ("ToyVendorB", "B1"))
MANIFEST_COLUMNS = ("path", "patient_id", "study_id", "vendor", "model", "view", "n_frames", "fps")


def toy_frames(view: int, frames: int, hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(frames, H, W) uint8 of one toy cine of class ``view`` (0–7)."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    row, col = divmod(view, 4)
    cy, cx = h * (0.3 + 0.4 * row), w * (0.14 + 0.24 * col)
    out = np.empty((frames, h, w), dtype=np.uint8)
    for t in range(frames):
        dy, dx = rng.normal(0, 1.0, 2)
        blob = 200 * np.exp(-((yy - cy - dy) ** 2 + (xx - cx - dx) ** 2) / (2 * (0.09 * h) ** 2))
        img = 30 + blob + rng.normal(0, 12, (h, w))
        out[t] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def make_toy_dataset(
    root: str | Path,
    *,
    patients: int = 6,
    frames: int = 6,
    hw: tuple[int, int] = (64, 80),
    views: tuple[str, ...] = VIEWS,
    seed: int = 0,
    encoding: str = "mono",
) -> Path:
    """Write ``patients × len(views)`` toy cines and ``root/manifest.csv``; returns ``root``."""
    from echostream.stream.dicom_writer import Device, Identity, UltrasoundRegion, write_cine

    root = Path(root)
    rng = np.random.default_rng(seed)
    h, w = hw
    border = 4
    rows = []
    for p in range(patients):
        vendor, model = TOY_VENDORS[p % len(TOY_VENDORS)]
        pid = f"toy{p:03d}"
        for view in views:
            body = toy_frames(VIEWS.index(view), frames, (h, w), rng)
            screen = np.zeros((frames, h + 2 * border, w + 2 * border), dtype=np.uint8)
            screen[:, border : border + h, border : border + w] = body
            screen[:, :2, :] = 255  # burned-in "text" outside the region
            rel = f"{pid}/study1/{view.lower()}.dcm"
            region = UltrasoundRegion(x0=border, y0=border, x1=border + w, y1=border + h)
            write_cine(
                root / rel,
                list(screen),
                fps=25.0,
                encoding=encoding,
                device=Device(vendor, model),
                regions=[region],
                identity=Identity(patient_name="TOY^PATIENT", patient_id=pid),
            )
            rows.append(
                {
                    "path": rel,
                    "patient_id": pid,
                    "study_id": f"{pid}-s1",
                    "vendor": vendor,
                    "model": model,
                    "view": view,
                    "n_frames": frames,
                    "fps": 25.0,
                }
            )
    root.mkdir(parents=True, exist_ok=True)
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return root
