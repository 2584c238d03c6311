"""A picture of the issue-13 realism features: one row per feature, showing cines that draw
it and, last, the first of them with the feature switched off (same patient, same draws);
optionally a real file of the same view first (``beside``: a folder with labels.csv). Below
them, one row per kind of OTHER cine (issue 17: off-axis, IVC, lung, other cardiac planes,
textures), a real OTHER file of that kind first where ``beside`` has one.

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
from .other_families import KINDS, draw_other

# feature → (view, which draws show it; None: every patient has the structure, some planes)
FEATURE_VIEWS: dict[str, tuple[str, str | None]] = {
    "moderator_band": ("A4C", None),
    "coronary_sinus": ("A2C", None),
    "descending_aorta": ("PLAX", None),
    "fibrous_skeleton": ("A4C", None),
    "smoke": ("A4C", "smoke"),
    "foreshortening": ("A2C", "foreshortening"),
    "letterbox": ("PLAX", "letterbox"),
    "echonet": ("A4C", "echonet"),
    "colour_flow": ("A4C", "colour_flow"),
    "surroundings": ("A4C", "surroundings"),
}
VENDOR_CYCLE = ("epiq7g", "ie33", "sc2000")
# OTHER kind → words in a real OTHER file's name that show the same thing (for ``beside``)
REAL_OTHER = {
    "ivc_long": ("ivc-long", "_ivc."),
    "ivc_short": ("ivc-trans",),
    "a_lines": ("absent-sliding", "a-lines"),
    "b_lines": ("b-lines",),
}


def _draws(extras: CineExtras, what: str | None) -> bool:
    if what is None:
        return True
    return {
        "smoke": extras.smoke.level > 10 ** (-2.3),
        "foreshortening": extras.foreshorten_deg != 0.0,
        "letterbox": extras.display.kind == "letterbox",
        "echonet": extras.display.kind == "echonet",
        "colour_flow": extras.colour.on,
        "surroundings": extras.surround > 0,
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
    features = _features_rows(seed=seed, beside=beside, per_row=per_row, tile=tile)
    others = other_image(seed=seed, beside=beside, per_row=per_row, tile=tile)
    canvas = Image.new("RGB", (max(features.width, others.width), features.height + others.height))
    canvas.paste(features, (0, 0))
    canvas.paste(others, (0, features.height))
    return canvas


def _features_rows(
    *, seed: int, beside: str | Path | None, per_row: int, tile: tuple[int, int]
) -> Image.Image:
    """The issue-13 rows of :func:`features_image`."""
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


def other_patients(kind: str, seed: int, n: int) -> list[int]:
    """The first ``n`` patients whose OTHER cine is of ``kind`` (``other_families.KINDS``)."""
    return [p for p in range(5000) if draw_other(seed, p).kind == kind][:n]


def _real_others(folder: Path) -> dict[str, np.ndarray]:
    """A middle frame of the real OTHER files in ``folder/labels.csv``, by the kind they show."""
    from echostream.stream.sources import open_source

    from ..manifest import read_manifest

    found: dict[str, np.ndarray] = {}
    for entry in read_manifest(folder, other=True).entries:
        name = Path(entry.path).name.lower()
        kinds = [k for k, words in REAL_OTHER.items() if any(w in name for w in words)]
        if entry.view != "OTHER" or not kinds or kinds[0] in found:
            continue
        with open_source(entry.path) as src:
            frames = [f.pixels for _, f in zip(range(12), src, strict=False)]
        found[kinds[0]] = np.asarray(frames[len(frames) // 2])
    return found


def other_image(
    *,
    seed: int = 0,
    beside: str | Path | None = None,
    per_row: int = 3,
    tile: tuple[int, int] = (320, 240),
) -> Image.Image:
    """Rows: kinds of OTHER cine; columns: [a real OTHER file of the kind], ``per_row`` cines."""
    reals = _real_others(Path(beside)) if beside is not None else {}
    n_real = 1 if beside is not None else 0
    kinds = [k for family in KINDS.values() for k in family]
    label_w = 150
    font = ImageFont.load_default(size=15)
    width = label_w + (n_real + per_row) * tile[0]
    canvas = Image.new("RGB", (width, len(kinds) * tile[1]), (24,) * 3)
    draw = ImageDraw.Draw(canvas)
    for r, kind in enumerate(kinds):
        y = r * tile[1]
        draw.text((6, y + tile[1] // 2 - 20), f"OTHER\n{kind}", font=font, fill=(255, 255, 255))
        if kind in reals:
            canvas.paste(_tile(reals[kind], tile), (label_w, y))
            draw.text((label_w + 4, y + 4), "real", font=font, fill=(0, 230, 255))
        for c, p in enumerate(other_patients(kind, seed, per_row)):
            spec = CineSpec(
                seed=seed, patient=p, view="OTHER", vendor=VENDOR_CYCLE[p % 3], n_frames=4
            )
            x = label_w + (n_real + c) * tile[0]
            canvas.paste(_tile(render_cine(spec).frames[3], tile), (x, y))
            probe = draw_other(seed, p).probe.kind
            draw.text((x + 4, y + 4), f"patient {p}, {probe}", font=font, fill=(255, 230, 0))
    return canvas
