"""One DICOM frame around its decoder: refused before decoding when its bytes cannot be a
frame, and once decoded turned into what the readers hand out (uint8 RGB or gray).

Example::

    problem = encoded_problem(data, RLELossless, sample_bytes=1, size=(480, 640))
    arr = finish_pixels(decoded, ds, photometric="MONOCHROME1", size=(480, 640), luminance=True)
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut
from pydicom.uid import UID, RLELossless

from .dicom_frames import has_end_marker, rle_problem


def encoded_problem(
    data: bytes, tsyntax: UID, sample_bytes: int, size: tuple[int, int]
) -> str | None:
    """Why the encoded frame ``data`` must not be decoded, or None: empty, an RLE header
    pointing outside the frame, a codestream far too small for a ``size`` (rows, cols) image
    and cut short (< 0.08 bit/pixel without an end marker: JPEG-LS would decode it, slowly,
    into garbage).

    >>> encoded_problem(b"", RLELossless, 1, (8, 8))
    'no data (an empty fragment)'
    """
    if not data:
        return "no data (an empty fragment)"
    if tsyntax == RLELossless:
        problem = rle_problem(data, sample_bytes)
        return f"cannot decode ({problem})" if problem else None
    rows, cols = size
    if tsyntax.is_compressed and not has_end_marker(data) and len(data) * 100 < rows * cols:
        return f"codestream truncated ({len(data)} bytes for {rows}x{cols} and no end marker)"
    return None


def finish_pixels(
    arr: np.ndarray, ds: Dataset, *, photometric: str, size: tuple[int, int], luminance: bool
) -> np.ndarray:
    """uint8 RGB or gray from a decoded frame of ``ds`` (``size`` = (rows, cols) declared):
    palette colours applied, deep samples shifted to 8 bits, MONOCHROME1 inverted; gray
    (BT.601, once) when ``luminance``. Raises ``ValueError`` when the size is not the
    declared one."""
    if arr.shape[:2] != size:
        raise ValueError(f"decoded {arr.shape[0]}x{arr.shape[1]}, not the declared size")
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        if arr.dtype != np.uint8:
            arr = arr >> 8 if int(arr.max(initial=0)) > 255 else arr
    elif arr.dtype != np.uint8:
        arr = arr.astype(np.int64) >> max(0, int(ds.get("BitsStored") or 8) - 8)
    arr = np.clip(arr, 0, 255).astype(np.uint8, copy=False)
    if photometric == "MONOCHROME1":
        arr = 255 - arr
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if luminance and arr.ndim == 3:
        arr = np.asarray(Image.fromarray(np.ascontiguousarray(arr), "RGB").convert("L"))
    return arr
