"""Evaluate an exported ONNX model file (fp32, fp16 or int8) on a dataset split.

The model file describes itself (:class:`~echostream.stream.model_file.ModelInfo`): its input
geometry and interpolation pick (or build) the frame store, exactly as for a checkpoint; each
stored crop (:meth:`Preprocessor.to_uint8` output) is normalised with the file's own mean/std by
:meth:`Preprocessor.from_pixels`, and the batch runs through an inference backend
(ONNX Runtime by default). The metrics and report are those of a checkpoint evaluation.

An ONNX file does not expose the penultimate layer, so the t-SNE uses the torch checkpoint the
metadata names when it sits beside the file with the recorded sha256; otherwise the report says
why the t-SNE is missing.

Example::

    metrics = evaluate_onnx("model.int8.onnx", "data/sim-test", split="all", out="eval_int8")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from echostream.stream.unknown import OTHER

from .config import RunConfig, config_from_dict
from .evaluate import Predictions, ReportSettings, compute_metrics, predict, write_report

#: Backends that run an ONNX file (``auto``: TensorRT where present, else ONNX Runtime).
ONNX_BACKENDS = ("onnxruntime", "tensorrt", "auto")


def _progress(enabled: bool):
    from .frame_store import _progress as bar

    return bar(enabled)


def beside_checkpoint(model_file: Path, info) -> tuple[Path | None, str]:
    """The checkpoint the metadata records, if it sits beside ``model_file`` unchanged.

    Returns (path or None, reason when None).
    """
    from echostream.stream.model_file import file_sha256

    if not info.checkpoint:
        return None, "the model file records no checkpoint"
    path = (model_file.parent / info.checkpoint).resolve()
    if not path.is_file():
        return None, f"its checkpoint {info.checkpoint} is not beside the model file"
    want = str(info.extra.get("checkpoint_sha256", ""))
    if want and file_sha256(path) != want:
        return None, f"{path.name} is not the checkpoint this file was exported from (sha256)"
    return path, ""


def same_dataset(provenance: dict[str, Any], data_dir: str | Path) -> bool:
    """Whether ``data_dir`` is the dataset the model was trained on (its manifest path)."""
    from .manifest import manifest_path

    try:
        trained = json.loads(provenance.get("data") or "{}").get("manifest")
    except (json.JSONDecodeError, AttributeError):
        return False
    return bool(trained) and Path(trained).resolve() == manifest_path(data_dir).resolve()


def _label_map(model_labels: tuple[str, ...]) -> np.ndarray:
    """Store label (the 8 views, then OTHER) → the model's output index, or -1 when it has no
    such class."""
    from .manifest import CLASSES_WITH_OTHER

    return np.array(
        [model_labels.index(v) if v in model_labels else -1 for v in CLASSES_WITH_OTHER]
    )


def onnx_predict(
    backend,
    frames: np.ndarray,
    store_rows: np.ndarray,
    *,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Probabilities ``(N, K)`` for ``frames[store_rows]`` (uint8 crops) through ``backend``."""
    from echostream.stream.preprocess import Preprocessor

    info = backend.info
    pre = Preprocessor.from_model_info(info)
    out = []
    with _progress(progress) as bar:
        task = bar.add_task("predict (onnx)", total=len(store_rows))
        for i in range(0, len(store_rows), batch_size):
            chunk = store_rows[i : i + batch_size]
            x = np.stack([pre.from_pixels(np.asarray(frames[r])) for r in chunk])
            out.append(backend.predict(x))
            bar.advance(task, len(chunk))
    return np.concatenate(out) if out else np.zeros((0, info.num_classes), np.float32)


def _checkpoint_features(ckpt_path: Path, prep, rows: np.ndarray, batch_size: int) -> np.ndarray:
    """Penultimate features of the checkpoint on ``rows`` (same order), for the t-SNE."""
    from echostream.models.checkpoint import load_checkpoint

    from .data import eval_loader

    model, _ = load_checkpoint(ckpt_path)
    loader = eval_loader(model, prep.store.frames, prep.index, rows, batch_size)
    feats = predict(model, loader, "cpu", features=True).features
    if feats is None:
        raise ValueError(f"{ckpt_path.name}: the model has no 'head' stage to read features from")
    return feats


@dataclass
class SplitRun:
    """An ONNX model's probabilities on one split of a dataset, and what produced them."""

    info: Any  # the model file's ModelInfo
    cfg: RunConfig
    prep: Any  # the prepared dataset (manifest, frame store, split assignment)
    rows: np.ndarray
    labels: np.ndarray  # in the model's label order
    probs: np.ndarray
    cines: np.ndarray
    backend: str
    notes: list[str]  # lines for the report, in the order they arose
    ckpt_path: Path | None
    why_not: str  # why there is no checkpoint beside the file ("" when there is)
    # Frames labelled OTHER in the data that the model has no class for: (M, K), maybe empty
    other_probs: np.ndarray | None = None
    other_rows: np.ndarray | None = None  # their index rows (as ``rows``)

    def known_and_other(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, labels) of the frames of the 8 views and the probabilities of the
        frames labelled OTHER (the model's OTHER class or not)."""
        other = self.info.labels.index(OTHER) if OTHER in self.info.labels else -1
        is_other = self.labels == other
        extra = self.other_probs if self.other_probs is not None else self.probs[:0]
        return (self.probs[~is_other], self.labels[~is_other],
                np.concatenate([self.probs[is_other], extra]))  # fmt: skip


@dataclass
class PreparedSplit:
    """A split of a dataset made ready for a model file: its frames, labels and training
    context, before any inference."""

    info: Any
    cfg: RunConfig
    prep: Any
    rows: np.ndarray
    other_rows: np.ndarray
    labels: np.ndarray
    cines: np.ndarray
    notes: list[str]
    ckpt_path: Path | None
    why_not: str

    @property
    def store_rows(self) -> np.ndarray:
        """Frame-store rows of the known frames, then of the OTHER frames."""
        return self.prep.index["row"].to_numpy()[np.concatenate([self.rows, self.other_rows])]

    def with_probs(self, probs: np.ndarray, backend: str) -> SplitRun:
        """The run, given the probabilities of :attr:`store_rows` (in that order)."""
        n = len(self.rows)
        return SplitRun(self.info, self.cfg, self.prep, self.rows, self.labels, probs[:n],
                        self.cines, backend, self.notes, self.ckpt_path, self.why_not,
                        other_probs=probs[n:], other_rows=self.other_rows)  # fmt: skip


def prepare_split(
    model_file: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    progress: bool = True,
    console: Any = None,
) -> PreparedSplit:
    """``split`` of ``data_dir`` for ``model_file`` (the training run's patient split, from the
    checkpoint beside the file, else the default config's, noted). Cines labelled ``OTHER`` are
    kept when the training run kept them (``data.other``) or ``split`` is ``all`` (a patient
    split made without them would not place them)."""
    from .runner import prepare_data

    path = Path(model_file)
    info = _store_model_info(path)
    notes: list[str] = []
    ckpt_path, why_not = beside_checkpoint(path, info)
    cfg = _training_config(ckpt_path, why_not, split, notes)
    if cfg.data.store and not same_dataset(info.provenance, data_dir):
        # A store path in the training config holds the training data; another dataset with
        # the same relative cine paths would overwrite its rows. Use the dataset's own store.
        cfg.data = replace(cfg.data, store=None)
    cfg.data = replace(cfg.data, other=cfg.data.other or split == "all")
    prep = prepare_data(data_dir, cfg.data, (info.height, info.width), info.interpolation,
                        progress=progress, console=console)  # fmt: skip
    lut = _label_map(info.labels)
    rows, other_rows = _known_rows(prep, split, cfg, lut, notes)
    if not len(rows):
        raise ValueError(f"{data_dir}: the {split!r} split is empty")
    labels = lut[prep.index["label"].to_numpy()[rows]]
    cines = prep.index["cine"].to_numpy()[rows]
    return PreparedSplit(info, cfg, prep, rows, other_rows, labels, cines, notes, ckpt_path,
                         why_not)  # fmt: skip


def predict_split(
    model_file: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    backend: str = "onnxruntime",
    threads: int = 0,
    progress: bool = True,
    console: Any = None,
) -> SplitRun:
    """Run ``model_file`` on ``split`` of ``data_dir`` (:func:`prepare_split`) through an
    inference backend."""
    from echostream.stream.backends import load_backend

    if backend not in ONNX_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(ONNX_BACKENDS)}, not {backend!r}")
    ready = prepare_split(model_file, data_dir, split=split, progress=progress, console=console)
    runner = load_backend(Path(model_file), backend, threads=threads)
    try:
        probs = onnx_predict(runner, ready.prep.store.frames, ready.store_rows,
                             batch_size=ready.cfg.eval.batch_size, progress=progress)  # fmt: skip
        return ready.with_probs(probs, runner.name)
    finally:
        runner.close()


def evaluate_onnx(
    model_file: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    out: str | Path | None = None,
    backend: str = "onnxruntime",
    threads: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model_file`` on ``split`` of ``data_dir``; writes the report into ``out``
    (default ``<model dir>/eval_<model stem>_<split>``) and returns the metrics.

    ``split`` other than ``all`` needs the patient split of the training run: it comes from the
    checkpoint beside the file (its config), else the default config's split is used (noted).
    """
    from .runner import _console, print_metrics

    path = Path(model_file)
    console = _console()
    run = predict_split(path, data_dir, split=split, backend=backend, threads=threads,
                        progress=progress, console=console)  # fmt: skip
    info, prep, notes = run.info, run.prep, run.notes
    keys = dict(
        zip(run.cines.tolist(), prep.index["key"].to_numpy()[run.rows].tolist(), strict=True)
    )
    features = _tsne_features(run.ckpt_path, run.why_not, prep, run.rows,
                              run.cfg.eval.batch_size, notes)  # fmt: skip
    metrics = compute_metrics(run.labels, run.probs, run.cines, info.labels,
                              ece_bins=run.cfg.eval.ece_bins)  # fmt: skip
    known_probs, known_labels, other_probs = run.known_and_other()
    if len(other_probs):
        from echostream.stream.unknown import UnknownRule

        from .unknown_fit import unknown_metrics

        rule = UnknownRule.from_info(info)
        metrics["unknown"] = unknown_metrics(known_probs, known_labels, other_probs, rule)
    pred = Predictions(labels=run.labels, probs=run.probs, cines=run.cines, features=features)
    simulated = prep.manifest.simulated  # the banner speaks of the data these numbers come from
    if info.simulated_data and not simulated:
        notes.append(
            "the model was trained on simulated data only; these numbers are on the real "
            "files listed here"
        )
    out_dir = Path(out) if out else path.parent / f"eval_{path.name.removesuffix('.onnx')}_{split}"
    settings = ReportSettings(
        title=f"{path.name} on {split}",
        simulated=simulated,
        context=_context(path, info, run.backend, split, prep),
        tsne_max=run.cfg.eval.tsne_max,
        ece_bins=run.cfg.eval.ece_bins,
        notes=notes,
        keys=keys,
    )
    write_report(out_dir, metrics, pred, settings)
    print_metrics(metrics, console, simulated=simulated, title=f"{split} ({out_dir})")
    if "unknown" in metrics:
        from .evaluate import unknown_lines

        for line in unknown_lines(metrics["unknown"], simulated=simulated):
            console.print(line, highlight=False, markup=False)
    return metrics


def _store_model_info(path: Path):
    """The model file's metadata, checked against what the frame store keeps (region crops
    stretched to the input size)."""
    from echostream.stream.model_file import ModelInfo

    info = ModelInfo.from_onnx(path)  # ModelFileError (a ValueError) names the file
    if info.resize != "stretch" or info.crop != "region":
        raise ValueError(
            f"{path}: the frame store keeps region crops stretched to the input size; this "
            f"model asks resize={info.resize!r}, crop={info.crop!r}"
        )
    return info


def _training_config(
    ckpt_path: Path | None, why_not: str, split: str, notes: list[str]
) -> RunConfig:
    """The training run's config from the checkpoint beside the file, else the default one
    (noted when a split other than ``all`` depends on it)."""
    from echostream.models.checkpoint import read_checkpoint

    cfg = RunConfig()
    if ckpt_path is not None:
        ckpt = read_checkpoint(ckpt_path)
        if ckpt.get("config"):
            cfg = config_from_dict(dict(ckpt["config"]), where=str(ckpt_path))
    elif split != "all":
        notes.append(
            f"no training config found ({why_not}); the {split!r} split uses the default "
            f"patient split (fractions {list(cfg.data.fractions)}, seed {cfg.data.split_seed})"
        )
    return cfg


def _known_rows(
    prep, split: str, cfg: RunConfig, lut: np.ndarray, notes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Index rows of ``split`` whose class the model has, and those labelled OTHER when the
    model has no OTHER class (for the known-vs-unknown numbers); frames of other views the
    model lacks are left out, noted."""
    from .data import select_rows
    from .manifest import CLASSES_WITH_OTHER

    rows = select_rows(prep.index, prep.assign, split, frames_per_cine=cfg.data.frames_per_cine)
    store_labels = prep.index["label"].to_numpy()[rows]
    known = lut[store_labels] >= 0
    is_other = store_labels == CLASSES_WITH_OTHER.index(OTHER)
    other_rows = rows[is_other & ~known]
    lacking = ~known & ~is_other
    if lacking.any():
        notes.append(f"{int(lacking.sum())} frame(s) of views this model lacks were left out")
    return rows[known], other_rows


def _tsne_features(
    ckpt_path: Path | None,
    why_not: str,
    prep,
    rows: np.ndarray,
    batch_size: int,
    notes: list[str],
) -> np.ndarray | None:
    """Penultimate features for the t-SNE from the checkpoint beside the file, when there is
    one that has them (either way, noted)."""
    if ckpt_path is None:
        notes.append(f"t-SNE skipped: an ONNX file has no penultimate features and {why_not}")
        return None
    try:
        features = _checkpoint_features(ckpt_path, prep, rows, batch_size)
    except ValueError as err:
        notes.append(f"t-SNE skipped: {err}")
        return None
    notes.append(f"t-SNE features from the checkpoint beside the file ({ckpt_path.name})")
    return features


def _context(path: Path, info, backend_name: str, split: str, prep) -> dict[str, Any]:
    """The report's lines on the model, backend and data."""
    eval_simulated = prep.manifest.simulated
    return {
        "model file": path.name,
        "model": f"{info.model_name} {info.model_version}".strip(),
        "precision": info.precision,
        "backend": backend_name,
        "split": split,
        "data": str(prep.manifest.root),
        "evaluation data simulated": "yes" if eval_simulated else "no",
        "training data simulated (model metadata)": "yes" if info.simulated_data else "no",
        "patients in split": len({p for p, s in prep.assign.items() if s == split})
        if split != "all"
        else len(prep.assign),
    }
