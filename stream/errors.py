"""Errors that name the source and the problem in one line, never a patient field.

Batch commands (``classify``, ``probe``, ``live`` on a file) turn whatever one item raises into
that item's :class:`SourceError` with :func:`item_error`, report it, and go on with the next.
Names are shown with :func:`display_name`, so a file name with a newline or bytes that are not
UTF-8 still gives one printable line (and valid JSON).
"""

from __future__ import annotations

import errno
import logging
import os
import re

log = logging.getLogger(__name__)


def display_name(source: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    r"""``source`` as one printable line: control characters escaped (``\n``, ``\x1b``), bytes
    that are not UTF-8 (surrogate-escaped by the OS layer) shown as ``\xNN``.

    >>> display_name("a\nb.dcm"), display_name(b"bad\xff.dcm"), display_name("ok é.dcm")
    ('a\\nb.dcm', 'bad\\xff.dcm', 'ok é.dcm')
    """
    text = os.fsdecode(os.fspath(source))
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def short_error(err: BaseException) -> str:
    """``"Type: message"`` of an exception in one bounded line (object reprs elided).

    >>> short_error(ValueError("bad\\nvalue"))
    'ValueError: bad value'
    """
    text = re.sub(r"<[^<>]* at 0x[0-9a-f]+>", "the frame", " ".join(str(err).split()))
    text = text if len(text) <= 160 else text[:159] + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class SourceError(Exception):
    """A source could not be read.

    ``str(err)`` is one line: ``"<source>: <problem>"``. The source is the name the user gave
    (a path or URL, through :func:`display_name`), never a value read from a DICOM header.

    >>> str(SourceError("study.dcm", "not a DICOM file"))
    'study.dcm: not a DICOM file'
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = display_name(str(source))
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.source}: {self.problem}")


def _problem(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "structure nested too deeply to read (RecursionError)"
    if isinstance(err, MemoryError):
        return "not enough memory to read it (MemoryError)"
    if isinstance(err, OSError) and err.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(err, OSError) and err.strerror:
        return f"cannot read it ({err.strerror[0].lower()}{err.strerror[1:]})"
    return f"cannot be processed ({short_error(err)})"


def item_error(source: str, err: BaseException) -> SourceError:
    """The one-line error of a batch item from anything reading it raised.

    A :class:`SourceError` is returned as it is; anything else (a reader bug, a recursion or
    memory limit) becomes one naming ``source``; its traceback is logged at debug level only.

    >>> str(item_error("a.dcm", RecursionError("maximum recursion depth exceeded")))
    'a.dcm: structure nested too deeply to read (RecursionError)'
    """
    if isinstance(err, SourceError):
        return err
    log.debug("%s: unexpected %s", display_name(source), type(err).__name__, exc_info=err)
    return SourceError(source, _problem(err))
