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
from pydicom.pixels import apply_color_lut, as_pixel_options, get_decoder
from pydicom.pixels.decoders.base import Decoder
from pydicom.uid import UID, JPEGBaseline8Bit, RLELossless

from .dicom_frames import has_end_marker, rle_problem


def pixel_decoder(tsyntax: UID) -> Decoder:
    """pydicom's decoder for ``tsyntax``; ``ValueError`` (one line) saying what is missing."""
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise ValueError(f"unsupported transfer syntax {tsyntax.name} ({tsyntax})") from None
    if not decoder.is_available:
        raise ValueError(
            f"no decoder installed for {tsyntax.name} "
            "(install pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg)"
        )
    return decoder


def decode_options(ds: Dataset, tsyntax: UID, bits: int) -> dict:
    """The options :meth:`Decoder.as_array` needs for one frame of ``ds``."""
    opts = dict(as_pixel_options(ds, number_of_frames=1))
    opts["transfer_syntax_uid"] = tsyntax
    opts["pixel_keyword"] = "PixelData"
    opts["pixel_vr"] = "OB" if bits <= 8 else "OW"
    return opts


def pillow_rgb(tsyntax: UID, samples: int, photometric: str) -> bool:
    """Whether frames are JPEG baseline YCbCr that Pillow decodes straight to RGB (the JPEG's
    own colour transform); pydicom would decode YCbCr and convert in float numpy, 2x slower."""
    return (
        tsyntax == JPEGBaseline8Bit and samples == 3 and photometric in ("YBR_FULL_422", "YBR_FULL")
    )


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


def native_frames(
    shape: tuple[int, int, int, int], declared: int | None, length: int, available: int
) -> tuple[int, int, list[str]]:
    """``(bytes per frame, frames, warnings)`` of native pixel data of ``length`` bytes, of which
    ``available`` are there; ``shape`` = (rows, cols, samples, bits allocated). Without
    ``declared`` frames (NumberOfFrames) the data says how many; ``ValueError`` (one line) when
    it holds fewer than that.

    >>> native_frames((2, 2, 1, 8), None, 12, 12)
    (4, 3, ['NumberOfFrames is missing; 3 frames found in the pixel data'])
    """
    rows, cols, samples, bits = shape
    frame_len = rows * cols * samples * max(1, bits // 8)
    n = 1 if declared is None else declared
    notes = []
    if declared is None and available >= 2 * frame_len:
        n = available // frame_len
        notes.append(f"NumberOfFrames is missing; {n} frames found in the pixel data")
    need = frame_len * n
    if available < need:
        what = "truncated" if available < length else "smaller than its declared size"
        raise ValueError(
            f"pixel data {what}: {available} bytes for {n} frame(s) of "
            f"{rows}x{cols}x{samples} ({need} bytes needed)"
        )
    if available < length:
        notes.append(f"pixel data claims {length} bytes but the file holds {available}")
    return frame_len, n, notes


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
