"""The overlay: gray and RGB frames, the uncertain state, tiny frames, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from echostream.stream.overlay import OverlayStyle, draw_overlay
from echostream.stream.temporal import Prediction, UncertainGate
from echostream.stream.views import VIEWS

PROBS = np.array([0.02, 0.03, 0.05, 0.1, 0.7, 0.05, 0.03, 0.02], dtype=np.float32)


@pytest.mark.parametrize("shape", [(240, 320), (240, 320, 3), (600, 800, 3), (40, 30)])
def test_draws_on_gray_and_rgb(shape) -> None:
    pixels = np.full(shape, 200, np.uint8)
    out = draw_overlay(pixels, Prediction.from_probs(PROBS), VIEWS, fps=49.7, latency_ms=2.5)
    assert out.shape == (*shape[:2], 3) and out.dtype == np.uint8
    h, w = shape[:2]
    assert (out[: h // 8, : w // 8] != 200).any()  # the panel is drawn top-left
    if h >= 240:
        assert (out[-10:, -10:] == 200).all()  # the picture itself is untouched elsewhere
    assert (pixels == 200).all()  # the input is not modified


def test_uncertain_state_uses_its_colour() -> None:
    pixels = np.zeros((240, 320), np.uint8)
    sure = draw_overlay(pixels, Prediction.from_probs(PROBS), VIEWS)
    unsure = draw_overlay(pixels, UncertainGate(0.9).update(PROBS), VIEWS)
    style = OverlayStyle()

    def has(img: np.ndarray, colour: tuple[int, int, int]) -> bool:
        return bool((img == np.array(colour, np.uint8)).all(axis=2).any())

    assert has(sure, style.color_ok) and not has(sure, style.color_uncertain)
    assert has(unsure, style.color_uncertain) and not has(unsure, style.color_ok)


def test_waiting_and_bad_input() -> None:
    out = draw_overlay(np.zeros((100, 100, 3), np.uint8), None, VIEWS, fps=30.0)
    assert out[:20, :40].any()
    with pytest.raises(ValueError, match="uint8"):
        draw_overlay(np.zeros((10, 10), np.float32), None, VIEWS)
    with pytest.raises(ValueError, match="H×W"):
        draw_overlay(np.zeros((10, 10, 4), np.uint8), None, VIEWS)
