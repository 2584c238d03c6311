"""The receiver's spool: each instance on disk, whole, before the sender hears "stored".

Every accepted instance is written atomically (:func:`~.atomic.atomic_write`: a temp file,
synced, renamed) as ``<SOP Instance UID>.dcm`` in the spool folder, and removed once its
verdict is committed to the results database. A crash at any point leaves either no file (the
sender was not told "stored", and sends again) or a whole one (classified on the next start).

The spool is bounded by a count of instances and a size in bytes; an instance that would pass
either limit is refused (:data:`Admission.FULL`) instead of queued without end.

Example::

    spool = Spool("spool/", max_instances=500, max_bytes=2 << 30)
    if spool.admit(uid, encoded) is Admission.STORED:
        queue.put(spool.path_of(uid))
"""

from __future__ import annotations

import enum
import hashlib
import re
import threading
from pathlib import Path

from .atomic import atomic_write

SUFFIX = ".dcm"
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


class Admission(enum.Enum):
    """What :meth:`Spool.admit` did with an instance."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # already waiting in the spool
    FULL = "full"  # over the count or size limit: refused, nothing written


def spool_name(sop_instance_uid: str) -> str:
    """The instance's file name: its UID when it is a well-formed one (digits and dots, at most
    64 characters), else ``x-`` and a hash of it (no path tricks from the network).

    >>> spool_name("1.2.840.5"), spool_name("../etc/passwd")[:2]
    ('1.2.840.5.dcm', 'x-')
    """
    if len(sop_instance_uid) <= 64 and _UID.fullmatch(sop_instance_uid):
        return sop_instance_uid + SUFFIX
    digest = hashlib.sha256(sop_instance_uid.encode("utf-8", "surrogateescape")).hexdigest()
    return f"x-{digest[:40]}{SUFFIX}"


def uid_of(path: Path) -> str:
    """The SOP Instance UID a spool file was named after (the hashed name for a malformed UID)."""
    return path.name[: -len(SUFFIX)]


class Spool:
    """The spool folder with its limits; thread-safe."""

    def __init__(self, folder: str | Path, *, max_instances: int, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_instances = int(max_instances)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        for stale in self.folder.glob(f".*{SUFFIX}.*.tmp"):  # a write cut by a crash
            stale.unlink(missing_ok=True)

    def resume(self) -> list[Path]:
        """The instances a previous run left (oldest first); counted against the limits."""
        found = sorted(self.folder.glob(f"*{SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))
        with self._lock:
            for path in found:
                size = path.stat().st_size
                self._bytes += size - self._sizes.get(path.name, 0)
                self._sizes[path.name] = size
        return found

    def path_of(self, sop_instance_uid: str) -> Path:
        """Where the instance is (or would be) spooled."""
        return self.folder / spool_name(sop_instance_uid)

    def admit(self, sop_instance_uid: str, encoded: bytes) -> Admission:
        """Write ``encoded`` (a DICOM file's bytes) to the spool, or say why not."""
        name = spool_name(sop_instance_uid)
        with self._lock:
            if name in self._sizes:
                return Admission.DUPLICATE
            full = len(self._sizes) >= self.max_instances
            if full or self._bytes + len(encoded) > self.max_bytes:
                return Admission.FULL
            self._sizes[name] = len(encoded)  # reserved while it is written
            self._bytes += len(encoded)
        try:
            atomic_write(self.folder / name, encoded)
        except BaseException:
            self._forget(name)
            raise
        return Admission.STORED

    def remove(self, path: Path) -> None:
        """Delete a spooled instance whose verdict is committed."""
        path.unlink(missing_ok=True)
        self._forget(path.name)

    def _forget(self, name: str) -> None:
        with self._lock:
            self._bytes -= self._sizes.pop(name, 0)

    @property
    def pending(self) -> int:
        """Instances in the spool now."""
        with self._lock:
            return len(self._sizes)

    @property
    def bytes(self) -> int:
        """Bytes in the spool now."""
        with self._lock:
            return self._bytes
