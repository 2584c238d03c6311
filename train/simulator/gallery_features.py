"""A picture of the issue-13 realism features: one row per feature, showing cines that draw
it and, last, the first of them with the feature switched off (same patient, same draws);
optionally a real file of the same view first (``beside``: a folder with labels.csv).

    python -m echostream.train.simulator.gallery /work/sim13/features.png --features \\
        --beside ../shared/real-dev

Example::

    features_image(seed=0).save("features.png")
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .cine import ALL_VIEWS, CineSpec, render_cine
from .cine_extras import CineExtras, cine_extras_rng

# feature → (view, which draws show it; None: every patient has the structure, some planes)
FEATURE_VIEWS: dict[str, tuple[str, str | None]] = {
    "moderator_band": ("A4C", None),
    "coronary_sinus": ("A2C", None),
    "descending_aorta": ("PLAX", None),
    "smoke": ("A4C", "smoke"),
    "foreshortening": ("A2C", "foreshortening"),
    "letterbox": ("PLAX", "letterbox"),
    "echonet": ("A4C", "echonet"),
    "colour_flow": ("A4C", "colour_flow"),
}
VENDOR_CYCLE = ("epiq7g", "ie33", "sc2000")


def _draws(extras: CineExtras, what: str | None) -> bool:
    if what is None:
        return True
    return {
        "smoke": extras.smoke.level > 10 ** (-2.3),
        "foreshortening": extras.foreshorten_deg != 0.0,
        "letterbox": extras.display.kind == "letterbox",
        "echonet": extras.display.kind == "echonet",
        "colour_flow": extras.colour.on,
    }[what]


def feature_patients(feature: str, seed: int, n: int) -> list[int]:
    """The first ``n`` patients whose cine of the feature's view draws it."""
    view, what = FEATURE_VIEWS[feature]
    k = ALL_VIEWS.index(view) + 1
    found = [
        p
        for p in range(2000)
        if _draws(CineExtras.sample(cine_extras_rng(seed, p, k, False)), what)
    ]
    return found[:n]


def _tile(frame: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A frame scaled to fit ``size`` (w, h), centred on dark grey."""
    img = Image.fromarray(np.asarray(frame))
    img.thumbnail(size) if img.width > size[0] or img.height > size[1] else None
    if img.width < size[0] // 2:  # 112×112 EchoNet-style frames: shown larger
        img = img.resize((size[1], size[1]), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", size, (24, 24, 24))
    canvas.paste(img, ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
    return canvas


def features_image(
    *,
    seed: int = 0,
    beside: str | Path | None = None,
    per_row: int = 3,
    tile: tuple[int, int] = (320, 240),
) -> Image.Image:
    """Rows: features; columns: [a real file of the view], ``per_row`` cines with the feature,
    then the first of them with it off."""
    reals: dict[str, list[Image.Image]] = {}
    if beside is not None:
        from .gallery import _real_tiles

        reals = _real_tiles(Path(beside), (tile[1], tile[0]))
    n_real = 1 if beside is not None else 0
    label_w = 150
    cols = n_real + per_row + 1
    font = ImageFont.load_default(size=15)
    canvas = Image.new("RGB", (label_w + cols * tile[0], len(FEATURE_VIEWS) * tile[1]), (24,) * 3)
    draw = ImageDraw.Draw(canvas)
    for r, (feature, (view, _)) in enumerate(FEATURE_VIEWS.items()):
        y = r * tile[1]
        draw.text((6, y + tile[1] // 2 - 20), f"{feature}\n{view}", font=font, fill=(255, 255, 255))
        if n_real and reals.get(view):
            canvas.paste(_tile(np.asarray(reals[view][0].convert("RGB")), tile), (label_w, y))
        display = "" if feature in ("letterbox", "echonet") else "screen"
        specs = [
            CineSpec(
                seed=seed,
                patient=p,
                view=view,
                vendor=VENDOR_CYCLE[p % 3],
                n_frames=4,
                display=display,
            )  # fmt: skip
            for p in feature_patients(feature, seed, per_row)
        ]
        for c, spec in enumerate([*specs, replace(specs[0], ablate=(feature,))]):
            frame = render_cine(spec).frames[3]
            x = label_w + (n_real + c) * tile[0]
            canvas.paste(_tile(frame, tile), (x, y))
            note = "off" if c == len(specs) else f"patient {spec.patient}"
            draw.text((x + 4, y + 4), note, font=font, fill=(255, 230, 0))
    return canvas
