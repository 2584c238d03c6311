from __future__ import annotations

import numpy as np
import pytest

from echostream.train.splits import check_no_leakage, print_split_table, split_patients, split_table


def test_80_10_10_by_patient_seeded():
    patients = [f"p{i:03d}" for i in range(100)]
    a = split_patients(patients, seed=3)
    counts = {s: list(a.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 80, "val": 10, "test": 10}
    assert a == split_patients(
        list(reversed(patients)) * 2, seed=3
    )  # order/duplicates don't matter
    assert a != split_patients(patients, seed=4)


def test_small_counts_keep_every_split():
    a = split_patients(["a", "b", "c"], seed=0)
    assert sorted(a.values()) == ["test", "train", "val"]
    with pytest.raises(ValueError):
        split_patients(["a"], (0.5, 0.5))


def test_no_leakage_on_frames(toy_store):
    idx = toy_store.index
    a = split_patients(idx["patient_id"], seed=0)
    split = idx["patient_id"].map(a)
    check_no_leakage(idx["patient_id"], split)  # every frame of a patient in one split
    for s in ("train", "val", "test"):
        assert not set(idx["patient_id"][split == s]) & set(idx["patient_id"][split != s])
    with pytest.raises(ValueError, match="leaks"):
        check_no_leakage(["p", "p"], ["train", "test"])


def test_split_table_counts(toy_store):
    from rich.console import Console

    idx = toy_store.index
    a = split_patients(idx["patient_id"], (0.67, 0.17, 0.16), seed=0)
    t = split_table(idx, a)
    assert t["images"].sum() == len(idx) and t["cines"].sum() == 48
    train = t[t["split"] == "train"]
    assert train["images"].sum() == 4 * 48 and np.all(
        train.groupby("view", observed=True)["cines"].sum() == 4
    )
    console = Console(record=True, width=120)
    print_split_table(t, console)
    text = console.export_text()
    assert "SAXBASAL" in text and "ToyVendorB" in text and "192 (32)" in text
