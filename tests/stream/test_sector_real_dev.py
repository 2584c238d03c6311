"""The sector detector on every item of the real dev set (``../shared/real-dev``).

The expected boxes were checked by eye on the contact sheet (``echostream probe … --sheet``;
the MIT-licensed stills' sheet is docs/sector-real-dev.png — the LITFL clips' licence keeps
their pictures out of the repository): each holds the whole fan and little else. A change to
the detector that moves a box by more than 3 % of the picture fails here, to be looked at
again by eye. Skipped where the dev set is not beside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from echostream.stream.sources import open_source

REAL_DEV = Path(__file__).resolve().parents[3] / "shared" / "real-dev"
EXPECTED = {
    "raventan95/a2c.png": (0, 0, 479, 336),
    "raventan95/a3c.png": (0, 0, 412, 338),
    "raventan95/a4c.png": (3, 0, 476, 336),
    "raventan95/a5c.png": (9, 0, 474, 335),
    "raventan95/plax.png": (1, 0, 412, 338),
    "raventan95/psax-av.png": (0, 0, 411, 337),
    "raventan95/psax-mv.png": (0, 0, 412, 338),
    "raventan95/psax-ap.png": (0, 0, 412, 338),
    "litfl/cardiac-tamponade_a4c.mp4": (9, 31, 718, 520),
    "litfl/cardiac-tamponade_plax.mp4": (9, 22, 716, 516),
    "litfl/cardiac-tamponade_psax.mp4": (9, 24, 720, 520),
    "litfl/cardiac-tamponade_subcostal.mp4": (9, 27, 707, 516),
    "litfl/cardiac-tamponade_ivc.mp4": (6, 24, 716, 518),
    "litfl/pericardial-effusion_a4c.mp4": (63, 29, 698, 513),
    "litfl/hypovolemia_ivc-long.mp4": (0, 2, 700, 518),
    "litfl/hypovolemia_ivc-trans.mp4": (13, 13, 689, 516),
    "litfl/rv-dilation_a4c-mcconnell.mp4": (13, 15, 720, 520),
    "litfl/rv-dilation_psax-d-sign.mp4": (40, 2, 637, 477),
    "litfl/takotsubo_plax.mp4": (6, 0, 709, 516),
    "litfl/takotsubo_psax-1.mp4": (0, 0, 700, 504),
    "litfl/lung-b-lines_b-lines.mp4": (60, 18, 426, 333),
    "litfl/lung-pneumothorax_absent-sliding.mp4": (4, 30, 476, 285),
    "litfl/normal_a4c.mp4": (76, 3, 541, 383),
}


@pytest.mark.skipif(not REAL_DEV.is_dir(), reason="../shared/real-dev is not beside the repo")
@pytest.mark.parametrize("item", sorted(EXPECTED))
def test_real_dev_sector_box(item: str) -> None:
    with open_source(REAL_DEV / item, luminance=True) as src:
        info = src.info
    region = info.region
    assert region is not None and region.origin == "detected", info.warnings
    tol = 0.03 * max(info.width, info.height)
    got = (region.x0, region.y0, region.x1, region.y1)
    assert all(abs(g - e) <= tol for g, e in zip(got, EXPECTED[item], strict=True)), got
