"""Per-cine realism draws added after the first simulator (issue 13): blood smoke, a
foreshortened apex, the display mode (screen, letterbox, EchoNet-style), colour flow and the
brightness of the tissue around the heart — plus the per-patient extra anatomy. Each comes
from its own random stream, seeded like the cine's (patient's) own, so the first simulator's
draws and pixels are unchanged where these features do not act, and switching one off
(``CineSpec.ablate``) changes only what it does.

Example::

    extras = CineExtras.sample(cine_extras_rng(seed, patient, view_index, sweep))
    pose = foreshorten(pose, heart, extras.foreshorten_deg)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy_extra import ExtraAnatomy
from .colour import ColourBox
from .display import DisplayMode
from .heart import Heart
from .poses import Pose, _rotate
from .smoke import SmokeParams

APICAL = ("A4C", "A5C", "A3C", "A2C")
P_FORESHORTENED = 0.3  # apical cines with the probe too high (a round, short LV)
# Cines whose heart sits in grey tissue rather than on black: in many real frames the tissue
# around the heart (mediastinum, pericardial fat, lung haze) is about as grey as the
# myocardium; the first simulator drew it 18-46 dB below it in every cine.
P_GREY_SURROUND = 0.5
GREY_SURROUND = (0.15, 1.0)  # its echogenicity, myocardium ≈ 1 (log-uniform)


@dataclass(frozen=True)
class CineExtras:
    smoke: SmokeParams
    foreshorten_deg: float  # turn of an apical plane about its mitral-level point (0: none)
    display: DisplayMode
    colour: ColourBox
    surround: float  # echogenicity of the tissue around the heart (0: the body's own, dark)

    @staticmethod
    def sample(rng: np.random.Generator) -> CineExtras:
        """Every draw is made for every view, in this order (determinism per seed)."""
        smoke = SmokeParams.sample(rng)
        short = rng.random() < P_FORESHORTENED
        angle = rng.uniform(7.0, 15.0)
        display = DisplayMode.sample(rng)
        colour = ColourBox.sample(rng)
        grey = rng.random() < P_GREY_SURROUND
        level = float(np.exp(rng.uniform(*np.log(GREY_SURROUND))))
        return CineExtras(
            smoke, float(angle) if short else 0.0, display, colour, level if grey else 0.0
        )


def cine_extras_rng(seed: int, patient: int, view_index: int, sweep: bool) -> np.random.Generator:
    return np.random.default_rng([seed, patient, view_index, int(sweep), 1313])


def patient_anatomy(seed: int, patient: int) -> ExtraAnatomy:
    """The patient's moderator band, coronary sinus and descending aorta (same in every view)."""
    return ExtraAnatomy.sample(np.random.default_rng([seed, patient, 7919, 1313]))


def foreshorten(pose: Pose, heart: Heart, angle_deg: float) -> Pose:
    """An apical plane with the probe too high: turned ``angle_deg`` about the lateral axis
    through the point where its middle beam crosses the mitral annulus plane, so the valves
    stay in view while the plane passes beside the true apex (the LV looks short and round).
    It turns the way that takes it further from the apex."""
    if angle_deg == 0.0:
        return pose
    z_valve = float(heart.landmarks["mitral"][2])
    depth = (z_valve - pose.origin[2]) / max(pose.v[2], 0.2)
    pivot = pose.origin + depth * pose.v
    apex = heart.landmarks["apex"]
    turned = []
    for angle in (np.deg2rad(angle_deg), -np.deg2rad(angle_deg)):
        origin = pivot + _rotate(pose.origin - pivot, pose.u, float(angle))
        p = Pose(origin, pose.u, _rotate(pose.v, pose.u, float(angle)))
        turned.append((abs(float(np.dot(apex - p.origin, p.n))), p))
    return max(turned, key=lambda dp: dp[0])[1]
