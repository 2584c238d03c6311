"""Training configs (train/config.py): every shipped run config loads at each of its scales, and
a wrong key or type ends with one line naming the file and the key (stream/settings.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from echostream.train.config import config_from_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RUN_CONFIGS = sorted(
    p for p in CONFIGS.glob("*.yaml") if "experiment" not in yaml.safe_load(p.read_text())
)


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.stem)
def test_every_run_config_loads_at_each_scale(path: Path) -> None:
    scales = [None, *(yaml.safe_load(path.read_text()).get("scales") or {})]
    for scale in scales:
        cfg = load_config(path, scale=scale)
        assert cfg.name == path.stem and cfg.scale == scale
        assert isinstance(cfg.optim.lr, float) and isinstance(cfg.data.fractions, tuple)
        assert cfg.train.stages and all(cfg.stage_settings(s)["epochs"] for s in cfg.train.stages)


def test_values_yaml_reads_as_strings_become_numbers(tmp_path) -> None:
    """YAML 1.1 reads ``lr: 1e-3`` as the string "1e-3": the config gets the number."""
    path = tmp_path / "run.yaml"
    path.write_text("optim: {lr: 1e-3}\ntrain: {epochs: 2, stages: [{name: head, lr: 5e-4}]}\n")
    cfg = load_config(path)
    assert cfg.optim.lr == 0.001 and cfg.train.stages[0].lr == 0.0005


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"optim": {"lrr": 0.1}}, "optim.lrr: unknown key"),
        ({"train": {"stages": [{"name": "a", "epochs": "two"}]}}, "train.stages.0.epochs: "),
        ({"data": {"fractions": [0.8, 0.2]}}, "data.fractions"),
        ({"colour": "red"}, "colour: unknown key"),
    ],
)
def test_a_wrong_key_or_type_names_the_key(doc: dict, key: str) -> None:
    with pytest.raises(ValueError) as err:
        config_from_dict(doc, where="run.yaml")
    assert str(err.value).startswith("run.yaml: ") and key in str(err.value)
    assert "\n" not in str(err.value)


def test_sections_stay_dataclasses_with_their_defaults() -> None:
    cfg = config_from_dict({"train": {"patience": None, "stages": [{"name": "all"}]}})
    assert cfg.stage_settings(cfg.train.stages[0])["patience"] is None  # no early stopping
    assert dataclasses.replace(cfg.data, store=None).store is None
    assert cfg.to_dict()["augment"]["degrees"] == 10.0
    with pytest.raises(ValueError, match="train.stages is empty"):
        config_from_dict({"train": {"stages": []}})


def test_overrides_win_over_the_scale() -> None:
    """The ablation's 30-epoch variant ran the dev scale's 10 epochs: the scale was applied
    after the override."""
    cfg = load_config(
        CONFIGS / "realecho.yaml",
        scale="dev",
        overrides={"train": {"epochs": 30}, "optim": {"lr": 0.5}},
    )
    assert cfg.train.epochs == 30 and cfg.optim.lr == 0.5
    assert cfg.train.patience is None  # the rest of the scale still applies
    plain = load_config(CONFIGS / "realecho.yaml", scale="dev")
    assert plain.train.epochs == 10
