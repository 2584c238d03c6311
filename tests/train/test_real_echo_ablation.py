"""scripts/real_echo_ablation.py: the run plan (variants in order, each with its seeds) and the
merging of a variant's overrides with the machine's (workers, threads)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "real_echo_ablation.py"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("real_echo_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plan_keeps_the_order_and_each_variants_seeds(ablation) -> None:
    got = ablation.plan("mnv1-050:0-2,full:4,aug-gamma", [0, 1])
    assert got == [
        ("mnv1-050", 0), ("mnv1-050", 1), ("mnv1-050", 2), ("full", 4),
        ("aug-gamma", 0), ("aug-gamma", 1),
    ]  # fmt: skip
    every = ablation.plan("", [0])
    assert every[0] == ("full", 0) and ("-all-realism", 0) in every and ("aug-none", 0) in every
    with pytest.raises(SystemExit, match="unknown variant 'fulll'"):
        ablation.plan("fulll", [0])


def test_overrides_merge_key_by_key(ablation) -> None:
    spec = {name: over for name, _, over in ablation.variants()}
    merged = ablation._merge(spec["+other"], {"data": {"workers": 2}, "train": {"workers": 1}})
    assert merged == {"data": {"other": True, "workers": 2}, "train": {"workers": 1}}
    assert spec["aug-gamma"]["augment"]["realism"]["gamma"] == 0.0
    assert spec["aug-gamma"]["augment"]["realism"]["box"] > 0  # only the one op is off


def test_a_base_recipe_is_under_every_variant(ablation) -> None:
    """``--base mnv1-025``: every variant trains the smaller network, a recipe variant that
    names its own network keeps it, and the machine's workers and threads come on top."""
    spec = {name: over for name, _, over in ablation.variants()}
    gamma = ablation.run_overrides(spec["aug-gamma"], "mnv1-025", workers=1, threads=2)
    assert gamma["model"]["name"] == "mobilenet_v1_025"
    assert gamma["augment"]["realism"]["gamma"] == 0.0
    assert gamma["train"] == {"workers": 1, "threads": 2}
    assert ablation.run_overrides(spec["mnv1-050"], "mnv1-025")["model"]["name"] == (
        "mobilenet_v1_050"
    )
    assert ablation.run_overrides(spec["full"]) == {}
