"""Video DICOM: pixel data that is one encapsulated MPEG-2, MPEG-4 AVC (H.264) or HEVC (H.265)
bitstream (DICOM PS3.5 8.2.5-8.2.8; transfer syntaxes 1.2.840.10008.1.2.4.100-.108), as
Video Endoscopic / Photographic / Microscopic and US Multi-frame instances carry echo cines.

The fragments' values, read from disk on demand as one byte stream (:class:`FragmentStream`),
go to FFmpeg through PyAV, which finds the container itself (MPEG-2 transport or program
stream, or a bare elementary stream: scanners write all three). Frames are decoded in order,
one at a time; a stream that ends before NumberOfFrames, cannot be decoded or changes its
size is a :class:`VideoError` (one line, no file name: the reader adds it).

Example::

    with open(path, "rb") as fh:
        fh.seek(pixel_data_offset)
        video, notes = open_video(fh, file_size, MPEG4HP41, n_frames=60, size=(480, 640))
        for index, frame in video.frames(fh):
            rgb = video_pixels(frame, luminance=False)  # H×W×3 uint8
"""

from __future__ import annotations

import io
import struct
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import IO, Any

import numpy as np
from pydicom.uid import UID, MPEGTransferSyntaxes

from .dicom_frames import Fragment, read_fragments
from .video_common import av_problem, stream_fps

#: Transfer syntaxes whose pixel data is one video bitstream (MPEG-2, H.264, HEVC).
VIDEO_SYNTAXES = frozenset(str(uid) for uid in MPEGTransferSyntaxes)
#: FFmpeg's decoders for each family of video transfer syntaxes (by the UID's 4th-level number)
_CODECS = {"100": ("mpeg2video", "mpeg1video"), "101": ("mpeg2video", "mpeg1video"),
           "102": ("h264",), "103": ("h264",), "104": ("h264",), "105": ("h264",),
           "106": ("h264",), "107": ("hevc",), "108": ("hevc",)}  # fmt: skip


def expected_codecs(tsyntax: str) -> tuple[str, ...]:
    """The FFmpeg decoders a video transfer syntax allows (empty for any other syntax).

    >>> expected_codecs("1.2.840.10008.1.2.4.102.1")
    ('h264',)
    """
    parts = str(tsyntax).split(".")
    if str(tsyntax) not in VIDEO_SYNTAXES or len(parts) < 8:
        return ()
    return _CODECS.get(parts[7], ())


class VideoError(ValueError):
    """The video bitstream cannot give the declared frames (the message says why)."""


class FragmentStream(io.RawIOBase):
    """The values of ``fragments`` (positions and lengths in ``fh``) read as one seekable
    byte stream, from disk, only as FFmpeg asks for them."""

    def __init__(self, fh: IO[bytes], fragments: Sequence[Fragment]) -> None:
        super().__init__()
        self._fh = fh
        self._fragments = list(fragments)
        self._starts = [0, *accumulate(length for _, length in self._fragments)]
        self._size = self._starts[-1]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        index = bisect_right(self._starts, self._pos) - 1
        start, length = self._fragments[index]
        within = self._pos - self._starts[index]
        self._fh.seek(start + within)
        data = self._fh.read(min(len(buffer), length - within))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}.get(whence)
        if base is None:
            raise OSError(f"unsupported seek (whence {whence})")
        self._pos = max(0, base + int(offset))
        return self._pos

    def tell(self) -> int:
        return self._pos


class VideoStream:
    """The fragments of one video bitstream, its declared frame count and size; the codec and
    the stream's own frame rate once :meth:`probe` has looked."""

    def __init__(
        self,
        fragments: Sequence[Fragment],
        n_frames: int | None,
        size: tuple[int, int],
        threads: int = 1,
        tsyntax: str = "",
    ) -> None:
        self.fragments = list(fragments)
        self.tsyntax = UID(tsyntax)
        self.codecs = expected_codecs(tsyntax)  # the decoders it allows (empty: any)
        self.n_frames = n_frames
        self.size = size  # (rows, cols) from the header
        self.threads = max(1, int(threads))
        self.codec: str | None = None
        self.rate: tuple[float, str] | None = None

    def _open(self, fh: IO[bytes]) -> tuple[Any, Any]:
        """The container and its video stream, checked against the declared size."""
        import av

        try:
            container = av.open(FragmentStream(fh, self.fragments), "r")
        except (av.error.FFmpegError, OSError, ValueError) as err:
            raise VideoError(f"not a decodable video stream ({av_problem(err)})") from None
        if not container.streams.video:
            container.close()
            raise VideoError("the pixel data holds no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if self.codecs and codec not in self.codecs:
            container.close()
            raise VideoError(
                f"transfer syntax {self.tsyntax.name} but the pixel data holds a {codec} "
                f"stream (unsupported; expected {self.codecs[0]})"
            )
        found = (int(stream.height or 0), int(stream.width or 0))
        if all(found) and found != self.size:
            container.close()
            rows, cols = self.size
            raise VideoError(
                f"declared size {rows}x{cols} but the video stream is {found[0]}x{found[1]}"
            )
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        return container, stream

    def probe(self, fh: IO[bytes]) -> list[str]:
        """Find the codec and frame rate (and count the frames when NumberOfFrames is
        missing, decoding the stream once); warnings to add to the source's."""
        notes: list[str] = []
        container, stream = self._open(fh)
        try:
            self.codec = stream.codec_context.name
            self.rate = stream_fps(stream, notes)
        finally:
            container.close()
        if self.n_frames is None:
            self.n_frames = sum(1 for _ in self.frames(fh, limit=False))
            notes.append(
                f"NumberOfFrames is missing; {self.n_frames} frames found in the video stream"
            )
        return notes

    def frames(
        self, fh: IO[bytes], stop: int | None = None, *, limit: bool = True
    ) -> Iterator[tuple[int, Any]]:
        """``(index, av.VideoFrame)`` of frames 0..stop-1, decoded in order. With ``limit``
        (the default) the stream must hold NumberOfFrames frames; frames past it are ignored."""
        import av

        total = self.n_frames if limit else None
        stop = total if stop is None else min(stop, total or stop)
        if stop is not None and stop <= 0:
            return
        container, stream = self._open(fh)
        index = 0
        try:
            for frame in container.decode(stream):
                if (frame.height, frame.width) != self.size:
                    raise VideoError(
                        f"frame {index}: the video stream changes size to "
                        f"{frame.height}x{frame.width}"
                    )
                yield index, frame
                index += 1
                if stop is not None and index >= stop:
                    return
        except (av.error.FFmpegError, OSError) as err:
            if index == 0:
                raise VideoError(f"no frame could be decoded ({av_problem(err)})") from None
            problem = f"frame {index}: cannot decode the video stream ({av_problem(err)})"
            raise VideoError(problem) from None
        finally:
            container.close()
        if total is not None and index < total:
            if index == 0:
                raise VideoError("no frame could be decoded from the video stream")
            raise VideoError(
                f"frame {index}: the video stream ends after {index} of {total} frames (truncated?)"
            )
        if not limit and index == 0:
            raise VideoError("no frame could be decoded from the video stream")


def open_video(
    fh: IO[bytes],
    end: int,
    tsyntax: str,
    n_frames: int | None,
    size: tuple[int, int],
    threads: int = 1,
) -> tuple[VideoStream, list[str]]:
    """The video stream of encapsulated pixel data starting at ``fh``'s position (the data
    runs to ``end``) in transfer syntax ``tsyntax``, probed; with its warnings. Raises
    :class:`VideoError`."""
    try:
        _, fragments = read_fragments(fh, end)
    except EOFError as err:
        raise VideoError(f"file is truncated (encapsulated pixel data: {err})") from None
    except (ValueError, struct.error) as err:
        raise VideoError(f"encapsulated pixel data is corrupt ({err})") from None
    if not fragments or not any(length for _, length in fragments):
        raise VideoError("the encapsulated pixel data holds no video bitstream")
    video = VideoStream(fragments, n_frames, size, threads, tsyntax)
    return video, video.probe(fh)


def video_pixels(frame: Any, luminance: bool) -> np.ndarray:
    """A decoded ``av.VideoFrame`` as H×W (luminance, BT.601) or H×W×3 (RGB) uint8."""
    array = frame.to_ndarray(format="gray" if luminance else "rgb24")
    return np.ascontiguousarray(array)
