"""Everything in the sector that is not heart: chest wall, mediastinum, lung, liver, clutter,
rib shadows and dropout — as probe-fixed beam-space maps, drawn once per cine.

Example::

    maps = body_maps(acq, "SUB4C", rng)   # maps.echo, .clutter, .gain, .imp: (ns, nb)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .physics import Acquisition

Arr = np.ndarray


@dataclass(frozen=True)
class BodyMaps:
    echo: Arr  # echogenicity outside the heart (chest wall, background, lung, liver)
    clutter: Arr  # near-field haze / reverberation, added everywhere
    gain: Arr  # multiplicative amplitude map: rib shadows, lateral dropout
    imp: Arr  # acoustic impedance outside the heart (lung ≈ 0.3: a strong specular boundary)


# How likely lung lies beside (lateral) and behind (deep) the heart in each acoustic window.
LUNG_SIDE = {"PLAX": 0.6, "SAXMID": 0.6, "SAXBASAL": 0.6, "SUB4C": 0.15}  # apical: 0.8
LUNG_DEEP = {"PLAX": 0.7, "SAXMID": 0.7, "SAXBASAL": 0.6, "SUB4C": 0.1}  # apical: 0.3


def _lung_mask(acq: Acquisition, view: str, rng: np.random.Generator, r_cw: float) -> Arr:
    """Where air-filled lung hides the picture (beam space)."""
    r = acq.radii[:, None]
    u = np.linspace(-1.0, 1.0, acq.n_beams)[None, :]  # beam position across the sector
    lung = np.zeros((acq.n_samples, acq.n_beams), dtype=bool)
    wobble = 0.06 * _smooth_noise(rng, acq.n_samples, 20)[:, None]
    for side in (-1.0, 1.0):
        if rng.random() < LUNG_SIDE.get(view, 0.8):
            start = rng.uniform(0.35, 0.95)  # fraction of the half-sector from the middle
            depth = r_cw + rng.uniform(0.5, 4.0)
            lung |= (side * u > start + wobble) & (r > depth)
    if rng.random() < LUNG_DEEP.get(view, 0.3):
        lung |= r > rng.uniform(0.6, 0.95) * acq.depth_cm + 0.5 * wobble
    return lung


def _smooth_noise(rng: np.random.Generator, n: int, width: float) -> Arr:
    """1-D smooth random curve (unit std) over n points with correlation ``width`` points."""
    x = rng.standard_normal(n + 64)
    k = np.exp(-0.5 * (np.arange(-32, 33) / max(width, 1.0)) ** 2)
    y = np.convolve(x, k / np.sqrt((k * k).sum()), mode="same")[32:-32]
    return y.astype(np.float32)


def body_maps(
    acq: Acquisition,
    view: str,
    rng: np.random.Generator,
    quality: float = 0.5,
    *,
    lung: bool = True,
    blotch: bool = True,
    surround: float = 0.0,
) -> BodyMaps:
    """Probe-fixed maps for one cine; ``quality`` 0 (poor window) … 1 (excellent);
    ``lung``/``blotch`` False drop those features (their random draws are still made);
    ``surround`` > 0 sets the echogenicity of the tissue around the heart (myocardium ≈ 1)
    instead of the cine's own dark draw, and fills the lung with haze half as bright."""
    r = acq.radii[:, None]
    th = acq.angles[None, :]
    ns, nb = acq.n_samples, acq.n_beams
    lat = r * np.sin(th)
    dep = r * np.cos(th)

    # chest wall: skin, fat, muscle layers in the first 1-2.5 cm, then mediastinal tissue,
    # and air-filled lung (near black, a bright specular edge) beside and behind the heart
    r_cw = rng.uniform(0.8, 2.2)
    layers = 0.35 + 0.3 * np.sin(2 * np.pi * r / rng.uniform(0.35, 0.7) + rng.uniform(0, 6)) ** 2
    dark = rng.uniform(0.005, 0.12)  # drawn either way (the other draws stay in step)
    background = surround if surround > 0 else dark
    echo = np.where(r < r_cw, layers * rng.uniform(0.6, 1.4), background)
    echo = echo * (1 + 0.5 * _smooth_noise(rng, nb, 8)[None, :].clip(-1, 1))
    lung_mask = _lung_mask(acq, view, rng, r_cw) & lung
    a_lines = 1 + 2.0 * np.exp(-0.5 * ((r % (r_cw + 0.4)) / 0.15) ** 2)  # pleural reverberation
    black = rng.uniform(0.0003, 0.004)
    lung_echo = 0.5 * surround if surround > 0 else black  # reverberation haze, not black
    echo = np.where(lung_mask, lung_echo * a_lines, echo)
    imp = np.where(lung_mask, 0.3, np.where(r < r_cw, 0.95 + 0.1 * (layers > 0.5), 1.0))
    if view == "SUB4C":  # liver between the abdominal wall and the heart
        c_lat, c_dep = rng.uniform(-2.0, 2.0), rng.uniform(3.0, 5.0)
        liver = ((lat - c_lat) / 8.0) ** 2 + ((dep - c_dep) / rng.uniform(3.5, 5.0)) ** 2 < 1
        liver &= r >= r_cw
        echo = np.where(liver, rng.uniform(0.35, 0.7), echo)
        imp = np.where(liver, 1.04, imp)
        for _ in range(int(rng.integers(1, 4))):  # hepatic veins: dark round holes
            vl, vd, vr = rng.uniform(-3, 3), rng.uniform(2.5, 6), rng.uniform(0.3, 0.7)
            vein = (lat - vl) ** 2 + (dep - vd) ** 2 < vr**2
            echo = np.where(vein, 0.004, echo)
            imp = np.where(vein, 1.0, imp)

    # near-field clutter / reverberation haze, worse in poor windows
    level = rng.uniform(0.03, 0.4) * (1.5 - quality)
    decay = rng.uniform(0.8, 2.5)
    reverb = 1 + 0.6 * np.cos(2 * np.pi * r / (r_cw + 0.3)) ** 2
    clutter = level * np.exp(-r / decay) * reverb * (r > 0.2 * r_cw)

    # gain: rib shadow, lateral dropout, beam-to-beam variation, and blotches of poor
    # penetration (smooth in depth and angle) that dim parts of walls
    gain_db = 2.0 * _smooth_noise(rng, nb, 6)[None, :] * np.ones((ns, 1), np.float32)
    blotches = _smooth_noise(rng, ns, ns / 12)[:, None] * _smooth_noise(rng, nb, nb / 10)[None, :]
    gain_db = gain_db + rng.uniform(2.0, 7.0) * (1.3 - quality) * np.clip(blotches, -2, 2) * blotch
    if rng.random() < 0.45 * (1.3 - quality):
        b0 = rng.uniform(0, nb)
        half_w = rng.uniform(0.04, 0.1) * nb
        edge = np.clip((half_w - np.abs(np.arange(nb) - b0)) / 3.0, 0, 1)[None, :]
        depth_edge = np.clip((r - rng.uniform(1.0, 3.0)) / 0.5, 0, 1)
        gain_db = gain_db - rng.uniform(8, 20) * edge * depth_edge
    if rng.random() < 0.6 * (1.3 - quality):
        side = 1 if rng.random() < 0.5 else -1
        start = rng.uniform(0.55, 0.85)
        frac = (side * np.arange(nb) / (nb - 1) * 2 - side + 1) / 2  # 0 … 1 towards that side
        gain_db = gain_db - rng.uniform(6, 16) * np.clip((frac - start) / (1 - start), 0, 1)[None]
    gain = (10.0 ** (gain_db / 20.0)).astype(np.float32)
    return BodyMaps(
        echo.astype(np.float32), clutter.astype(np.float32), gain, imp.astype(np.float32)
    )
