"""scripts/occlusion_maps.py: the map marks the pixels a model's answer rests on, and only those."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "occlusion_maps.py"


def load():
    spec = importlib.util.spec_from_file_location("occlusion_maps", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_map_is_positive_on_the_cue_and_zero_elsewhere() -> None:
    """A 'model' whose class 0 is the brightness of a 4×4 square at rows 8-11, cols 20-23 of a
    dark 24×32 input: covering the square with the (darker) mean lowers class 0 there only, and
    the map for class 1 is its mirror."""
    occlusion = load()
    x = np.zeros((1, 24, 32), np.float32)
    x[0, 8:12, 20:24] = 1.0

    def predict(batch: np.ndarray) -> np.ndarray:
        cue = batch[:, 0, 8:12, 20:24].mean((1, 2))
        return np.stack([cue, 1 - cue], 1)

    m0 = occlusion.occlusion_map(predict, x, 0, patch=4, stride=2)
    m1 = occlusion.occlusion_map(predict, x, 1, patch=4, stride=2)
    assert m0.shape == (24, 32)
    assert m0[8:12, 20:24].min() > 0.1  # every cue pixel supports class 0
    far = np.ones_like(m0, bool)
    far[4:16, 16:28] = False
    assert np.abs(m0[far]).max() == 0  # patches that never touch the cue change nothing
    np.testing.assert_allclose(m1, -m0, atol=1e-6)
    rgb = occlusion.overlay(np.full((24, 32), 0.5), m0)
    assert rgb.dtype == np.uint8 and rgb[10, 22, 0] > rgb[10, 22, 2]  # red where it supports
