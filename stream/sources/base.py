"""The contract every frame source follows."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from ..errors import SourceError
from ..frame import Frame, SourceInfo

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path: str | Path, name: str | None = None) -> int:
    """The size of ``path`` when it is a non-empty regular file (links followed); otherwise a
    :class:`SourceError` saying what it is, before anything reads it (a FIFO or a device named
    ``.dcm`` would block or never end).

    >>> check_regular_file("/dev/null")
    Traceback (most recent call last):
    echostream.stream.errors.SourceError: /dev/null: not a regular file (a character device)
    """
    name = str(path) if name is None else name
    try:
        st = os.stat(path)
    except FileNotFoundError:
        broken = os.path.islink(path)
        problem = "no such file" + (" (broken symbolic link)" if broken else "")
        raise SourceError(name, problem) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SourceError(name, "symbolic link loop") from None
        reason = (err.strerror or type(err).__name__).lower()
        raise SourceError(name, f"cannot read file ({reason})") from None
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(name, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((what for test, what in _KINDS if test(st.st_mode)), "not a plain file")
        raise SourceError(name, f"not a regular file ({kind})")
    if st.st_size == 0:
        raise SourceError(name, "empty file (0 bytes)")
    return int(st.st_size)


class FrameSource:
    """A readable source of frames: ``info`` up front, then frames one at a time.

    Sources are opened by :func:`echostream.stream.sources.open_source` and used as context
    managers::

        with open_source("study.dcm", luminance=True, target_size=(60, 80)) as src:
            print(src.info.n_frames, src.info.fps)
            for frame in src:
                ...

    Subclasses set ``self.info`` in ``__init__`` (raising :class:`SourceError` for bad input,
    naming the source) and implement :meth:`frames`.
    """

    info: SourceInfo

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def close(self) -> None:
        """Release files, sockets and threads. Safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
