"""The contract every frame source follows."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

from ..frame import Frame, SourceInfo


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
