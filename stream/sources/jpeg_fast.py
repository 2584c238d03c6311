"""JPEG frames straight to luminance at reduced scale, in the DCT domain (Pillow draft mode).

A 60×80 grayscale model does not need a full-resolution colour frame: libjpeg can skip the
chroma planes and run a 1/2, 1/4 or 1/8 scaled inverse DCT. :func:`decode_luminance` asks for
the smallest such scale that still covers ``request`` and reports the scale it got.

Example::

    pixels, scale = decode_luminance(jpeg_bytes, request=(100, 75))  # (w, h) wanted at least
    pixels.shape, scale   # ((150, 200), 0.25) for an 800×600 frame
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from io import BytesIO
from typing import TypeVar

import numpy as np
from PIL import Image

T = TypeVar("T")
R = TypeVar("R")

# SOF markers of the JPEG family (baseline, extended, progressive, lossless, JPEG-LS)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(rows, cols)`` from the SOF segment of a JPEG / JPEG-LS codestream; None if absent.

    >>> buf = BytesIO(); Image.new("L", (8, 4)).save(buf, "JPEG"); jpeg_size(buf.getvalue())
    (4, 8)
    """
    if data[:2] != b"\xff\xd8":
        return None
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF and pos + 9 <= n:
            rows, cols = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(rows), int(cols)
        if marker == 0xDA:  # start of scan before any SOF
            return None
        pos += 2 + length
    return None


def j2k_size(data: bytes) -> tuple[int, int] | None:
    """``(rows, cols)`` from the SIZ segment of a JPEG 2000 codestream; None if absent."""
    start = data.find(b"\xff\x4f\xff\x51", 0, 64)
    if start < 0 or len(data) < start + 24:
        return None
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", data[start + 8 : start + 24])
    return int(ysiz - yo), int(xsiz - xo)


def draft_request(
    full: tuple[int, int], region: tuple[int, int], target: tuple[int, int]
) -> tuple[int, int]:
    """The full-image size ``(w, h)`` to ask Pillow's draft for, so the region stays ≥ target.

    ``full`` = (rows, cols) of the image, ``region`` = (height, width) of the ultrasound
    region in it, ``target`` = (height, width) of the model input.

    >>> draft_request((600, 800), (600, 800), (60, 80))   # whole image: 1/8 gives 75×100
    (80, 60)
    """
    rows, cols = full
    factor = min(1.0, max(target[0] / max(1, region[0]), target[1] / max(1, region[1])))
    return max(1, math.ceil(cols * factor)), max(1, math.ceil(rows * factor))


def decode_luminance(
    data: bytes, request: tuple[int, int] | None = None
) -> tuple[np.ndarray, float]:
    """Decode one JPEG to an H×W uint8 luminance array at the smallest DCT scale ≥ ``request``.

    ``request`` is ``(w, h)`` in Pillow's order; None decodes at full size (still skipping
    chroma). Returns the pixels and their scale relative to the full image (1, 1/2, 1/4, 1/8).
    """
    with Image.open(BytesIO(data)) as im:
        full_w = im.size[0]
        im.draft("L", request or im.size)
        # e.g. a CMYK JPEG: Pillow decodes it, then luma (ITU-R 601)
        pixels = np.asarray(im if im.mode == "L" else im.convert("L"))
    return pixels, pixels.shape[1] / full_w


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int = 1, window: int | None = None
) -> Iterator[R]:
    """``map(fn, items)`` over ``workers`` threads, in order, with at most ``window`` in flight.

    Items are pulled from ``items`` only as results are taken, so memory stays bounded
    (``window`` defaults to ``2 * workers``). With one worker it is a plain loop.

    >>> list(ordered_map(lambda x: x * x, range(5), workers=2))
    [0, 1, 4, 9, 16]
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    window = max(workers, window or 2 * workers)
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
