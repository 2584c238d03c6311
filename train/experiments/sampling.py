"""Training-set sampling for the thesis' experiments 3 and 4 (per class, seeded).

- :func:`fraction_rows`: a fraction of a split's frames, sampled per class (experiment 4).
- :func:`patient_rows`: every frame of ``n`` patients of a split (the labels-vs-accuracy curve:
  how many labelled patients a new site needs).
- :func:`vendor_rows`: experiment 3's fixed-size training set: every training vendor set gets
  as many frames as the *smallest* vendor has, sampled per class, split evenly between the
  vendors when there are two (or more).
- :func:`check_vendor_patients`: no patient may appear under two vendors (else held-out-vendor
  accuracy would leak through that patient).

Rows are positions in the frame store's index (a DataFrame with ``patient_id``, ``vendor``,
``label`` columns), as :func:`echostream.train.data.select_rows` returns them.

Example::

    n = smallest_vendor_count(index, pool)          # e.g. 1200 frames
    train = vendor_rows(index, pool, ["epiq7g", "ie33"], n, seed=0)   # 600 + 600, per class
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_vendor_patients(index) -> None:
    """Raise ``ValueError`` if any patient has frames under more than one vendor."""
    per = index.groupby("patient_id")["vendor"].nunique()
    bad = int((per > 1).sum())
    if bad:  # no identifiers in the message: patient ids may be real ones
        raise ValueError(
            f"{bad} patient(s) appear under more than one vendor; experiment 3 needs one vendor "
            "per patient"
        )


def class_quotas(counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over classes in proportion to ``counts`` (largest remainder), exactly ``n``
    in total (capped by ``counts.sum()``), at least one per class when ``n`` allows.

    >>> class_quotas(np.array([50, 30, 20]), 10).tolist()
    [5, 3, 2]
    >>> class_quotas(np.array([98, 1, 1]), 3).tolist()
    [1, 1, 1]
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(min(n, counts.sum()))
    exact = n * counts / max(counts.sum(), 1)
    q = np.floor(exact).astype(np.int64)
    if n >= len(counts):
        q = np.maximum(q, (counts > 0).astype(np.int64))
    while q.sum() > n:  # the floor-of-one pushed us over: take from a class that keeps one
        surplus = np.where(q > 1, q - exact, -np.inf)
        q[int(np.argmax(surplus))] -= 1
    rest = n - int(q.sum())
    for i in np.argsort(-(exact - q), kind="stable"):
        if rest <= 0:
            break
        if q[i] < counts[i]:
            q[i] += 1
            rest -= 1
    while rest > 0:  # classes full at their share: fill from those with room
        room = np.flatnonzero(q < counts)
        q[room[0]] += 1
        rest -= 1
    return np.minimum(q, counts)


def per_class_sample(rows: np.ndarray, labels: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """Exactly ``min(n, len(rows))`` of ``rows`` (sorted), per class in proportion, at least one
    frame of each class when ``n`` allows."""
    rows, labels = np.asarray(rows), np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    out = [
        rng.choice(rows[labels == c], size=int(k), replace=False)
        for c, k in zip(classes, class_quotas(counts, n), strict=True)
        if k > 0
    ]
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def fraction_rows(index, rows: np.ndarray, fraction: float, *, seed: int) -> np.ndarray:
    """``fraction`` (0–1] of ``rows``, per class; at least one frame of every present class."""
    if not 0 < fraction <= 1:
        raise ValueError(f"training fraction must be in (0, 1], not {fraction}")
    rows = np.asarray(rows)
    n = max(1, round(fraction * len(rows)))
    return per_class_sample(rows, index["label"].to_numpy()[rows], n, seed=seed)


def patient_rows(index, rows: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """The frames among ``rows`` of ``n`` patients drawn at random (seeded); a smaller set's
    patients are among a larger set's for the same seed (nested, as labelling goes on).

    Raises ``ValueError`` when ``rows`` hold fewer than ``n`` patients.
    """
    rows = np.asarray(rows)
    pid = index["patient_id"].to_numpy()[rows]
    patients = np.unique(pid)
    if not 1 <= n <= len(patients):
        raise ValueError(f"asked for {n} labelled patients; the training split has {len(patients)}")
    order = np.random.default_rng(seed).permutation(patients)
    return np.sort(rows[np.isin(pid, order[:n])])


def vendor_counts(index, rows: np.ndarray) -> dict[str, int]:
    """Frames per vendor among ``rows``."""
    vc = index["vendor"].to_numpy()[np.asarray(rows)]
    names, counts = np.unique(vc, return_counts=True)
    return {str(k): int(c) for k, c in zip(names, counts, strict=True)}


def smallest_vendor_count(index, rows: np.ndarray) -> int:
    """The number of frames of the vendor with the fewest frames among ``rows``."""
    counts = vendor_counts(index, rows)
    if not counts:
        raise ValueError("no frames to count vendors in")
    return min(counts.values())


def vendor_rows(
    index, rows: np.ndarray, vendors: Sequence[str], total: int, *, seed: int
) -> np.ndarray:
    """``total`` frames of ``rows`` from ``vendors``: ``total / len(vendors)`` from each, per class.

    Raises ``ValueError`` if a vendor has no frames or fewer than its share.
    """
    rows = np.asarray(rows)
    vendor_of = index["vendor"].to_numpy()
    labels = index["label"].to_numpy()
    shares = np.full(len(vendors), total // len(vendors))
    shares[: total - shares.sum()] += 1  # the remainder to the first vendors
    out = []
    for i, (vendor, share) in enumerate(zip(vendors, shares, strict=True)):
        mine = rows[vendor_of[rows] == vendor]
        if len(mine) < share or not len(mine):
            raise ValueError(
                f"vendor {vendor!r} has {len(mine)} frames, fewer than its share {share}"
            )
        out.append(per_class_sample(mine, labels[mine], int(share), seed=seed * 1000 + i))
    return np.sort(np.concatenate(out))
