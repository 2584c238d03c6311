"""The 8 standard echo views echostream labels, in model output order."""

from __future__ import annotations

VIEWS: tuple[str, ...] = ("PLAX", "SAXMID", "SAXBASAL", "A5C", "A4C", "A3C", "A2C", "SUB4C")

VIEW_NAMES: dict[str, str] = {
    "PLAX": "parasternal long axis",
    "SAXMID": "parasternal short axis, LV (mitral, papillary or apical level)",
    "SAXBASAL": "parasternal short axis at the aortic valve level",
    "A5C": "apical 5 chamber",
    "A4C": "apical 4 chamber",
    "A3C": "apical 3 chamber (apical long axis)",
    "A2C": "apical 2 chamber",
    "SUB4C": "subcostal 4 chamber",
}

# Views a non-expert confuses (label noise flips within these pairs; also the thesis' hard pairs).
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "PLAX": ("SAXBASAL",),
    "SAXMID": ("SAXBASAL",),
    "SAXBASAL": ("SAXMID", "PLAX"),
    "A5C": ("A4C", "A3C"),
    "A4C": ("A5C", "A2C"),
    "A3C": ("A2C", "A5C"),
    "A2C": ("A3C", "A4C"),
    "SUB4C": ("A4C",),
}
