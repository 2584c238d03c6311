"""A contact sheet of what the classifier will look at: each source's first frame with its
crop box (red) and the detected sector's edges and far arc (green).

For checking the crop policy on one's own files by eye (``echostream probe FILES --sheet
sheet.png``); the project's own sheet of the real dev set is ``docs/sector-real-dev.png``.

Example::

    draw_sheet(["a4c.mp4", "plax.png"], "sheet.png", columns=4)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .errors import SourceError
from .sources import open_source

TILE = (400, 300)


def annotate(pixels: np.ndarray, region: dict[str, Any] | None, fan: dict[str, Any] | None):
    """The frame as an RGB Pillow image with the crop box and the sector drawn on it."""
    img = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 250))
    if fan and "apex" in fan:
        (ax, ay), r = fan["apex"], fan["radius"]
        for deg in (fan["left_deg"], fan["right_deg"]):
            t = np.deg2rad(deg)
            draw.line([ax, ay, ax + r * np.sin(t), ay + r * np.cos(t)], (0, 255, 0), width)
        arc = np.deg2rad(np.linspace(fan["left_deg"], fan["right_deg"], 48))
        draw.line(
            list(zip(ax + r * np.sin(arc), ay + r * np.cos(arc), strict=True)), (0, 255, 0), width
        )
    if region:
        box = [region["x0"], region["y0"], region["x1"] - 1, region["y1"] - 1]
        draw.rectangle(box, outline=(255, 40, 40), width=width)
    return img


def draw_sheet(
    sources: Sequence[str | Path], out: str | Path, *, columns: int = 4, labels: Sequence[str] = ()
) -> list[str]:
    """Write the sheet to ``out`` (PNG); returns the one-line errors of sources that failed."""
    tiles: list[tuple[str, Image.Image]] = []
    errors: list[str] = []
    for i, source in enumerate(sources):
        try:
            with open_source(source) as src:
                first = next(iter(src))
                info = src.info.to_dict()
        except (SourceError, StopIteration) as err:
            errors.append(str(err) if isinstance(err, SourceError) else f"{source}: no frames")
            continue
        img = annotate(first.pixels, info.get("region"), info.get("fan"))
        img.thumbnail((TILE[0], TILE[1] - 14))
        tiles.append((labels[i] if i < len(labels) else Path(str(source)).name, img))
    rows = max(1, -(-len(tiles) // columns))
    sheet = Image.new("RGB", (TILE[0] * columns, TILE[1] * rows), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for k, (label, img) in enumerate(tiles):
        x, y = (k % columns) * TILE[0], (k // columns) * TILE[1]
        sheet.paste(img, (x + (TILE[0] - img.width) // 2, y + 14))
        draw.text((x + 4, y + 1), label, fill=(255, 230, 80))
    sheet.save(out)
    return errors
