"""Ultrasound image formation in beam space (Hergum 2009; Gao 2009, "COLE").

echogenicity → complex Gaussian scatterers (tissue-fixed for the heart, fresh every frame in
blood, probe-fixed for chest wall / liver / clutter) → separable PSF convolution in (depth,
beam) coordinates → attenuation + electronic noise → envelope → TGC → log compression.

Example::

    img = BeamImager(Acquisition.sample(rng), rng)
    env = img.envelope(echo, tissue, cells, rng)  # (ns, nb) float32, Rayleigh in tissue
    disp = img.log_compress(env)                   # (ns, nb) float32 in [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import convolve1d

Arr = np.ndarray
TABLE_BITS = 18  # tissue-fixed scatterer table: 2**18 complex amplitudes per cine
CELL_CM = 0.035  # in-plane size of a scatterer cell (model cm)
CELL_ELEV_CM = 0.25  # elevational size: through-plane motion decorrelates over the slice width


@dataclass(frozen=True)
class Acquisition:
    """The scanner settings and image quality of one cine (all drawn per cine)."""

    n_samples: int = 384
    n_beams: int = 128
    depth_cm: float = 16.0
    r_min_cm: float = 0.0
    sector_deg: float = 84.0
    f0_mhz: float = 2.5
    sigma_axial: float = 1.1  # PSF std, samples
    sigma_lateral: float = 0.9  # PSF std, beams
    atten_db_cm_mhz: float = 0.5
    tgc_residual_db_cm: float = 0.0  # imperfect TGC: brighter/darker with depth
    noise_db: float = -72.0  # electronic noise relative to myocardium at the surface
    gain_db: float = 0.0
    dynamic_range_db: float = 60.0
    top_db: float = 30.0  # envelope level shown white (before gain): myocardium ≈ 0 dB
    specular_gain: float = 1.0  # strength of mirror-like echoes at impedance jumps
    anisotropy_db: float = 0.0  # myocardium facing the beam minus myocardium along it, dB

    @staticmethod
    def sample(
        rng: np.random.Generator,
        *,
        depth_cm: float | None = None,
        depth_range: tuple[float, float] = (13.0, 19.0),
        min_depth_cm: float = 0.0,
        n_samples: int = 384,
        n_beams: int = 128,
    ) -> Acquisition:
        """Random settings in the typical adult cardiac ranges; ``depth_range`` (cm) is the
        window's (``DEPTH_RANGE``): shallow LV-focused apical views, deep subcostal ones,
        never shallower than ``min_depth_cm`` (the view's valves in the sector) and drawn over
        at least 1 cm beyond it."""
        lo = max(depth_range[0], min_depth_cm)
        hi = max(depth_range[1], lo + 1.0)
        return Acquisition(
            n_samples=n_samples,
            n_beams=n_beams,
            depth_cm=float(depth_cm if depth_cm is not None else rng.uniform(lo, hi)),
            r_min_cm=0.0,
            sector_deg=float(rng.uniform(68.0, 92.0)),
            f0_mhz=float(rng.uniform(1.7, 3.5)),
            sigma_axial=float(rng.uniform(0.9, 1.5)),
            sigma_lateral=float(rng.uniform(0.7, 1.2)),
            atten_db_cm_mhz=float(rng.uniform(0.4, 0.6)),
            tgc_residual_db_cm=float(rng.uniform(-0.6, 0.4)),
            noise_db=float(rng.uniform(-80.0, -64.0)),
            gain_db=float(rng.uniform(-4.0, 4.0)),
            dynamic_range_db=float(rng.uniform(50.0, 70.0)),
            top_db=float(rng.uniform(26.0, 36.0)),
            specular_gain=float(np.exp(rng.uniform(np.log(0.3), np.log(4.0)))),
            anisotropy_db=float(rng.uniform(4.0, 12.0)),
        )

    @property
    def radii(self) -> Arr:
        return np.linspace(self.r_min_cm, self.depth_cm, self.n_samples, dtype=np.float32)

    @property
    def angles(self) -> Arr:
        half = np.deg2rad(self.sector_deg) / 2
        return np.linspace(-half, half, self.n_beams, dtype=np.float32)


# Imaging depth (cm) by acoustic window: apical views range from LV-focused (the atria cut
# off at 11-13 cm) to whole-heart framings as deep as 22 cm (the valves near mid-depth, as in
# real-dev's apical stills; up to 18 cm before, where a model of it took 4 of 16 simulated
# A4C at 20-23 cm for another view); subcostal looks through the liver, deeper.
DEPTH_RANGE = {
    "SUB4C": (14.0, 22.0),
    "PLAX": (12.0, 20.0),
    "SAXMID": (12.0, 20.0),
    "SAXBASAL": (12.0, 20.0),
}
DEPTH_RANGE_DEFAULT = (10.0, 22.0)


def gaussian_kernel(sigma: float) -> Arr:
    """A 1-D Gaussian with unit energy (sum of squares 1), so unit-variance input stays unit."""
    half = max(1, int(np.ceil(3.5 * sigma)))
    x = np.arange(-half, half + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / np.sqrt((k * k).sum())).astype(np.float32)


def complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> Arr:
    """Circular complex Gaussian samples with E|z|^2 = 1 (complex64)."""
    z = rng.standard_normal((*shape, 2), dtype=np.float32) * np.float32(np.sqrt(0.5))
    return z.view(np.complex64)[..., 0]


def cell_hash(a: Arr, b: Arr, c: Arr) -> Arr:
    """Hash in-plane/elevation cell coordinates (float cm) to scatterer-table indices."""
    ia = np.floor(a * (1 / CELL_CM)).astype(np.int32).view(np.uint32)
    ib = np.floor(b * (1 / CELL_CM)).astype(np.int32).view(np.uint32)
    ic = np.floor(c * (1 / CELL_ELEV_CM)).astype(np.int32).view(np.uint32)
    h = (ia * np.uint32(73856093)) ^ (ib * np.uint32(19349663)) ^ (ic * np.uint32(83492791))
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    return (h & ((1 << TABLE_BITS) - 1)).astype(np.intp)


class BeamImager:
    """Forms envelope and display images on the (n_samples, n_beams) beam grid of one cine."""

    def __init__(self, acq: Acquisition, rng: np.random.Generator) -> None:
        self.acq = acq
        self.table = complex_normal(rng, (1 << TABLE_BITS,))
        self.k_ax = gaussian_kernel(acq.sigma_axial)
        self.k_lat = gaussian_kernel(acq.sigma_lateral)
        r = acq.radii
        att_db = -2.0 * acq.atten_db_cm_mhz * acq.f0_mhz * r
        self.att = (10.0 ** (att_db / 20.0)).astype(np.float32)[:, None]
        tgc_db = -att_db + acq.tgc_residual_db_cm * r
        self.tgc = (10.0 ** (tgc_db / 20.0)).astype(np.float32)[:, None]
        self.noise = np.float32(10.0 ** (acq.noise_db / 20.0))
        self._n = acq.n_samples * acq.n_beams
        self.pool = complex_normal(rng, (4 * self._n,))

    def fresh(self, rng: np.random.Generator) -> Arr:
        """Decorrelated complex Gaussian samples for one frame (a random window of a pool)."""
        off = int(rng.integers(0, 3 * self._n))
        return self.pool[off : off + self._n].reshape(self.acq.n_samples, self.acq.n_beams)

    def scatterers(
        self,
        echo: Arr,
        tissue: Arr,
        cells: Arr,
        rng: np.random.Generator,
        static_echo: Arr | None = None,
        static_field: Arr | None = None,
    ) -> Arr:
        """Complex scatterer amplitudes: tissue from the table at ``cells``, blood fresh."""
        field = np.where(tissue, self.table[cells], self.fresh(rng))
        z = field * np.sqrt(echo).astype(np.float32)
        if static_echo is not None and static_field is not None:
            z += static_field * np.sqrt(static_echo).astype(np.float32)
        return z

    def envelope(self, z: Arr, rng: np.random.Generator, gain_map: Arr | None = None) -> Arr:
        """PSF convolution, attenuation, noise, envelope and TGC; input (ns, nb) complex64."""
        if gain_map is not None:
            z = z * gain_map
        zf = z.view(np.float32).reshape(*z.shape, 2)  # (ns, nb, re/im)
        zf = convolve1d(zf, self.k_ax, axis=0, mode="nearest")
        zf = convolve1d(zf, self.k_lat, axis=1, mode="nearest")
        rf = zf.view(np.complex64)[..., 0] * self.att
        if self.noise > 0:
            rf += self.fresh(rng) * self.noise
        return np.abs(rf) * self.tgc

    def specular(self, imp: Arr, samples_per_cm: float) -> Arr:
        """Mirror-like echo strength from impedance jumps along the beam (``imp``: (ns, nb)).

        A smooth interface reflects R = ((Z2 - Z1) / (Z2 + Z1))² of the pulse back to the
        probe only where it faces the beam, so the jump is taken along depth: walls crossing
        the beam (PLAX septum, the posterior pericardium against lung, valve annuli) shine,
        walls running along it (the A4C septum and lateral wall) stay grey. Scaled so a
        blood/myocardium interface echoes about as much as myocardium, times
        ``acq.specular_gain`` (the smoothing leaves a sharp jump a few dB below that).
        """
        from scipy.ndimage import gaussian_filter

        z = gaussian_filter(imp, (0.08 * samples_per_cm, 0.7), mode="nearest")
        step = max(1, int(round(0.06 * samples_per_cm)))
        hi, lo = z[2 * step :], z[: -2 * step]
        r = np.zeros_like(z)
        r[step:-step] = ((hi - lo) / np.maximum(hi + lo, 1e-3)) ** 2
        return (r * (self.acq.specular_gain / 6.0e-4)).astype(np.float32)

    def anisotropy(self, solid: Arr, samples_per_cm: float) -> Arr:
        """Brightness factor of tissue by its angle to the beam (``solid``: (ns, nb) mask).

        Myocardium backscatters several dB more where its fibres (along the wall) cross the
        beam than where they run along it: the PLAX septum and the apical cap shine, the A4C
        septum and lateral wall are grey. The wall's direction is taken from the smoothed
        tissue mask's gradient: a gradient along the beam (cos² θ = 1) means the wall crosses
        it. Returns 10^(anisotropy_db · (cos² θ − 0.5) / 20), 1 where there is no wall.
        """
        from scipy.ndimage import gaussian_filter

        acq = self.acq
        m = gaussian_filter(solid.astype(np.float32), (0.5 * samples_per_cm, 2.0), mode="nearest")
        g_axial, g_beam = np.gradient(m)
        g_axial = g_axial * samples_per_cm  # per cm
        r = np.maximum(np.linspace(acq.r_min_cm, acq.depth_cm, m.shape[0]), 0.5)[:, None]
        g_lat = g_beam / (r * np.deg2rad(acq.sector_deg) / max(acq.n_beams - 1, 1))
        g2 = g_axial**2 + g_lat**2
        cos2 = np.where(g2 > 1e-6, g_axial**2 / np.maximum(g2, 1e-12), 0.5)
        return (10.0 ** (acq.anisotropy_db * (cos2 - 0.5) / 20.0)).astype(np.float32)

    def log_compress(self, env: Arr) -> Arr:
        """Envelope → display brightness in [0, 1]; white at ``top_db`` − gain, so
        myocardium sits near 0.5 for a 60 dB dynamic range and specular echoes saturate."""
        acq = self.acq
        top = acq.top_db - acq.gain_db
        db = 20.0 * np.log10(np.maximum(env, 1e-6))
        out = (db - (top - acq.dynamic_range_db)) * (1.0 / acq.dynamic_range_db)
        return np.clip(out, 0.0, 1.0).astype(np.float32)
