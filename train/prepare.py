"""A dataset made ready for training or evaluation: manifest → filtered → frame store → splits.

:func:`prepare_data` is what ``echostream train``, ``echostream evaluate`` and the experiment
grid's runs all read their frames through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from echostream.stream.unknown import OTHER

from .config import DataCfg
from .manifest import Manifest, read_manifest


@dataclass
class Prepared:
    """A dataset ready to use: its manifest, frame store, frame index and patient splits."""

    manifest: Manifest
    store: Any  # FrameStore
    index: Any  # DataFrame
    assign: dict[str, str]  # patient id → split


def filter_manifest(manifest: Manifest, data: DataCfg) -> Manifest:
    """Keep the configured vendors, then ``max_patients`` patients (seeded)."""
    entries = manifest.entries
    if data.vendors:
        entries = [e for e in entries if e.vendor in set(data.vendors)]
    if data.max_patients:
        patients = sorted({e.patient_id for e in entries})
        if len(patients) > data.max_patients:
            rng = np.random.default_rng(data.split_seed)
            keep = set(rng.choice(patients, data.max_patients, replace=False).tolist())
            entries = [e for e in entries if e.patient_id in keep]
    return replace(manifest, entries=entries)


def require_other_cines(manifest: Manifest, data_dir: str | Path) -> None:
    """Training with ``data.other`` needs OTHER cines: else its 9th output never sees one.
    (Evaluating a 9-class model on data without any is fine.)"""
    if not any(e.view == OTHER for e in manifest.entries):
        raise ValueError(
            f"{data_dir}: data.other is on (a 9th class, OTHER) but no cine is labelled OTHER "
            "(simulate them with --views ... OTHER, or label some in your data)"
        )


def prepare_data(
    data_dir: str | Path,
    data: DataCfg,
    input_hw: tuple[int, int],
    interpolation: str,
    *,
    build: bool = True,
    progress: bool = True,
    console: Any = None,
    training: bool = False,
) -> Prepared:
    """Manifest → filtered → frame store (built or opened) → patient split assignment.

    ``data.other``: the cines labelled ``OTHER`` are kept (label 8), else skipped; with
    ``training`` there must be some (:func:`require_other_cines`)."""
    from .frame_store import build_frame_store, default_store_dir, open_frame_store
    from .splits import split_patients

    manifest = filter_manifest(read_manifest(data_dir, other=data.other), data)
    if training and data.other:
        require_other_cines(manifest, data_dir)
    interp = data.interpolation or interpolation
    root = Path(data.store) if data.store else default_store_dir(data_dir, input_hw, interp)
    if build:
        store = build_frame_store(
            manifest, root, input_hw, interpolation=interp, workers=data.workers, progress=progress
        )
    else:
        store = open_frame_store(root, manifest, manifest.problems)
    if console is not None and store.problems:
        console.print(
            f"[yellow]skipped {len(store.problems)} cine(s)[/] (see {root / 'problems.csv'}):"
        )
        for p in store.problems[:10]:
            console.print(f"  {p}")
    if not len(store.cines):
        raise ValueError(f"{data_dir}: no readable cines")
    assign = split_patients(store.cines["patient_id"], data.fractions, seed=data.split_seed)
    return Prepared(manifest, store, store.index, assign)


def dataset_seed(data_dir: str | Path) -> int | None:
    """The simulator's seed, if the dataset records one (``simulation.json``/``dataset.json``)."""
    for name in ("simulation.json", "dataset.json"):
        p = Path(data_dir) / name
        if p.is_file():
            try:
                seed = json.loads(p.read_text()).get("seed")
                return int(seed) if seed is not None else None
            except (ValueError, AttributeError):
                return None
    return None


def write_splits(path: Path, prep: Prepared) -> None:
    """``splits.csv``: each cine's key, vendor, view and split."""
    c = prep.store.cines
    df = c[["key", "vendor", "view"]].assign(split=c["patient_id"].map(prep.assign).to_numpy())
    df.to_csv(path, index=False)
