"""Where each frame of encapsulated DICOM pixel data lies, checked before a frame is decoded.

:func:`read_fragments` lists the fragment items (position and length, each inside the file);
:func:`frame_layout` maps frames to fragments from the Extended or Basic Offset Table when it
is valid, and otherwise from the fragments themselves (one per frame, or split at codestream
start markers), saying so in a warning. A table that points between items is therefore never
mistaken for missing frames, and no read ever runs past the data.

Example::

    with open(path, "rb") as fh:
        fh.seek(pixel_data_offset)
        table, fragments = read_fragments(fh, end=file_size)
    layout = frame_layout(table, fragments, n_frames=10)
    data = read_frame(fh, fragments, layout.frames[0])
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from pydicom.uid import UID, JPEG2000TransferSyntaxes, RLELossless

_ITEM, _SEQ_END = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)

#: ``(position of the fragment's value, length)``
Fragment = tuple[int, int]


class LayoutError(ValueError):
    """The fragments cannot be told apart into frames (the message says why)."""


@dataclass
class Layout:
    """Fragment indices of each frame, and warnings about how they were found."""

    frames: list[list[int]]
    warnings: list[str] = field(default_factory=list)


def read_fragments(fh: IO[bytes], end: int) -> tuple[list[int], list[Fragment]]:
    """``(basic offset table, fragments)`` of encapsulated pixel data starting at ``fh``'s
    position. Raises :class:`EOFError` when an item runs past ``end`` (truncated) and
    :class:`ValueError` for anything but items where items belong."""
    table: list[int] = []
    fragments: list[Fragment] = []
    first = True
    while True:
        head = fh.read(8)
        if len(head) < 8:
            if first:
                raise EOFError("pixel data ends before its first item")
            return table, fragments  # no sequence delimiter: the data ends here
        group, elem, length = struct.unpack("<HHI", head)
        if (group, elem) == _SEQ_END:
            return table, fragments
        if (group, elem) != _ITEM:
            raise ValueError(f"unexpected tag ({group:04X},{elem:04X}) among the fragments")
        pos = fh.tell()
        if pos + length > end:
            what = "offset table" if first else f"fragment {len(fragments)}"
            raise EOFError(f"{what} runs past the end of the data")
        if first:
            if length % 4:
                raise ValueError(f"basic offset table length {length} is not a multiple of 4")
            table = list(struct.unpack(f"<{length // 4}I", fh.read(length)))
        else:
            fragments.append((pos, length))
            fh.seek(length, 1)
        first = False


def extended_offsets(offsets: object, lengths: object) -> tuple[list[int], list[int]]:
    """The Extended Offset Table's (offsets, lengths) as ints (empty lists when unreadable)."""
    try:
        raw = [bytes(v) for v in (offsets, lengths)]  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return [], []
    a, b = (list(struct.unpack(f"<{len(r) // 8}Q", r[: len(r) // 8 * 8])) for r in raw)
    return a, b


def read_frame(fh: IO[bytes], fragments: Sequence[Fragment], indices: Sequence[int]) -> bytes:
    """The encoded bytes of one frame: its fragments' values, joined."""
    parts = []
    for i in indices:
        pos, length = fragments[i]
        fh.seek(pos)
        parts.append(fh.read(length))
    return b"".join(parts)


def _from_starts(
    offsets: Sequence[int], fragments: Sequence[Fragment], what: str
) -> list[list[int]]:
    """Frames from offsets of their first item (relative to the first fragment's item tag)."""
    if not fragments:
        raise LayoutError(f"{what} lists frames but there are no fragments")
    base = fragments[0][0] - 8
    index = {pos - 8 - base: i for i, (pos, _) in enumerate(fragments)}
    starts = [index.get(int(o)) for o in offsets]
    if any(s is None for s in starts):
        raise LayoutError(f"{what} points between the fragments")
    idx = [int(s) for s in starts if s is not None]
    if idx[0] != 0 or any(b <= a for a, b in zip(idx, idx[1:], strict=False)):
        raise LayoutError(f"{what} is not in increasing order from the first fragment")
    bounds = [*idx, len(fragments)]
    return [list(range(a, b)) for a, b in zip(bounds, bounds[1:], strict=False)]


def _by_markers(starts: Sequence[bool]) -> list[list[int]]:
    """Fragments grouped into frames, a new frame at each fragment that starts a codestream."""
    frames: list[list[int]] = []
    for i, start in enumerate(starts):
        if start or not frames:
            frames.append([i])
        else:
            frames[-1].append(i)
    return frames


def _from_tables(
    table: Sequence[int],
    extended: tuple[Sequence[int], Sequence[int]] | None,
    fragments: Sequence[Fragment],
) -> tuple[list[list[int]] | None, str]:
    """Frames from the Extended or Basic Offset Table, or ``(None, why not)``."""
    try:
        if extended is not None:
            offsets, lengths = extended
            frames = _from_starts(offsets, fragments, "the extended offset table")
            sizes = [sum(fragments[i][1] for i in f) for f in frames]
            if len(lengths) != len(frames) or any(
                int(n) > s for n, s in zip(lengths, sizes, strict=False)
            ):
                raise LayoutError("the extended offset table's lengths do not fit its fragments")
            return frames, ""
        if table:
            return _from_starts(table, fragments, "the basic offset table"), ""
    except LayoutError as err:
        return None, str(err)
    return None, ""


def _from_fragments(
    fragments: Sequence[Fragment],
    n_frames: int | None,
    starts_codestream: Callable[[int], bool] | None,
    problem: str,
) -> list[list[int]]:
    """Frames without a usable table: one fragment each, all in one, or split at codestream
    starts; :class:`LayoutError` when that does not give ``n_frames``."""
    starts = [True] * len(fragments)
    if starts_codestream is not None:
        starts = [starts_codestream(i) for i in range(len(fragments))]
    want = n_frames if n_frames is not None else max(1, sum(starts))
    if len(fragments) == want:
        return [[i] for i in range(len(fragments))]
    if want == 1:
        return [list(range(len(fragments)))]
    frames = _by_markers(starts)
    if len(frames) == want:
        return frames
    held = f"{len(fragments)} fragment(s)"
    if sum(starts) != len(fragments):
        held += f", {sum(starts)} codestream(s)"
    prefix = f"{problem}; " if problem else ""
    only = "only " if len(fragments) < want else ""
    raise LayoutError(f"{prefix}NumberOfFrames is {want} but the pixel data holds {only}{held}")


def frame_layout(
    table: Sequence[int],
    fragments: Sequence[Fragment],
    n_frames: int | None,
    *,
    extended: tuple[Sequence[int], Sequence[int]] | None = None,
    starts_codestream: Callable[[int], bool] | None = None,
) -> Layout:
    """Which fragments make up each frame.

    ``n_frames`` is NumberOfFrames (None when the header has none: then it is found from the
    data, with a warning when that is more than one). ``starts_codestream(i)`` says whether
    fragment ``i`` begins a new codestream (JPEG SOI, J2K SOC); without it, frames are one
    fragment each. Raises :class:`LayoutError` when the frames cannot be found.
    """
    if not fragments:
        raise LayoutError("the encapsulated pixel data holds no fragments")
    notes: list[str] = []
    frames, problem = _from_tables(table, extended, fragments)
    mismatch = ""
    if frames is not None and n_frames is not None and len(frames) != n_frames:
        mismatch = f"the offset table lists {len(frames)} frames but NumberOfFrames is {n_frames}"
        frames = None
    if frames is None:
        frames = _from_fragments(fragments, n_frames, starts_codestream, problem)
        if problem or mismatch:
            notes.append(f"{problem or mismatch}; ignored, frames taken from the fragments")
    if n_frames is None and len(frames) > 1:
        notes.append(f"NumberOfFrames is missing; {len(frames)} frames found in the pixel data")
    return Layout(frames, notes)


def locate_frames(
    fh: IO[bytes],
    end: int,
    tsyntax: UID,
    n_frames: int | None,
    *,
    extended: tuple[Sequence[int], Sequence[int]] | None = None,
) -> tuple[list[Fragment], Layout]:
    """The fragments of encapsulated pixel data starting at ``fh``'s position, and which make
    up each frame (:func:`read_fragments`, :func:`codestream_starts`, :func:`frame_layout`)."""
    table, fragments = read_fragments(fh, end)
    starts = codestream_starts(fh, fragments, tsyntax)
    layout = frame_layout(table, fragments, n_frames, extended=extended, starts_codestream=starts)
    return fragments, layout


def rle_problem(data: bytes, segments: int) -> str | None:
    """What is wrong with an RLE frame's 64-byte header, or None (PS3.5 G.5)."""
    if len(data) < 64:
        return f"RLE frame of {len(data)} bytes is shorter than its 64-byte header"
    count, *offsets = struct.unpack("<16I", data[:64])
    if count != segments:
        return f"RLE header lists {count} segments, the image needs {segments}"
    used = offsets[:count]
    if used[0] != 64 or any(b <= a for a, b in zip(used, used[1:], strict=False)):
        return "RLE segment offsets are not increasing from 64"
    if used[-1] >= len(data):
        return f"RLE segment offset {used[-1]} lies beyond the frame's {len(data)} bytes"
    return None


def has_end_marker(data: bytes) -> bool:
    """Whether a JPEG / JPEG-LS / JPEG 2000 codestream ends with EOI / EOC (FFD9), padding
    allowed."""
    return b"\xff\xd9" in data[-8:]


def codestream_starts(
    fh: IO[bytes], fragments: list[Fragment], tsyntax: UID
) -> Callable[[int], bool] | None:
    """Whether each fragment begins a JPEG / JPEG-LS / JPEG 2000 codestream (None: unknown)."""
    if tsyntax in JPEG2000TransferSyntaxes:
        marks: tuple[bytes, ...] = (b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP")
    elif tsyntax.is_compressed and tsyntax != RLELossless and len(fragments) > 1:
        marks = (b"\xff\xd8",)
    else:
        return None
    heads = []
    for pos, length in fragments:
        fh.seek(pos)
        heads.append(fh.read(min(length, 8)))
    return lambda i: heads[i].startswith(marks)
