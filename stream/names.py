"""What a file path looks like in reports, tables and errors: ``full``, ``basename`` or ``hash``.

File and folder names often carry the patient's name (``DOE_JOHN/echo1.dcm``). Every command
that prints paths (``classify``, ``probe``, ``live``) takes ``--paths``:

- ``full`` (default): the path as given;
- ``basename``: the file name only (files of the same name in different folders look alike);
- ``hash``: ``hmac-<16 hex>.<suffix>``, an HMAC-SHA256 of the absolute path. The key is
  ``$ECHOSTREAM_PATH_KEY`` when set (the same file gets the same name in every run, so results
  can be joined later by whoever holds the key), else random per run (names cannot be linked
  across runs). Without the key, the name cannot be turned back into the path.

Example::

    shown = PathNamer.create("hash", key="site secret")
    shown("/data/DOE_JOHN/echo1.dcm")   # 'hmac-….dcm'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from .errors import display_name

PATH_STYLES = ("full", "basename", "hash")
KEY_ENV = "ECHOSTREAM_PATH_KEY"
PATHS_HELP = (
    "How file paths appear in output: full | basename | hash (HMAC-SHA256; key from "
    f"${KEY_ENV}, else random per run)."
)
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,6}")


@dataclass(frozen=True)
class PathNamer:
    """Turns a path into what gets printed (see the module docstring); a callable."""

    style: str = "full"
    key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.style not in PATH_STYLES:
            raise ValueError(f"paths must be one of {', '.join(PATH_STYLES)}, not {self.style!r}")
        if self.style == "hash" and not self.key:
            raise ValueError("hashing paths needs a key")

    @classmethod
    def create(
        cls,
        style: str = "full",
        key: str | bytes | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> PathNamer:
        """A namer for ``style``; ``hash`` keys with ``key``, else ``$ECHOSTREAM_PATH_KEY``,
        else 32 random bytes (this run only)."""
        if style != "hash":
            return cls(style)
        given = key if key is not None else environ.get(KEY_ENV)
        if isinstance(given, str):
            given = given.encode("utf-8", "surrogateescape")
        return cls(style, given or secrets.token_bytes(32))

    def __call__(self, path: str | os.PathLike[str]) -> str:
        text = os.fspath(path)
        if self.style == "full":
            return display_name(text)  # one printable line, whatever the file is called
        name = PurePath(text).name or text
        if self.style == "basename":
            return display_name(name)
        absolute = os.path.abspath(text)
        digest = hmac.new(self.key, os.fsencode(absolute), hashlib.sha256).hexdigest()[:16]
        suffix = PurePath(name).suffix
        return f"hmac-{digest}{suffix if _SUFFIX.fullmatch(suffix) else ''}"
