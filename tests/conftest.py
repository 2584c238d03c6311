"""Shared fixtures: real scanners' files from PyPI packages, and paths to shared weights."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# Ray reads its authentication mode once, when first imported: the test cluster (ray_cluster)
# and the tests connecting to it use tokens (Ray's default for a new local cluster).
os.environ.setdefault("RAY_AUTH_MODE", "token")
# A fresh machine has no token (~/.ray/auth_token), and `ray start` does not make one: the test
# session's nodes and drivers share one made for it, in the environment (nothing is written).
if not (
    os.environ.get("RAY_AUTH_TOKEN")
    or os.environ.get("RAY_AUTH_TOKEN_PATH")
    or (Path.home() / ".ray" / "auth_token").is_file()
):
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
SHARED = REPO.parent / "shared"
TFLITE_DIR = SHARED / "weights" / "imagenet-mobilenet-tflite"


@pytest.fixture(scope="session")
def ybr_color_path() -> Path:
    """pydicom's real 30-frame SonoSite echo cine (240×320, JPEG baseline YBR_FULL_422)."""
    from pydicom import examples

    return Path(examples.get_path("ybr_color"))


def _testdata(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} not available (install the dev extra: pydicom-data)")
    return Path(path)


@pytest.fixture(scope="session")
def color3d_path() -> Path:
    """pydicom-data's 120-frame 480×640 JPEG baseline echo cine."""
    return _testdata("color3d_jpeg_baseline.dcm")


@pytest.fixture(scope="session")
def epiq_still_path() -> Path:
    """pydicom-data's Philips EPIQ still (JPEG lossless, 1024×768)."""
    return _testdata("JPGLosslessP14SV1_1s_1f_8b.dcm")


@pytest.fixture(scope="session")
def tflite_dir() -> Path:
    if not TFLITE_DIR.is_dir():
        pytest.skip(f"ImageNet TFLite weights not found at {TFLITE_DIR}")
    return TFLITE_DIR


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A real two-node Ray cluster on 127.0.0.1 (head + worker, 1 CPU each; ``.address``,
    ``.temp`` its folder; ``tests/ray_cluster.py``), stopped at the end of the session."""
    pytest.importorskip("ray.data", reason="ray[data] is not installed (dev extra)")
    from .ray_cluster import LocalRayCluster

    with LocalRayCluster() as cluster:
        yield cluster
