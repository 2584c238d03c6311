"""Frame sources: DICOM cines, video files, still images and live streams.

:func:`open_source` picks the reader from the name (URL scheme, device path, ``-`` for stdin,
file suffix, or the DICOM preamble) and returns a :class:`FrameSource`. Readers are imported
only when used.

Example::

    from echostream.stream.sources import iter_frames
    for frame in iter_frames("study.dcm"):
        print(frame.index, frame.timestamp, frame.pixels.shape)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import display_name
from ..frame import Frame
from .base import FrameSource, check_regular_file

LIVE_SCHEMES = (
    "udp://",
    "rtp://",
    "rtsp://",
    "rtsps://",
    "rtmp://",
    "rtmps://",
    "srt://",
    "tcp://",
    "http://",
    "https://",
    "pipe:",
)
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v", ".mpg", ".mpeg", ".wmv"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom", ".dic"}


def is_live(source: str | Path) -> bool:
    """Whether ``source`` names a stream or device rather than a file.

    >>> is_live("udp://127.0.0.1:5000"), is_live("/dev/video0"), is_live("a.dcm")
    (True, True, False)
    """
    name = str(source)
    return name == "-" or name.lower().startswith(LIVE_SCHEMES) or name.startswith("/dev/video")


def source_kind(source: str | Path) -> str:
    """Which reader a source name needs: ``"live"``, ``"dicom"``, ``"video"`` or ``"image"``.

    A file without a known suffix is DICOM when it has the preamble (only a regular file is
    looked into).

    >>> source_kind("udp://127.0.0.1:5000"), source_kind("clip.mp4"), source_kind("a.png")
    ('live', 'video', 'image')
    """
    if is_live(source):
        return "live"
    suffix = Path(str(source)).suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return "dicom" if _has_dicom_preamble(Path(source)) else "video"


def _has_dicom_preamble(path: Path) -> bool:
    if not path.is_file():  # never open a FIFO or a device to look
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def open_source(source: str | Path, **options: Any) -> FrameSource:
    """Open any source; keyword options go to its reader (see each reader's docstring).

    Common options: ``luminance=True`` (grayscale frames), ``target_size=(h, w)`` (the model
    input the frames will be resized to, which lets JPEG frames decode at reduced scale).
    Raises :class:`SourceError` with a one-line reason when the source cannot be read; a file
    that is missing, empty, a folder, a FIFO, a device or a link loop is refused before any
    read.
    """
    if is_live(source):
        from .live import LiveSource

        return LiveSource(str(source), **options)
    path = Path(source)
    options["name"] = display_name(str(options.get("name") or source))  # what errors call it
    check_regular_file(path, options["name"])
    kind = source_kind(source)
    if kind == "dicom":
        from .dicom import DicomSource

        return DicomSource(path, **options)
    if kind == "image":
        from .video import ImageSource

        return ImageSource(path, **options)
    from .video import VideoSource

    return VideoSource(path, **options)


def iter_frames(source: str | Path, **options: Any) -> Iterator[Frame]:
    """Frames of ``source`` one at a time (a generator over :func:`open_source`)."""
    with open_source(source, **options) as src:
        yield from src


__all__ = ["FrameSource", "is_live", "iter_frames", "open_source", "source_kind"]
