"""One picture of every view × vendor: ``echostream simulate --gallery docs/simulator.png``.

Example::

    write_gallery("docs/simulator.png", seed=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from echostream.stream.views import VIEWS

from .cine import CineSpec, render_cine
from .vendors import VENDORS


def gallery_image(
    *,
    seed: int = 0,
    views: Sequence[str] = VIEWS,
    vendors: Sequence[str] = tuple(VENDORS),
    tile: tuple[int, int] = (400, 300),
    frame: int = 5,
) -> Image.Image:
    """Rows: views; columns: vendors; each tile one frame of a fresh patient's cine."""
    tw, th = tile
    label_w, head_h = 110, 30
    font = ImageFont.load_default(size=18)
    canvas = Image.new("RGB", (label_w + tw * len(vendors), head_h + th * len(views)), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    for c, vendor in enumerate(vendors):
        style = VENDORS[vendor]
        draw.text(
            (label_w + c * tw + 8, 6), f"{style.model_name} style", font=font, fill=(230, 230, 230)
        )
    for r, view in enumerate(views):
        draw.text((8, head_h + r * th + th // 2 - 10), view, font=font, fill=(255, 255, 255))
        for c, vendor in enumerate(vendors):
            spec = CineSpec(
                seed=seed,
                patient=r * len(vendors) + c,
                view=view,
                vendor=vendor,
                size=tile,
                n_frames=frame + 1,
            )
            img = render_cine(spec).frames[frame]
            canvas.paste(Image.fromarray(np.asarray(img)), (label_w + c * tw, head_h + r * th))
    return canvas


def write_gallery(path: str | Path, **kw: object) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gallery_image(**kw).save(path, optimize=True)  # type: ignore[arg-type]
    return path
