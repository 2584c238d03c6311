"""Pictures of the simulator's output.

* ``echostream simulate --gallery docs/simulator.png``: every view × vendor screen.
* ``echostream simulate --gallery docs/sim-vs-real.png --beside REAL_DIR``: per view, the real
  labelled files of ``REAL_DIR/labels.csv`` beside simulated cines, both as the model sees
  them (the detected fan's box, grey).

Example::

    write_gallery("docs/simulator.png", seed=0)
    write_gallery("docs/sim-vs-real.png", beside="../shared/real-dev", seed=0)
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


def model_view(pixels: np.ndarray, region: tuple[int, int, int, int] | None, hw: tuple[int, int]):
    """A frame as the classifier sees it: cropped to ``region``, grey, resized to ``hw``."""
    img = Image.fromarray(np.asarray(pixels)).convert("L")
    if region is not None:
        img = img.crop(region)
    return img.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)


def _real_tiles(folder: Path, hw: tuple[int, int]) -> dict[str, list[Image.Image]]:
    """First frame of each labelled file in ``folder/labels.csv``, by view (the runtime crop)."""
    from echostream.stream.sources import open_source

    from ..manifest import read_manifest

    tiles: dict[str, list[Image.Image]] = {}
    for entry in read_manifest(folder).entries:
        with open_source(entry.path) as src:
            frame = next(iter(src))
            r = src.info.region
            box = (r.x0, r.y0, r.x1, r.y1) if r is not None else None
        tiles.setdefault(entry.view, []).append(model_view(frame.pixels, box, hw))
    return tiles


def beside_image(
    real: str | Path, *, seed: int = 0, columns: int = 7, hw: tuple[int, int] = (120, 160)
) -> Image.Image:
    """Rows: views; first the real files of the view, then simulated cines (one per vendor
    in turn) to fill ``columns``; every tile as the model sees it."""
    h, w = hw
    reals = _real_tiles(Path(real), hw)
    vendors = tuple(VENDORS)
    label_w = 96
    canvas = Image.new("L", (label_w + w * columns, h * len(VIEWS)), 24)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    for r, view in enumerate(VIEWS):
        row = reals.get(view, [])[: columns - 2]
        n_real = len(row)
        draw.text((6, r * h + h // 2 - 16), f"{view}\n{n_real} real", font=font, fill=255)
        for k in range(columns - n_real):
            spec = CineSpec(seed=seed, patient=k, view=view, vendor=vendors[k % 3], n_frames=3)
            cine = render_cine(spec)
            row.append(model_view(cine.frames[1], cine.region, hw))
        for c, tile in enumerate(row):
            canvas.paste(tile, (label_w + c * w, r * h))
        x = label_w + n_real * w  # real | simulated
        draw.line([(x, r * h), (x, r * h + h - 1)], fill=255, width=2)
    return canvas


def write_gallery(
    path: str | Path,
    *,
    beside: str | Path | None = None,
    features: bool = False,
    **kw: object,
) -> Path:
    """The view × vendor picture; with ``beside``, real files beside simulated cines; with
    ``features``, one row per issue-13 realism feature (a real frame first when ``beside``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if features:
        from .gallery_features import features_image

        image = features_image(seed=int(kw.get("seed", 0)), beside=beside)  # type: ignore[call-overload]
    elif beside:
        image = beside_image(beside, **kw)  # type: ignore[arg-type]
    else:
        image = gallery_image(**kw)  # type: ignore[arg-type]
    image.save(path, optimize=True)
    return path
