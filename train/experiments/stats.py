"""Mean and 95 % confidence interval over seeds (Student's t, ``n - 1`` degrees of freedom).

Example::

    >>> s = mean_ci([0.90, 0.92, 0.94])
    >>> round(s.mean, 3), round(s.half_width, 3), s.n
    (0.92, 0.05, 3)
    >>> format_ci(s, percent=True)
    '92.0 ± 5.0 %'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class MeanCI:
    """Mean of ``n`` values and the half width of its confidence interval (NaN when n < 2)."""

    mean: float
    half_width: float
    n: int
    confidence: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready: NaN (no estimate) becomes None."""

        def clean(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {
            "mean": clean(self.mean),
            "ci95": clean(self.half_width),
            "low": clean(self.low),
            "high": clean(self.high),
            "n": self.n,
        }


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> MeanCI:
    """Mean and t-interval half width ``t_{(1+c)/2, n-1} · s / √n`` of ``values``.

    Missing values (None, NaN) are dropped; no values gives NaN mean; one value gives a NaN width
    (no interval can be estimated from a single seed).
    """
    from scipy import stats

    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return MeanCI(math.nan, math.nan, 0, confidence)
    mean = sum(xs) / n
    if n == 1:
        return MeanCI(mean, math.nan, 1, confidence)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    t = float(stats.t.ppf((1 + confidence) / 2, n - 1))
    return MeanCI(mean, t * sd / math.sqrt(n), n, confidence)


def format_ci(s: MeanCI, *, percent: bool = True, digits: int = 1) -> str:
    """``"92.0 ± 5.0 %"``; ``"92.0 % (1 seed)"`` without an interval; ``"–"`` when empty."""
    if s.n == 0:
        return "–"
    k = 100.0 if percent else 1.0
    unit = " %" if percent else ""
    if math.isnan(s.half_width):
        return f"{k * s.mean:.{digits}f}{unit} (1 seed)"
    return f"{k * s.mean:.{digits}f} ± {k * s.half_width:.{digits}f}{unit}"
