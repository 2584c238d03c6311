"""Who and what a cine is, for ``echostream import``: a keyed patient hash and a vendor name.

Patient identity is never stored raw. :func:`hash_patient` keeps an HMAC-SHA256 of it, keyed by
a site secret (:func:`patient_key`): ``--key-file FILE``, else ``$ECHOSTREAM_PATIENT_KEY``,
else the default key file (``$XDG_CONFIG_HOME/echostream/patient.key``); a missing key file is
made with 256 random bits (as hex, mode 0600). The key stays outside the data folder, so the
folder alone cannot be checked against a list of candidate IDs, and the same key gives the
same hash in every import: a patient imported in two batches lands in one split.
:func:`key_id` names a key without revealing it (recorded in ``import.json``).

:func:`read_identity` reads the four header tags the import needs (PatientID,
StudyInstanceUID, Manufacturer, ManufacturerModelName), nothing else; :func:`vendor_name`
maps the device to the simulator's vendor names where they match, else the model name
lower-cased.

Example::

    key = patient_key()
    hash_patient(key, "dicom", "SIM5500125")      # 'p3f9…' (16 hex)
    vendor_name("SIEMENS", "ACUSON SC2000")        # 'sc2000'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KEY_ENV = "ECHOSTREAM_PATIENT_KEY"
KEY_FILE_NAME = "patient.key"
_IDENTITY_TAGS = ["PatientID", "StudyInstanceUID", "Manufacturer", "ManufacturerModelName"]


def default_key_file(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/echostream/patient.key`` (``~/.config`` when unset)."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "echostream" / KEY_FILE_NAME


def patient_key(key_file: Path | None = None, environ: Mapping[str, str] = os.environ) -> bytes:
    """The site secret: the bytes of ``key_file`` when given, else ``$ECHOSTREAM_PATIENT_KEY``,
    else those of :func:`default_key_file`. A key file is created (256 random bits as hex,
    mode 0600) when missing."""
    given = environ.get(KEY_ENV)
    if key_file is None and given:
        return given.encode("utf-8", "surrogateescape")
    path = key_file or default_key_file(environ)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode())
    key = path.read_bytes().strip()
    if len(key) < 16:
        raise ValueError(f"{path}: the patient key is shorter than 16 bytes")
    return key


def key_id(key: bytes) -> str:
    """A short name of ``key`` (an HMAC of a fixed text): tells keys apart, reveals nothing."""
    return hmac.new(key, b"echostream patient key id", hashlib.sha256).hexdigest()[:8]


def hash_patient(key: bytes, source: str, value: str) -> str:
    """``p`` + 16 hex of HMAC-SHA256(key, value). IDs from a labels CSV and from DICOM headers
    share one namespace (the same patient ID gives the same hash); ``study`` and ``file``
    fallbacks get their own, so they never collide with a real ID."""
    message = value if source in ("csv", "dicom") else f"{source}:{value}"
    return "p" + hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def vendor_name(manufacturer: str, model_name: str) -> str:
    """The simulator's vendor key when the model name holds it (``ACUSON SC2000 PRIME`` →
    ``sc2000``), else the model name lower-cased, else the manufacturer's, else ``unknown``.

    >>> vendor_name("Philips Medical Systems", "iE33"), vendor_name("GE", "Vivid E95")
    ('ie33', 'vivid e95')
    """
    from .simulator.vendors import VENDORS

    squashed = _squash(model_name)
    for key, style in VENDORS.items():
        if squashed and (key in squashed or _squash(style.model_name) == squashed):
            return key
    for text in (model_name, manufacturer):
        if text.strip():
            return " ".join(text.lower().split())
    return "unknown"


@dataclass(frozen=True)
class DicomIdentity:
    """The header tags the import reads (raw: hashed before anything is written)."""

    patient_id: str = ""
    study_uid: str = ""
    manufacturer: str = ""
    model_name: str = ""


def read_identity(path: Path) -> DicomIdentity:
    """The four identity and device tags of a DICOM file (empty where absent or unreadable:
    the file's readability is the frame reader's business)."""
    from pydicom import dcmread

    from echostream.stream.sources.dicom_header import pydicom_messages

    try:
        with pydicom_messages():
            ds = dcmread(path, stop_before_pixels=True, specific_tags=_IDENTITY_TAGS, force=True)
    except Exception:  # pydicom raises many types on a damaged header
        return DicomIdentity()
    values = [str(ds.get(tag) or "").strip() for tag in _IDENTITY_TAGS]
    return DicomIdentity(*values)
