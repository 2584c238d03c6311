"""De-identify a DICOM header: PS3.15 Basic Application Level Confidentiality Profile.

Two libraries do the work, in this order, on one dataset:

1. pydicom drops every private element (``Dataset.remove_private_tags``, sequences included).
2. dicognito (``Anonymizer(seed=salt)``) makes consistent pseudonyms: person names, IDs,
   addresses and institutions replaced by made-up ones, every instance UID remapped (class and
   transfer-syntax UIDs kept), every date and time shifted back by one offset. All of it is a
   keyed hash of the original value and the run's secret salt, so a study's files keep
   linking to each other (same patient, same study UID, references intact) and another salt
   gives other pseudonyms.
3. dicom-anonymizer's copy of the standard's table E.1-1 (``dicomfields_2026c``) decides every
   element dicognito left as it was, at every depth: free-text comments and descriptions,
   device serial numbers, sex, age, size, weight, overlays, icon images, ... are removed,
   emptied or replaced with a dummy. Where dicognito made a pseudonym it is kept (that is the
   profile's "Retain Longitudinal Temporal Information with Modified Dates" option for the
   dates), except the birth date and time, which are emptied.

The header then says what was done (Patient Identity Removed, De-identification Method and its
code sequence, Longitudinal Temporal Information Modified, Burned In Annotation ``NO`` only
when the pixels outside the ultrasound region were blanked), gets a fresh file meta and an
empty preamble. :func:`header_changes` lists what changed for the audit, never a value.

Example::

    deid = HeaderDeidentifier(salt="per-run secret")
    changes = deid.apply(ds, pixels_blanked=True)   # ds changed in place
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

PROFILE_TABLE = "dicomfields_2026c"  # dicom-anonymizer's copy of PS3.15 table E.1-1
_BIRTH = {0x00100030, 0x00100032}  # PatientBirthDate, PatientBirthTime: emptied, not shifted
_U_STAR = "delete_or_empty_or_replace_UID"  # a sequence whose UIDs dicognito already remapped
_DATE = re.compile(r"(\d{8}|\d{4}\.\d{2}\.\d{2})?")
_DATETIME = re.compile(r"(\d{4}|\d{6}|\d{8}|\d{10,14}(\.\d{1,6})?)([+-]\d{4})?|")
_TIME = re.compile(r"(\d{2}(:?\d{2}(:?\d{2}(\.\d{1,6})?)?)?)?")
_PSEUDONYM_KINDS = {"UI": "uid remapped", "DA": "date shifted", "DT": "date shifted",
                    "TM": "time shifted"}  # fmt: skip
# DICOM CID 7050 (De-identification Method)
_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "pixels": ("113101", "Clean Pixel Data Option"),
}


@dataclass(frozen=True)
class Change:
    """One element that changed: where (``(0010,0010) PatientName``, nested as
    ``(0008,1110)[0] > (0008,1155) ReferencedSOPInstanceUID``), its VR and what happened:
    ``pseudonym``, ``uid remapped``, ``date shifted``, ``time shifted`` (dicognito),
    ``replaced`` (a dummy), ``emptied``, ``removed``, ``added``. Never a value."""

    element: str
    vr: str
    action: str


@dataclass(frozen=True)
class _Seen:
    vr: str
    digest: str  # of the value, kept in memory only (to tell what changed)
    empty: bool


def _label(tag: Any, keyword: str) -> str:
    return f"({tag.group:04X},{tag.element:04X}) {keyword or 'private'}".rstrip()


def _walk(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, Dataset, Any]]:
    """``(path, dataset, element)`` of every element, depth first, sequences' items too."""
    for elem in list(ds):
        path = prefix + _label(elem.tag, elem.keyword)
        yield path, ds, elem
        if elem.VR == "SQ" and elem.value is not None:
            for i, item in enumerate(elem.value):
                yield from _walk(item, f"{path}[{i}] > ")


def snapshot(ds: Dataset) -> dict[str, _Seen]:
    """Every element's path, VR and a digest of its value (for :func:`header_changes`)."""
    seen = {}
    for path, _, elem in _walk(ds):
        value = len(elem.value or ()) if elem.VR == "SQ" else elem.value
        if isinstance(value, bytes):
            data, empty = value, not value
        else:
            data = repr(value).encode("utf-8", "replace")
            empty = elem.VR != "SQ" and (value is None or str(value) in ("", "0"))
        seen[path] = _Seen(elem.VR, hashlib.sha256(data).hexdigest(), empty)
    return seen


def header_changes(
    before: dict[str, _Seen], after: dict[str, _Seen], pseudonymized: AbstractSet[str] = frozenset()
) -> list[Change]:
    """What changed between two snapshots; an element inside a removed or added one is not
    repeated. A pseudonym (a path in ``pseudonymized``) says which kind it is."""
    changes: list[Change] = []
    whole: list[str] = []  # sequences removed or added whole

    def inside_whole(path: str) -> bool:
        return any(path.startswith(w + "[") for w in whole)

    for path, old in before.items():
        new = after.get(path)
        if new is None and not inside_whole(path):
            whole.append(path)
            changes.append(Change(path, old.vr, "removed"))
        elif new is not None and new.digest != old.digest and old.vr != "SQ":
            action = "emptied" if new.empty else "replaced"
            if path in pseudonymized:
                action = _PSEUDONYM_KINDS.get(old.vr, "pseudonym")
            changes.append(Change(path, old.vr, action))
    for path, new in after.items():
        if path not in before and not inside_whole(path):
            whole.append(path)
            changes.append(Change(path, new.vr, "added"))
    return changes


@lru_cache(maxsize=1)
def _profile_actions() -> tuple[dict[tuple[int, int], Callable], list[tuple[tuple, Callable]]]:
    """The table's actions: ``{(group, element): action}`` and the repeating groups'
    ``((group, element, group mask, element mask), action)``."""
    from dicomanonymizer.simpledicomanonymizer import initialize_actions

    actions = initialize_actions(PROFILE_TABLE)
    single = {(t[0], t[1]): a for t, a in actions.items() if len(t) == 2}
    masked = [(t, a) for t, a in actions.items() if len(t) == 4]
    return single, masked


def _action_for(tag: Any) -> Callable | None:
    single, masked = _profile_actions()
    action = single.get((tag.group, tag.element))
    if action is not None:
        return action
    for (group, element, gmask, emask), act in masked:
        if tag.group & gmask == group & gmask and tag.element & emask == element & emask:
            return act
    return None


def _drop_unparseable_dates(ds: Dataset) -> None:
    """Remove DA/DT/TM values dicognito could not shift (a malformed date would stop it)."""
    patterns = {"DA": _DATE, "DT": _DATETIME, "TM": _TIME}
    for _, parent, elem in list(_walk(ds)):
        pattern = patterns.get(elem.VR)
        if pattern is None or elem.value in (None, ""):
            continue
        values = elem.value if isinstance(elem.value, list | tuple) else [elem.value]
        if not all(pattern.fullmatch(str(v).strip()) for v in values):
            del parent[elem.tag]


def _apply_profile_table(ds: Dataset, pseudonymized: set[str]) -> None:
    """The table's action on each element dicognito did not pseudonymize (at every depth)."""
    todo = []
    for path, parent, elem in _walk(ds):
        action = _action_for(elem.tag)
        keep = path in pseudonymized and int(elem.tag) not in _BIRTH
        if action is not None and not keep and action.__name__ != _U_STAR:
            todo.append((parent, (elem.tag.group, elem.tag.element), action))
    for parent, tag, action in todo:  # outer elements first: a removed sequence takes its items
        action(parent, tag)


def _method_code_items(pixels_blanked: bool) -> Sequence:
    keys = ["basic", "dates"] + (["pixels"] if pixels_blanked else [])
    items = []
    for key in keys:
        item = Dataset()
        item.CodeValue, item.CodeMeaning = _CODES[key]
        item.CodingSchemeDesignator = "DCM"
        items.append(item)
    return Sequence(items)


class HeaderDeidentifier:
    """The header step of ``echostream anonymize`` for one run (one salt): see the module
    docstring. One instance per run, so pseudonyms agree across the run's files."""

    def __init__(self, salt: str) -> None:
        from dicognito.anonymizer import Anonymizer

        self._dicognito = Anonymizer(seed=salt)
        _profile_actions()  # load the table once, before the first file

    def apply(self, ds: Dataset, *, pixels_blanked: bool) -> list[Change]:
        """De-identify ``ds`` in place; returns what changed (element, VR, action)."""
        before = snapshot(ds)
        ds.remove_private_tags()
        _drop_unparseable_dates(ds)
        if pixels_blanked:
            ds.BurnedInAnnotation = "NO"  # before dicognito: it then sets PatientIdentityRemoved
        middle = snapshot(ds)
        self._dicognito.anonymize(ds)
        after = snapshot(ds)
        pseudonymized = {p for p, s in after.items() if p in middle and middle[p] != s}
        _apply_profile_table(ds, pseudonymized)
        self._describe(ds, pixels_blanked)
        changes = header_changes(before, snapshot(ds), pseudonymized)
        self._fresh_file_meta(ds)
        return changes

    @staticmethod
    def _describe(ds: Dataset, pixels_blanked: bool) -> None:
        if pixels_blanked:
            ds.PatientIdentityRemoved = "YES"
        methods = ["DICOGNITO", f"PS3.15 E.1-1 {PROFILE_TABLE.upper()} (DICOM-ANONYMIZER)"]
        if pixels_blanked:
            methods.append("ECHOSTREAM: BLANKED OUTSIDE US REGION")
        ds.DeidentificationMethod = methods
        ds.DeidentificationMethodCodeSequence = _method_code_items(pixels_blanked)
        ds.LongitudinalTemporalInformationModified = "MODIFIED"

    @staticmethod
    def _fresh_file_meta(ds: Dataset) -> None:
        """New file meta (the old one may name the sending station) and a zero preamble."""
        old = getattr(ds, "file_meta", None) or FileMetaDataset()  # its UIDs already remapped
        meta = FileMetaDataset()
        for keyword, fallback in (
            ("SOPClassUID", "MediaStorageSOPClassUID"),
            ("SOPInstanceUID", "MediaStorageSOPInstanceUID"),
        ):
            value = ds.get(keyword) or old.get(fallback)
            if value:
                setattr(meta, f"MediaStorage{keyword}", value)
        if "TransferSyntaxUID" in old:
            meta.TransferSyntaxUID = old.TransferSyntaxUID
        ds.file_meta = meta
        ds.preamble = b"\0" * 128
