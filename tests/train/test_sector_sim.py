"""The runtime's sector detector on simulated screens, whose fan boxes are known exactly."""

from __future__ import annotations

import pytest

from echostream.stream.sources.sector import detect_fan
from echostream.train.simulator.cine import CineSpec, render_cine


@pytest.mark.parametrize("vendor", ["epiq7g", "ie33", "sc2000"])
@pytest.mark.parametrize("view", ["A4C", "PLAX", "SUB4C"])
def test_detected_box_matches_the_drawn_fan(vendor: str, view: str) -> None:
    cine = render_cine(CineSpec(seed=5, patient=1, view=view, vendor=vendor, n_frames=3))
    height, width = cine.frames[0].shape[:2]
    fan = detect_fan(cine.frames)  # the whole screen: text, ECG, scale and marker included
    assert fan is not None and fan.kind == "sector"
    got = (fan.region.x0, fan.region.y0, fan.region.x1, fan.region.y1)
    tol = 0.015 * width
    assert all(abs(g - t) <= tol for g, t in zip(got, cine.region, strict=True)), (got, cine.region)
    assert fan.sector_deg == pytest.approx(float(cine.info["sector_deg"]), abs=3.0)
