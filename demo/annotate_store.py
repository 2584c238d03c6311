"""The labels file ``echostream annotate`` writes, and the labelling state it holds.

One row per labelled part of a cine, in the order they were labelled, the format
``echostream import --labels FILE`` reads (:mod:`echostream.train.import_data`)::

    file,view,start,end,frames,cine,suggested,confidence,annotator,labelled_at
    a4c/1.dcm,A4C,0,48,48,3f2a9c1e,A4C,0.91,alice,2025-01-01T10:00:00+00:00
    sweep.dcm,PLAX,0,20,50,77b0d2aa,PLAX,0.55,alice,…     # a cine split at frame 20:
    sweep.dcm,A4C,20,50,50,77b0d2aa,PLAX,0.55,alice,…     #   two parts, labelled apart

``file``: the cine's path relative to the annotated folder; ``view``: one of the 8 views,
``OTHER`` (not one of them) or ``SKIP`` (left out by the annotator); ``start``/``end``: the part's
frames (0-based, ``end`` excluded); ``frames``: the cine's frame count; ``cine``: the id the page
shows (a hash of the file's content, never its name); ``suggested``/``confidence``: what the model
proposed. The file is rewritten atomically after each action (:mod:`echostream.stream.atomic`),
so a crash leaves the last complete state; reopening it continues where labelling stopped.

A split cuts the part being labelled at a frame; a part is labelled once. :meth:`LabelStore.undo`
takes back the last label or split of this session; after a restart, labels from the file can be
undone one by one (newest first), the cut points of split parts with them.

Example::

    store = LabelStore.open("cines/labels.csv", annotator="alice")
    store.split("sweep.dcm", frames=50, at=20)
    store.label("sweep.dcm", 50, "PLAX")          # frames 0-19
    store.label("sweep.dcm", 50, "A4C")           # frames 20-49
    store.undo()
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from echostream.stream.atomic import atomic_file
from echostream.stream.views import VIEWS

OTHER = "OTHER"
SKIP = "SKIP"
#: Every label a part can get, in the page's order (keys 1-8, ``o``, ``s``).
CHOICES: tuple[str, ...] = (*VIEWS, OTHER, SKIP)
LABEL_COLUMNS = (
    "file", "view", "start", "end", "frames", "cine", "suggested", "confidence", "annotator",
    "labelled_at",
)  # fmt: skip


@dataclass(frozen=True)
class LabelRow:
    """One labelled part of a cine: frames ``start`` to ``end`` (excluded) of ``file``."""

    file: str
    view: str
    start: int
    end: int
    frames: int
    cine: str = ""
    suggested: str = ""
    confidence: float | None = None
    annotator: str = ""
    labelled_at: str = ""

    def csv_row(self) -> dict[str, str]:
        row = {k: "" if v is None else str(v) for k, v in asdict(self).items()}
        if self.confidence is not None:
            row["confidence"] = f"{self.confidence:.4f}"
        return row


@dataclass(frozen=True)
class Split:
    """A cut of ``file`` at frame ``at``: the frames before and from it are labelled apart."""

    file: str
    at: int


Action = LabelRow | Split


def _int(value: str, what: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{where}: {what} {value!r} is not a whole number") from None


def read_labels(path: str | Path) -> list[LabelRow]:
    """The rows of a labels file written by :class:`LabelStore` (one-line ``ValueError`` naming
    the file and line for a row that is not one)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("file", "view", "start", "end", "frames") if c not in
                   (reader.fieldnames or [])]  # fmt: skip
        if missing:
            raise ValueError(f"{path.name}: not an annotate labels file (no {', '.join(missing)})")
        rows = []
        for line, raw in enumerate(reader, start=2):
            where = f"{path.name}:{line}"
            view = (raw.get("view") or "").strip().upper()
            if view not in CHOICES:
                raise ValueError(f"{where}: unknown label {view!r}")
            start, end = (_int(raw.get(k) or "", k, where) for k in ("start", "end"))
            frames = _int(raw.get("frames") or "", "frames", where)
            if not (0 <= start < end <= frames or start == end == frames == 0):
                raise ValueError(f"{where}: frames {start}-{end} are not a part of the cine")
            conf = (raw.get("confidence") or "").strip()
            rows.append(LabelRow(
                file=raw["file"], view=view, start=start, end=end, frames=frames,
                cine=raw.get("cine") or "", suggested=raw.get("suggested") or "",
                confidence=float(conf) if conf else None, annotator=raw.get("annotator") or "",
                labelled_at=raw.get("labelled_at") or "",
            ))  # fmt: skip
    return rows


class LabelStore:
    """The actions of one annotator on one folder, saved to :attr:`path` after each change."""

    def __init__(self, path: str | Path, annotator: str = "", actions: list[Action] | None = None):
        self.path = Path(path)
        self.annotator = annotator
        self.actions: list[Action] = list(actions or [])

    @classmethod
    def open(cls, path: str | Path, annotator: str = "") -> LabelStore:
        """The store of ``path``: its rows when the file exists (resuming), else empty."""
        path = Path(path)
        return cls(path, annotator, list(read_labels(path)) if path.is_file() else [])

    # -- what is labelled -------------------------------------------------------------------

    @property
    def rows(self) -> list[LabelRow]:
        return [a for a in self.actions if isinstance(a, LabelRow)]

    def rows_of(self, file: str) -> list[LabelRow]:
        return [r for r in self.rows if r.file == file]

    def cuts(self, file: str, frames: int) -> list[int]:
        """The frames where ``file`` is cut: its splits and the bounds of its labelled parts."""
        found = {a.at for a in self.actions if isinstance(a, Split) and a.file == file}
        for r in self.rows_of(file):
            found |= {r.start, r.end}
        return sorted(c for c in found if 0 < c < frames)

    def segments(self, file: str, frames: int) -> list[tuple[int, int]]:
        """The parts of ``file`` (``[(0, frames)]`` when it was never split)."""
        bounds = [0, *self.cuts(file, frames), frames]
        return list(zip(bounds[:-1], bounds[1:], strict=True))

    def current(self, file: str, frames: int) -> tuple[int, int] | None:
        """The first part of ``file`` without a label; None when every part has one."""
        done = {(r.start, r.end) for r in self.rows_of(file)}
        return next((s for s in self.segments(file, frames) if s not in done), None)

    def is_done(self, file: str, frames: int) -> bool:
        return self.current(file, frames) is None

    # -- actions ----------------------------------------------------------------------------

    def label(
        self,
        file: str,
        frames: int,
        view: str,
        *,
        cine: str = "",
        suggested: str = "",
        confidence: float | None = None,
    ) -> LabelRow:
        """Label the current part of ``file`` (see :meth:`current`) and save."""
        view = view.upper()
        if view not in CHOICES:
            raise ValueError(f"unknown label {view!r}: one of {', '.join(CHOICES)}")
        part = self.current(file, frames)
        if part is None:
            raise ValueError(f"{cine or 'this cine'}: every part is labelled already")
        row = LabelRow(
            file, view, part[0], part[1], frames, cine, suggested, confidence, self.annotator,
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )  # fmt: skip
        self.actions.append(row)
        self.save()
        return row

    def split(self, file: str, frames: int, at: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Cut the current part of ``file`` at frame ``at`` (it must lie strictly inside);
        returns the parts before and from it."""
        part = self.current(file, frames)
        if part is None or not part[0] < at < part[1]:
            shown = f"{part[0]}-{part[1] - 1}" if part else "none left"
            raise ValueError(f"cannot split at frame {at}: the current part is frames {shown}")
        self.actions.append(Split(file, at))
        self.save()
        return (part[0], at), (at, part[1])

    def undo(self) -> Action | None:
        """Take back the newest action (a label, or a split) and save; None when none is left."""
        if not self.actions:
            return None
        action = self.actions.pop()
        self.save()
        return action

    def save(self) -> None:
        """Write every label row to :attr:`path` atomically (splits live in the rows' bounds)."""
        with atomic_file(self.path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=LABEL_COLUMNS)
            writer.writeheader()
            writer.writerows(r.csv_row() for r in self.rows)

    def counts(self) -> dict[str, int]:
        """Labelled parts per label, in :data:`CHOICES` order (labels never given left out)."""
        views = [r.view for r in self.rows]
        return {c: n for c in CHOICES if (n := views.count(c))}
