"""Patient-level splits (80/10/10 by default, seeded) and the per-class/vendor split table.

No patient is in two splits: frames of one patient are highly correlated, so a frame-level
split would leak. The split table has the form of the thesis' Tables 3.1/3.2: images and
cines per class, per vendor, per split.

Example::

    assign = split_patients(store.cines["patient_id"], (0.8, 0.1, 0.1), seed=0)
    cines["split"] = cines["patient_id"].map(assign)
    print_split_table(split_table(store.index, assign))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from echostream.stream.views import VIEWS

SPLITS = ("train", "val", "test")


def split_patients(
    patient_ids: Iterable[str],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    names: Sequence[str] = SPLITS,
) -> dict[str, str]:
    """Map each distinct patient to a split name; seeded, independent of input order.

    Counts are rounded from the fractions; with at least as many patients as splits, each
    split with a non-zero fraction gets at least one patient.

    >>> a = split_patients([f"p{i}" for i in range(10)], seed=1)
    >>> sorted(list(a.values()).count(s) for s in ("train", "val", "test"))
    [1, 1, 8]
    """
    if len(fractions) != len(names):
        raise ValueError(f"{len(fractions)} fractions for {len(names)} splits")
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"bad split fractions {tuple(fractions)}")
    patients = sorted(set(map(str, patient_ids)))
    n = len(patients)
    frac = np.asarray(fractions, dtype=float) / float(sum(fractions))
    counts = _counts(n, frac)
    order = np.random.default_rng(seed).permutation(n)
    out: dict[str, str] = {}
    start = 0
    for name, count in zip(names, counts, strict=True):
        for i in order[start : start + count]:
            out[patients[i]] = name
        start += count
    return out


def _counts(n: int, frac: np.ndarray) -> list[int]:
    counts = np.floor(frac * n).astype(int)
    # hand out the remainder by largest fractional part (first split wins ties)
    rest = n - counts.sum()
    for i in np.argsort(-(frac * n - counts), kind="stable")[:rest]:
        counts[i] += 1
    if n >= len(frac):  # no empty split that was asked for
        for i in np.flatnonzero((counts == 0) & (frac > 0)):
            counts[i] += 1
            counts[int(np.argmax(counts))] -= 1
    return counts.tolist()


def check_no_leakage(patient_of_row: Iterable[str], split_of_row: Iterable[str]) -> None:
    """Raise ``ValueError`` if any patient's rows fall in more than one split."""
    seen: dict[str, str] = {}
    for patient, split in zip(patient_of_row, split_of_row, strict=True):
        if seen.setdefault(patient, split) != split:
            raise ValueError(f"patient leaks across splits {seen[patient]!r} and {split!r}")


def split_table(index, assign: dict[str, str], labels: Sequence[str] = VIEWS):  # -> DataFrame
    """Images and cines per (split, vendor, class); ``index`` is ``FrameStore.index``."""
    import pandas as pd

    df = index.assign(split=index["patient_id"].map(assign)).dropna(subset=["split"])
    images = df.groupby(["split", "vendor", "view"]).size().rename("images")
    cines = df.groupby(["split", "vendor", "view"])["cine"].nunique().rename("cines")
    table = pd.concat([images, cines], axis=1).reset_index()
    table["view"] = pd.Categorical(table["view"], categories=list(labels), ordered=True)
    return table.sort_values(["split", "vendor", "view"]).reset_index(drop=True)


def print_split_table(table, console=None, splits: Sequence[str] = SPLITS) -> None:
    """Print two rich tables, "images (cines)" per split: one row per class (the thesis'
    Table 3.1), then one row per vendor (Table 3.2)."""
    from rich.console import Console

    console = console or Console()
    present = [s for s in splits if s in set(table["split"])]
    console.print(_table(table, "view", list(table["view"].cat.categories), present, "class"))
    console.print(_table(table, "vendor", sorted(table["vendor"].unique()), present, "vendor"))


def _table(table, by: str, keys: list, splits: list[str], what: str):
    from rich.table import Table

    t = Table(title=f"Images (cines) per {what} and split", show_footer=True)
    t.add_column(what, footer="total")
    for s in splits:
        sub = table[table["split"] == s]
        t.add_column(s, justify="right", footer=f"{sub['images'].sum()} ({sub['cines'].sum()})")
    for key in keys:
        cells = []
        for s in splits:
            sub = table[(table["split"] == s) & (table[by] == key)]
            cells.append(f"{sub['images'].sum()} ({sub['cines'].sum()})")
        t.add_row(str(key), *cells)
    return t
