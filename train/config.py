"""Run configuration: a dataclass per stage-named YAML section, with ``scales:`` overrides.

A config file::

    name: exp1_baseline_adam
    seed: 0
    data:    {fractions: [0.8, 0.1, 0.1], split_seed: 0, frames_per_cine: null, other: false}
    model:   {name: baseline, pretrained: null, kwargs: {}}
    augment: {degrees: 10, translate: [0.1, 0.1], shear: 0.03, zoom: 0.08, hflip: false}
    optim:   {name: adam, lr: 1.0e-3}
    train:   {batch_size: 64, epochs: 50, stages: [{name: all, trainable: all}]}
    eval:    {split: test}
    scales:
      smoke: {data: {max_patients: 40}, train: {epochs: 5}}

``load_config(path, scale="smoke")`` deep-merges ``scales.smoke`` over the file (mappings
merge, lists and scalars replace: :func:`echostream.stream.settings.deep_merge`, the one merge
of every settings file) and returns a :class:`RunConfig`, its types checked by pydantic (a
wrong key or type names the file and the key); ``cfg.to_dict()`` is the
resolved config saved with the run.

``train.stages`` lists training stages run one after another (gradual unfreezing): each names
the model stages it trains (``trainable``: ``all`` or a list of names from ``model.stages``)
and may set its own ``epochs``, ``lr``, ``patience`` (early stopping on the monitored metric;
a stage's null takes ``train.patience``, whose null means no early stopping) and
``restore_best`` (load the stage's best weights before the next stage).
"""

from __future__ import annotations

from dataclasses import asdict, field
from pathlib import Path
from typing import Any, Literal

from pydantic.dataclasses import dataclass

from echostream.stream.settings import STRICT_KEYS, deep_merge, read_yaml_mapping, validated
from echostream.stream.unknown import OTHER
from echostream.stream.views import VIEWS


@dataclass(config=STRICT_KEYS)
class DataCfg:
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    max_patients: int | None = None  # keep this many patients (seeded) before splitting
    frames_per_cine: int | None = None  # evenly spaced frames per cine, all splits
    train_fraction: float | None = None  # subsample the training split (per class)
    train_max_images: int | None = None
    per_class: bool = True
    vendors: list[str] | None = None  # keep only these vendors
    store: str | None = None  # frame store folder; default DATA/.frame_store/<geometry>
    workers: int = 1  # decoding processes when building the store
    interpolation: str | None = None  # default: the model's
    # Keep the cines labelled OTHER as a 9th class "OTHER" (the runtime's unknown view);
    # "exposure": keep them to train the 8 outputs towards uniform on them (outlier exposure,
    # train.exposure_weight; no 9th class); false: they are skipped, as every view outside the 8.
    other: bool | Literal["exposure"] = False


def class_names(data: DataCfg) -> tuple[str, ...]:
    """The classes a run trains, in output order: the 8 views, then ``OTHER`` with
    ``data.other: true`` (outlier exposure, ``"exposure"``, keeps the 8).

    >>> class_names(DataCfg(other=True))[-2:]
    ('SUB4C', 'OTHER')
    >>> len(class_names(DataCfg(other="exposure")))
    8
    """
    return (*VIEWS, OTHER) if data.other is True else VIEWS


@dataclass(config=STRICT_KEYS)
class ModelSection:
    name: str = "baseline"
    pretrained: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(config=STRICT_KEYS)
class AugmentCfg:
    degrees: float = 10.0
    translate: tuple[float, float] = (0.1, 0.1)
    shear: float = 0.03  # radians
    zoom: float = 0.08
    hflip: bool = False
    vflip: bool = False
    # sim-to-real ops (train/augment_real.py): op name → probability; {} = none (the thesis)
    realism: dict[str, float] = field(default_factory=dict)
    box_jitter: float = 0.1  # the "box" op moves each crop edge by up to this fraction


@dataclass(config=STRICT_KEYS)
class OptimCfg:
    name: str = "adam"  # adam | rmsprop | sgd | adamw
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0


@dataclass(config=STRICT_KEYS)
class StageCfg:
    name: str = "all"
    trainable: str | list[str] = "all"
    epochs: int | None = None  # default: train.epochs
    lr: float | None = None  # default: optim.lr
    patience: int | None = None  # default: train.patience
    restore_best: bool | None = None  # default: train.restore_best


@dataclass(config=STRICT_KEYS)
class TrainCfg:
    batch_size: int = 64
    epochs: int = 50
    patience: int | None = None
    restore_best: bool = True
    monitor: str = "val_loss"  # val_loss | val_acc
    class_weights: bool = True
    label_smoothing: float = 0.0  # cross-entropy label smoothing (confident errors cost less)
    exposure_weight: float = 0.5  # with data.other: exposure, the weight of the uniform term
    workers: int = 0
    device: str = "auto"
    threads: int | None = None  # torch CPU threads
    tensorboard: bool = False
    stages: list[StageCfg] = field(default_factory=lambda: [StageCfg()])


@dataclass(config=STRICT_KEYS)
class EvalCfg:
    split: str = "test"
    batch_size: int = 256
    tsne_max: int = 2000
    ece_bins: int = 15


@dataclass(config=STRICT_KEYS)
class RunConfig:
    name: str = "run"
    seed: int = 0
    scale: str | None = None
    data: DataCfg = field(default_factory=DataCfg)
    model: ModelSection = field(default_factory=ModelSection)
    augment: AugmentCfg = field(default_factory=AugmentCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stage_settings(self, stage: StageCfg) -> dict[str, Any]:
        """A stage's effective epochs, lr, patience and restore_best."""
        t = self.train
        return {
            "epochs": stage.epochs if stage.epochs is not None else t.epochs,
            "lr": stage.lr if stage.lr is not None else self.optim.lr,
            "patience": stage.patience if stage.patience is not None else t.patience,
            "restore_best": stage.restore_best
            if stage.restore_best is not None
            else t.restore_best,
        }


def config_from_dict(
    d: dict[str, Any],
    *,
    scale: str | None = None,
    where: str = "config",
    overrides: dict | None = None,
) -> RunConfig:
    """A :class:`RunConfig` from a dict, after applying ``scales[scale]`` if given, then
    ``overrides``. A key the config does not know, or a value of the wrong type, is a
    ValueError naming ``where`` and the key (``optim.lr``, ``train.stages.0.epochs``)."""
    d = dict(d or {})
    scales = d.pop("scales", {}) or {}
    if scale:
        if scale not in scales:
            raise ValueError(f"{where}: no scale {scale!r} (has: {', '.join(scales) or 'none'})")
        d = deep_merge(d, scales[scale])
    if overrides:
        d = deep_merge(d, overrides)
    d["scale"] = scale or d.get("scale")
    cfg = validated(RunConfig, d, where)
    if not cfg.train.stages:
        raise ValueError(f"{where}: train.stages is empty")
    return cfg


def load_config(
    path: str | Path, *, scale: str | None = None, overrides: dict | None = None
) -> RunConfig:
    """Read a YAML config file, apply ``scales[scale]`` then ``overrides``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    d = read_yaml_mapping(path, "a config")
    d.setdefault("name", path.stem)
    return config_from_dict(d, scale=scale, where=str(path), overrides=overrides)
