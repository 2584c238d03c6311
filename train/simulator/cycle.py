"""The cardiac cycle: contraction and valve timing, an ECG trace, respiratory drift.

Times are seconds from an R wave. Example::

    s = cardiac_state(0.2, hr=72)   # mid-ejection: contracting, aortic valve open
    s.contraction, s.mitral, s.aortic
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CardiacState:
    """Contraction (0 end-diastole … 1 end-systole) and valve openings (0 shut … 1 open)."""

    contraction: float
    mitral: float
    aortic: float


def _smooth_interp(t: float, knots: list[tuple[float, float]]) -> float:
    """Piecewise smoothstep through (time, value) knots (times made non-decreasing)."""
    ts = np.maximum.accumulate(np.array([k[0] for k in knots], dtype=np.float64))
    vs = np.array([k[1] for k in knots], dtype=np.float64)
    if t <= ts[0]:
        return float(vs[0])
    if t >= ts[-1]:
        return float(vs[-1])
    i = int(np.searchsorted(ts, t, side="right")) - 1
    span = ts[i + 1] - ts[i]
    u = 0.0 if span <= 0 else (t - ts[i]) / span
    u = u * u * (3 - 2 * u)
    return float(vs[i] + (vs[i + 1] - vs[i]) * u)


def systole_duration(hr: float) -> float:
    """R wave to aortic valve closure, seconds (shortens slightly with heart rate)."""
    return 0.25 + 0.09 * (60.0 / hr)


def cardiac_state(t: float, hr: float) -> CardiacState:
    """The state of the heart ``t`` seconds after an R wave (periodic with 60/hr)."""
    period = 60.0 / hr
    t = t % period
    ts = systole_duration(hr)
    a_start = max(ts + 0.25, period - 0.17)  # atrial kick (A wave)
    contraction = _smooth_interp(
        t,
        [
            (0.0, 0.0),
            (0.05, 0.02),
            (ts, 1.0),
            (ts + 0.07, 0.97),
            (ts + 0.2, 0.3),
            (a_start, 0.18),
            (period - 0.04, 0.0),
            (period, 0.0),
        ],
    )
    mitral = _smooth_interp(
        t,
        [
            (0.0, 0.0),
            (ts + 0.07, 0.0),
            (ts + 0.12, 1.0),
            (ts + 0.3, 0.5),
            (a_start, 0.45),
            (a_start + 0.07, 0.85),
            (period - 0.02, 0.0),
            (period, 0.0),
        ],
    )
    aortic = _smooth_interp(
        t, [(0.0, 0.0), (0.05, 0.0), (0.09, 1.0), (ts - 0.04, 0.9), (ts, 0.0), (period, 0.0)]
    )
    return CardiacState(contraction, mitral, aortic)


def ecg(t: np.ndarray | float, hr: float) -> np.ndarray:
    """A synthetic lead-II ECG (mV-like units, R ≈ 1) at times ``t`` seconds after an R wave."""
    period = 60.0 / hr
    ts = systole_duration(hr)
    t = np.asarray(t, dtype=np.float64) % period
    waves = [  # (centre s, amplitude, width s): P, Q, R, S, T
        (-0.16, 0.12, 0.025),
        (-0.025, -0.12, 0.008),
        (0.0, 1.0, 0.011),
        (0.028, -0.22, 0.01),
        (ts - 0.08, 0.28, 0.045),
    ]
    out = np.zeros_like(t)
    for shift in (-period, 0.0, period):
        for c, a, w in waves:
            out += a * np.exp(-0.5 * ((t - c - shift) / w) ** 2)
    return out


def respiration(t: float, amplitude_cm: float, period_s: float, phase: float) -> float:
    """Respiratory displacement (cm) of the heart along a fixed direction at time ``t``."""
    return float(amplitude_cm * np.sin(2 * np.pi * t / period_s + phase))
