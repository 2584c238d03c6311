"""What an OTHER cine ("not one of the 8 views", issue 17) shows: one family per cine, drawn
from its own random stream (so the views' draws, and the off-axis OTHER cines of the first
simulator, are unchanged), deterministic per (seed, patient).

Families and their share of OTHER cines (:data:`FAMILY_MIX`):

* ``off_axis`` 30 %: a plane of the heart model 28–50° off a standard view (``poses``);
* ``ivc`` 25 %: subcostal IVC long or short axis (``other_abdomen``);
* ``lung`` 25 %: A-lines or B-lines, sliding or not (``other_lung``);
* ``cardiac`` 10 %: RV inflow, PA bifurcation (``other_cardiac``), suprasternal arch
  (``other_arch``);
* ``texture`` 10 %: liver over kidney, or muscle over bone (``other_abdomen``).

Example::

    draw = draw_other(seed=0, patient=3)
    draw.family, draw.kind, draw.probe.kind
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .other_probe import Probe

FAMILY_MIX = {"off_axis": 0.30, "ivc": 0.25, "lung": 0.25, "cardiac": 0.10, "texture": 0.10}
OTHER_FAMILIES = tuple(FAMILY_MIX)
# family → its kinds and their shares
KINDS = {
    "off_axis": {"off_axis": 1.0},
    "ivc": {"ivc_long": 0.5, "ivc_short": 0.5},
    "lung": {"a_lines": 0.5, "b_lines": 0.5},
    "cardiac": {"rv_inflow": 0.4, "pa_bifurcation": 0.3, "arch": 0.3},
    "texture": {"liver_kidney": 0.6, "soft_tissue": 0.4},
}
# kind → (probe kind, share, imaging depths cm) for each probe it is scanned with
PROBES: dict[str, tuple[tuple[str, float, tuple[float, float]], ...]] = {
    "ivc_long": (("phased", 0.45, (12.0, 18.0)), ("curvilinear", 0.55, (13.0, 20.0))),
    "ivc_short": (("phased", 0.45, (12.0, 18.0)), ("curvilinear", 0.55, (13.0, 20.0))),
    "a_lines": (
        ("linear", 0.4, (4.0, 8.0)),
        ("curvilinear", 0.25, (8.0, 14.0)),
        ("phased", 0.35, (10.0, 18.0)),
    ),
    "arch": (("phased", 1.0, (10.0, 16.0)),),
    "liver_kidney": (("curvilinear", 0.6, (13.0, 20.0)), ("phased", 0.4, (12.0, 18.0))),
    "soft_tissue": (("linear", 0.5, (4.0, 7.0)), ("curvilinear", 0.5, (8.0, 14.0))),
}
PROBES["b_lines"] = PROBES["a_lines"]
HEART_KINDS = ("off_axis", "rv_inflow", "pa_bifurcation")  # planes of the heart model
P_SLIDING = 0.65  # lungs that slide (the rest: pneumothorax-like, still)


@dataclass(frozen=True)
class OtherDraw:
    """One OTHER cine's family, kind, probe, lung sliding and the seed of its details."""

    family: str
    kind: str
    probe: Probe
    sliding: bool
    detail: int  # seeds the phantom's own draws

    @property
    def heart_plane(self) -> bool:
        """Rendered through the heart model (else a 2-D phantom)."""
        return self.kind in HEART_KINDS


def _by_share(u: float, shares: list[tuple[str, float]]) -> str:
    """The name whose share of [0, 1) holds ``u`` (shares normalised)."""
    acc = np.cumsum([share for _, share in shares])
    i = int(np.searchsorted(acc, u * acc[-1], side="right"))
    return shares[min(i, len(shares) - 1)][0]


def draw_other(seed: int, patient: int, sweep: bool = False) -> OtherDraw:
    """The family of the OTHER cine of (``seed``, ``patient``); every draw made every time."""
    rng = np.random.default_rng([seed, patient, 9, int(sweep), 1717])
    family = _by_share(rng.random(), list(FAMILY_MIX.items()))
    kind = _by_share(rng.random(), list(KINDS[family].items()))
    options = PROBES.get(kind, (("phased", 1.0, (10.0, 18.0)),))
    name = _by_share(rng.random(), [(n, share) for n, share, _ in options])
    depths = dict((n, d) for n, _, d in options)[name]
    sliding = bool(rng.random() < P_SLIDING) and family == "lung"
    probe = Probe.sample(name, np.random.default_rng(rng.integers(2**63)), depths)
    return OtherDraw(family, kind, probe, sliding, int(rng.integers(2**63)))
