"""Fixtures for the training package: a tiny toy DICOM dataset and its frame store."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    """8 views × 6 patients × 6 frames of 64×80 toy cines (2 vendors) with a manifest."""
    from echostream.train.toydata import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toy"), patients=6, frames=6, seed=0)


@pytest.fixture(scope="session")
def toy_store(toy_data, tmp_path_factory):
    from echostream.train.frame_store import build_frame_store
    from echostream.train.manifest import read_manifest

    return build_frame_store(
        read_manifest(toy_data), tmp_path_factory.mktemp("store"), (60, 80), progress=False
    )


@pytest.fixture
def tiny_config():
    """A factory of RunConfigs for seconds-long runs on the toy data."""
    return _tiny_config


def _tiny_config(**train):
    from echostream.train.config import config_from_dict

    t = {"batch_size": 32, "epochs": 2, "threads": 1, **train}
    return config_from_dict(
        {
            "name": "toy",
            "data": {"fractions": [0.67, 0.17, 0.16]},
            "train": t,
            "eval": {"tsne_max": 100, "batch_size": 64},
        }
    )
