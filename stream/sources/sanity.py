"""A cheap look at a source's first frame: is it plausibly an echo at all?

The classifier gives one of its views for any picture, so a file that is clearly not
ultrasound must say so beside its label. Two honest, cheap signs, no model involved:

* size: an echo frame is at least tens of pixels on each side (the model reads 60×80);
* structure: an ultrasound image is spatially smooth at the pixel scale (speckle spans
  several pixels, the background is flat black), so neighbouring pixels are strongly
  correlated; pixel noise (or an encrypted or random payload decoded as pixels) is not.

These catch the hopeless cases only; a photograph or a CT slice can pass them.
"""

from __future__ import annotations

import numpy as np

#: Smallest full-size frame side (pixels) that can hold an echo.
MIN_SIDE = 32
#: Below this correlation of horizontally neighbouring pixels, a frame is noise, not echo.
#: Measured on first frames, full and reduced decode: 23 real echo cines and stills
#: (../shared/real-dev) and pydicom's three echo files 0.89-0.99; uniform noise ~0.0.
MIN_NEIGHBOUR_CORRELATION = 0.3


def neighbour_correlation(gray: np.ndarray) -> float:
    """Pearson correlation of each pixel with its right-hand neighbour (1.0 for a flat image).

    >>> round(neighbour_correlation(np.tile(np.arange(64, dtype=np.uint8), (8, 1))), 3)
    1.0
    """
    a = gray[:, :-1].astype(np.float32).ravel()
    b = gray[:, 1:].astype(np.float32).ravel()
    a -= a.mean()
    b -= b.mean()
    norm = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return 1.0 if norm == 0 else float(np.dot(a, b)) / norm


def _small_gray(pixels: np.ndarray, budget: int = 1 << 16) -> np.ndarray:
    """Every k-th row (about ``budget`` pixels), as float32 gray: cheap in time and memory."""
    step = max(1, pixels.shape[0] * pixels.shape[1] // budget)
    rows = pixels[::step]
    return rows.mean(axis=2, dtype=np.float32) if rows.ndim == 3 else rows.astype(np.float32)


def echo_warnings(pixels: np.ndarray, full_size: tuple[int, int]) -> list[str]:
    """Warnings for a first frame that cannot be an echo (an empty list otherwise).

    ``pixels`` is the frame as decoded (H×W or H×W×C, possibly reduced in scale), ``full_size``
    its ``(rows, cols)`` at full resolution.

    >>> echo_warnings(np.zeros((1, 1), np.uint8), (1, 1))
    ['image is only 1x1 pixels: too small to be an echo (its label means nothing)']
    """
    rows, cols = full_size
    if min(rows, cols) < MIN_SIDE:
        return [
            f"image is only {cols}x{rows} pixels: too small to be an echo (its label means nothing)"
        ]
    gray = _small_gray(pixels)
    if float(np.ptp(gray)) < 8:
        return ["first frame is blank (one flat colour): nothing to classify"]
    if neighbour_correlation(gray) < MIN_NEIGHBOUR_CORRELATION:
        return [
            "first frame does not look like ultrasound (no spatial structure: pixel noise?); "
            "its label means nothing"
        ]
    return []
