"""The files the demo keeps for each browser session, and when they go.

Uploads (full DICOM headers) and annotated playbacks are patient data. The demo writes its
outputs under random names (no upload name in a file name or URL) into one folder inside
Gradio's cache, remembers which session each upload and output belongs to, and deletes them:

- when the session ends (the browser tab is closed or reloaded: Gradio's ``unload`` event);
- when the app stops (:meth:`DemoFiles.clear`, and Gradio's own ``delete_cache`` sweep);
- on Gradio's ``delete_cache`` schedule for everything else it cached (live-view frames,
  the copies it makes of outputs), see :data:`DELETE_CACHE`.

Example::

    files = DemoFiles.in_gradio_cache()
    out = files.new_path(session, ".mp4")   # …/echostream-<random>/<random>.mp4
    files.end_session(session)              # deletes it, and the session's uploads
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from pathlib import Path

#: Gradio ``delete_cache=(every, older_than)`` seconds: what Gradio cached (uploads, live-view
#: frames, copies of outputs) is deleted once 30 minutes old, checked every minute.
DELETE_CACHE = (60, 1800)


def gradio_cache() -> Path:
    """Gradio's cache folder (``$GRADIO_TEMP_DIR``, else ``<tmp>/gradio``)."""
    try:
        from gradio.utils import get_upload_folder

        return Path(get_upload_folder())
    except ImportError:  # the runner is used without gradio (tests, scripts)
        return Path(tempfile.gettempdir()) / "gradio"


def in_gradio_cache(path: str | Path) -> bool:
    """Whether ``path`` lies inside Gradio's cache (an upload Gradio stored, not a user's file)."""
    try:
        return Path(path).resolve().is_relative_to(gradio_cache().resolve())
    except OSError:
        return False


class DemoFiles:
    """Per-session bookkeeping of the files one demo app wrote or received (thread-safe).

    ``owns_root``: the folder was made for this app (:meth:`in_gradio_cache`) and goes with
    :meth:`clear`; a folder given by the caller keeps everything but the tracked files."""

    def __init__(self, root: Path, *, owns_root: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.owns_root = owns_root
        self._lock = threading.Lock()
        self._files: dict[str, set[Path]] = {}

    @classmethod
    def in_gradio_cache(cls) -> DemoFiles:
        """A fresh folder inside Gradio's cache (so Gradio serves it without copying)."""
        return cls(gradio_cache() / f"echostream-{secrets.token_hex(8)}", owns_root=True)

    def new_path(self, session: str | None, suffix: str) -> Path:
        """A new, random file path in :attr:`root` for ``session`` (the file does not exist)."""
        path = self.root / f"{secrets.token_hex(12)}{suffix}"
        self.adopt(session, path)
        return path

    def adopt(self, session: str | None, path: str | Path) -> None:
        """Delete ``path`` (e.g. an upload Gradio stored) when ``session`` ends."""
        with self._lock:
            self._files.setdefault(session or "", set()).add(Path(path))

    def session_files(self, session: str | None) -> set[Path]:
        with self._lock:
            return set(self._files.get(session or "", ()))

    def all_files(self) -> set[Path]:
        """Every file kept for any session."""
        with self._lock:
            return {p for paths in self._files.values() for p in paths}

    def end_session(self, session: str | None) -> int:
        """Delete the session's files; how many were there."""
        with self._lock:
            paths = self._files.pop(session or "", set())
        return sum(_remove(p) for p in paths)

    def clear(self) -> int:
        """Delete every session's files, and the demo's folder if it made it (the app stops)."""
        with self._lock:
            sessions = list(self._files)
        count = sum(self.end_session(s) for s in sessions)
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
        return count


def _remove(path: Path) -> bool:
    """Delete ``path``; False when it was not there (or cannot be deleted)."""
    try:
        path.unlink()
    except OSError:
        return False
    return True
