"""The thesis' own numbers (``thesis_tables.yaml``): its tables, findings, and the value that
matches one of our report's cells.

    >>> thesis_table("4.2").value("Test set accuracy", "InceptionV3")
    '91%'
    >>> thesis_value("exp4", "baseline__25pct").text
    '90.0%'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TABLES_FILE = Path(__file__).with_name("thesis_tables.yaml")


@dataclass(frozen=True)
class ThesisTable:
    """One table as printed: caption, column names, rows of values (strings, ``None`` if unread)."""

    number: str
    caption: str
    columns: list[str]
    rows: list[list[str | None]]
    lines: tuple[int, int]  # first and last line in the thesis' text file
    notes: str = ""
    value_format: str = ""
    columns_printed: bool = True  # False: the table has no header row, the names are ours

    def value(self, row: str, column: str) -> str | None:
        """The value in the row whose first cell is ``row``, under ``column``."""
        col = self.columns.index(column)
        for r in self.rows:
            if r[0] == row:
                return r[col]
        raise KeyError(f"Table {self.number} has no row {row!r}")


@dataclass(frozen=True)
class ThesisValue:
    """The thesis' number for one of our cells, where it stands, and what it measures."""

    text: str  # as printed, e.g. "91%"
    metric: str  # our metric key, e.g. "frame_accuracy"
    source: str  # "Table 4.2" or "text, line 1870"
    lines: tuple[int, int]

    @property
    def percent(self) -> float | None:
        """The value as a number of percent, ``None`` if it is not one (``"91%"`` → 91.0)."""
        m = re.fullmatch(r"(\d+(?:\.\d+)?)%", self.text.strip())
        return float(m.group(1)) if m else None


@dataclass(frozen=True)
class Finding:
    """One finding of the thesis' abstract, verbatim, and the cells of ours that test it."""

    id: str
    experiment: str
    quote: str
    lines: tuple[int, int]
    evidence: str
    support: dict[str, Any]
    cells: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _data() -> dict[str, Any]:
    return yaml.safe_load(TABLES_FILE.read_text(encoding="utf-8"))


def thesis_tables() -> list[ThesisTable]:
    """Every transcribed table, in the thesis' order."""
    return [ThesisTable(**{**t, "lines": tuple(t["lines"])}) for t in _data()["tables"]]


def thesis_table(number: str) -> ThesisTable:
    """The table numbered ``number`` (``"4.2"``, ``"D.1"``)."""
    for t in thesis_tables():
        if t.number == number:
            return t
    raise KeyError(f"no thesis table {number!r}")


def thesis_findings() -> list[Finding]:
    """The findings of the thesis' abstract, in its order."""
    return [
        Finding(**{**f, "lines": tuple(f["lines"]), "cells": f.get("cells") or {}})
        for f in _data()["findings"]
    ]


def our_cells(experiment: str) -> dict[str, Any]:
    """Experiment ``experiment``'s section of the cell mapping (``cells``, ``no_counterpart`` …)."""
    return _data()["our_cells"][experiment]


def thesis_value(experiment: str, cell: str, metric: str | None = None) -> ThesisValue | None:
    """The thesis' value for our ``cell`` of ``experiment`` (``exp1``–``exp4``) and ``metric``
    (default: the one the report's thesis column shows); ``None`` where the thesis has none."""
    section = our_cells(experiment)
    entry = section["cells"].get(cell)
    metric = metric or section["headline"]
    if entry is None:
        return None
    if "text" in entry:
        t = _data()["text_numbers"][entry["text"]]
        if t["metric"] != metric:
            return None
        return ThesisValue(t["value"], metric, f"text, line {t['lines'][0]}", tuple(t["lines"]))
    table = thesis_table(entry["table"])
    if "row" in entry:
        parts = section.get("metric_parts") or {}
        if metric not in parts:
            return None
        row, part = entry["row"], parts[metric]
    else:
        rows = section.get("metric_rows") or {}
        if metric not in rows:
            return None
        row, part = rows[metric], None
    text = table.value(row, entry["column"])
    if text is None:
        return None
    if part is not None:
        text = text.split("/")[part].strip()
    return ThesisValue(text, metric, f"Table {table.number}", table.lines)


def thesis_mean(experiment: str, cells: list[str], metric: str | None = None) -> float | None:
    """Mean of the thesis' percent values over ``cells`` (``None`` if any is missing), to pool
    the thesis' column the same way as ours (e.g. vendor pairs vs single vendors)."""
    values = [thesis_value(experiment, c, metric) for c in cells]
    nums = [v.percent for v in values if v is not None and v.percent is not None]
    if not cells or len(nums) != len(cells):
        return None
    return sum(nums) / len(nums)
