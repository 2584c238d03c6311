"""How well two annotators agree: Cohen's kappa over the parts both labelled, and the list of
parts where they differ (``echostream annotate-agreement A.csv B.csv``).

The unit compared is a stretch of frames both labelled: for a cine neither split, the cine; where
one or both split it, each overlap of one's part with the other's (an A4C/A2C split at frame 20
against a split at 22 gives three units: 0-19, 20-21, 22-end). Units either annotator skipped
(``SKIP``) are left out and counted; ``OTHER`` is a label like the views. Kappa is
scikit-learn's :func:`~sklearn.metrics.cohen_kappa_score`; it is undefined (None) when fewer than
two units are compared or both gave one and the same label throughout. Cines are named by their
content id (the one the annotate page shows), files only when asked.

Example::

    result = compare(read_labels("labels.alice.csv"), read_labels("labels.bob.csv"))
    print(result.kappa, len(result.disagreements))
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from .annotate_store import SKIP, LabelRow


@dataclass(frozen=True)
class Unit:
    """Frames ``start`` to ``end`` (excluded) of one cine, and the two labels they got."""

    cine: str
    file: str
    start: int
    end: int
    a: str
    b: str


@dataclass
class Agreement:
    """The comparison of two labels files (see the module docstring)."""

    a: str
    b: str
    units: list[Unit] = field(default_factory=list)
    skipped: int = 0
    only_a: int = 0
    only_b: int = 0
    kappa: float | None = None

    @property
    def disagreements(self) -> list[Unit]:
        return [u for u in self.units if u.a != u.b]

    @property
    def observed(self) -> float | None:
        """The fraction of units with the same label."""
        return 1 - len(self.disagreements) / len(self.units) if self.units else None

    def to_dict(self, show_files: bool = False) -> dict[str, Any]:
        def unit(u: Unit) -> dict[str, Any]:
            d = asdict(u)
            if not show_files:
                del d["file"]
            return d

        return {
            "a": self.a, "b": self.b, "units": len(self.units),
            "cines": len({u.cine or u.file for u in self.units}),
            "kappa": None if self.kappa is None else round(self.kappa, 4),
            "observed_agreement": None if self.observed is None else round(self.observed, 4),
            "skipped_units": self.skipped, "cines_only_in_a": self.only_a,
            "cines_only_in_b": self.only_b,
            "disagreements": [unit(u) for u in self.disagreements],
        }  # fmt: skip


def _overlaps(a: list[LabelRow], b: list[LabelRow]) -> list[tuple[LabelRow, LabelRow, int, int]]:
    """Each stretch of frames a part of ``a`` and a part of ``b`` share (an unreadable cine's
    empty part shares itself)."""
    out = []
    for ra in a:
        for rb in b:
            start, end = max(ra.start, rb.start), min(ra.end, rb.end)
            if start < end or ra.start == ra.end == rb.start == rb.end:
                out.append((ra, rb, start, end))
    return sorted(out, key=lambda t: t[2])


def kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of label pairs; None where it is undefined."""
    if len(pairs) < 2 or len({label for pair in pairs for label in pair}) < 2:
        return None  # one label throughout: chance agreement is 1, kappa 0/0
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(cohen_kappa_score([p[0] for p in pairs], [p[1] for p in pairs]))
    return None if math.isnan(value) else value


def compare(
    a_rows: list[LabelRow], b_rows: list[LabelRow], a_name: str = "A", b_name: str = "B"
) -> Agreement:
    """The agreement of two annotators' rows (see the module docstring)."""
    by_file: dict[str, tuple[list[LabelRow], list[LabelRow]]] = defaultdict(lambda: ([], []))
    for row in a_rows:
        by_file[row.file][0].append(row)
    for row in b_rows:
        by_file[row.file][1].append(row)
    result = Agreement(a_name, b_name)
    for file in sorted(by_file):
        a, b = by_file[file]
        if not a or not b:
            result.only_a += bool(a)
            result.only_b += bool(b)
            continue
        for ra, rb, start, end in _overlaps(a, b):
            if SKIP in (ra.view, rb.view):
                result.skipped += 1
            else:
                result.units.append(Unit(ra.cine or rb.cine, file, start, end, ra.view, rb.view))
    result.kappa = kappa([(u.a, u.b) for u in result.units])
    return result


def report_lines(result: Agreement, show_files: bool = False, limit: int = 50) -> list[str]:
    """The comparison as text lines for a terminal."""
    d = result.to_dict()
    kappa_text = "undefined" if result.kappa is None else f"{result.kappa:.3f}"
    observed = "" if result.observed is None else f" · raw agreement {result.observed:.3f}"
    lines = [
        f"{result.a} vs {result.b}: {d['units']} parts of {d['cines']} cines compared",
        f"  Cohen's kappa {kappa_text}{observed} ({len(result.disagreements)} disagreement(s))",
        f"  left out: {result.skipped} part(s) skipped by either; cines labelled by one only: "
        f"{result.only_a} ({result.a}), {result.only_b} ({result.b})",
    ]
    for u in result.disagreements[:limit]:
        where = f" {u.file}" if show_files else ""
        lines.append(f"    cine {u.cine}{where} frames {u.start}–{max(u.start, u.end - 1)}: "
                     f"{result.a} {u.a}, {result.b} {u.b}")  # fmt: skip
    if len(result.disagreements) > limit:
        lines.append(f"    … and {len(result.disagreements) - limit} more (--json lists all)")
    return lines
