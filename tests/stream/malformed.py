"""A generated corpus of malformed and hostile inputs (nothing binary is committed).

:func:`build_corpus` writes every case into a folder and returns :class:`Case` records: what
each file is, and what the readers must say about it: an ``"error"`` (one line naming the file)
or a ``"warning"`` (the file is readable but suspicious: a label with a caveat). ``words`` are
lower-case fragments the error, or one of the warnings, must contain.

Families: ``fs`` (file-system oddities: FIFOs, devices, links, odd names), ``header`` (DICOM
header damage, cuts inside it), ``tags`` (implausible or inconsistent tag values), ``timing``
(frame-rate tags), ``encaps`` (encapsulated fragments, offset tables, codestreams), ``deflate``,
``video`` and ``image``.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import DeflatedExplicitVRLittleEndian

from echostream.stream.dicom_writer import UltrasoundRegion, write_cine

H, W, N = 72, 96, 10  # base cines: 10 frames of 72×96 at 25 fps


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    path: Path
    expect: str  # "error" | "warning"
    words: tuple[str, ...] = ()


def fan_frames(n: int = N, h: int = H, w: int = W, seed: int = 0) -> list[np.ndarray]:
    """Echo-like RGB frames: a speckled sector on black with a dark cavity that moves."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(yy, xx - w / 2)
    angle = np.degrees(np.arctan2(xx - w / 2, yy + 1e-6))
    sector = (r < 0.95 * h) & (np.abs(angle) < 40)
    out = []
    for i in range(n):
        cy, cx = h * (0.55 + 0.03 * np.sin(i / 2)), w / 2
        cavity = ((yy - cy) / (0.18 * h)) ** 2 + ((xx - cx) / (0.12 * w)) ** 2 < 1
        tissue = rng.gamma(2.0, 50.0, (h, w)) * np.exp(-r / (1.5 * h))
        img = np.where(sector & ~cavity, np.clip(tissue, 0, 255), 0).astype(np.uint8)
        out.append(np.repeat(img[..., None], 3, axis=2))
    return out


def _write(path: Path, encoding: str = "jpeg", n: int = N, **kw: object) -> Path:
    regions = kw.pop("regions", [UltrasoundRegion(0, 0, W, H)])
    return write_cine(path, fan_frames(n), fps=25, encoding=encoding, regions=regions, **kw)


def _edit(src: Path, out: Path, change: Callable[[Dataset], None]) -> Path:
    ds = pydicom.dcmread(src)
    change(ds)
    ds.save_as(out)
    return out


def _setter(**tags: object) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        for key, value in tags.items():
            if value is None:
                delattr(ds, key)
            else:
                setattr(ds, key, value)

    return change


def _patch_value(src: Path, out: Path, tag: int, value: bytes) -> Path:
    """``src`` with the (short, explicit VR) element ``tag`` holding raw ``value`` bytes:
    values pydicom refuses to write (e.g. text in a DS)."""
    data = src.read_bytes()
    key = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    at = data.find(key, 132)
    length = struct.unpack("<H", data[at + 6 : at + 8])[0]
    value += b" " * (len(value) % 2)
    out.write_bytes(
        data[: at + 6] + struct.pack("<H", len(value)) + value + data[at + 8 + length :]
    )
    return out


def _pixels_at(path: Path) -> int:
    return path.read_bytes().find(b"\xe0\x7f\x10\x00")


def _frames(path: Path, n: int = N) -> list[bytes]:
    return list(generate_frames(pydicom.dcmread(path).PixelData, number_of_frames=n))


def _encaps(frames: list[bytes], offsets: list[int] | None = None) -> bytes:
    """Encapsulated pixel data, one item per frame (empty ones too), with a Basic Offset Table
    (the real one unless ``offsets`` is given)."""
    items = [f + b"\0" * (len(f) % 2) for f in frames]
    if offsets is None:
        offsets = np.cumsum([0] + [len(i) + 8 for i in items[:-1]]).tolist()
    bot = struct.pack(f"<{len(offsets)}I", *offsets)
    parts = [b"\xfe\xff\x00\xe0" + struct.pack("<I", len(bot)) + bot]
    parts += [b"\xfe\xff\x00\xe0" + struct.pack("<I", len(i)) + i for i in items]
    return b"".join(parts) + b"\xfe\xff\xdd\xe0\0\0\0\0"


def _with_frames(src: Path, out: Path, frames: list[bytes], offsets: list[int] | None = None,
                 **tags: object) -> Path:  # fmt: skip
    def change(ds: Dataset) -> None:
        ds.PixelData = _encaps(frames, offsets)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        _setter(**tags)(ds)

    return _edit(src, out, change)


def _sof(data: bytes, rows: int, cols: int) -> bytes:
    """A JPEG / JPEG-LS codestream with its SOF size patched to ``rows``×``cols``."""
    for marker in (b"\xff\xc0", b"\xff\xc3", b"\xff\xf7"):
        pos = data.find(marker)
        if pos >= 0:
            return data[: pos + 5] + struct.pack(">HH", rows, cols) + data[pos + 9 :]
    raise ValueError("no SOF marker")


def _siz(data: bytes, rows: int, cols: int) -> bytes:
    """A J2K codestream with its SIZ image size patched (tiles grow with it)."""
    pos = data.find(b"\xff\x51")
    head = struct.pack(">IIIIIIII", cols, rows, 0, 0, cols, rows, 0, 0)
    return data[: pos + 6] + head + data[pos + 38 :]


def _png(width: int, height: int, body: bytes = b"") -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _clip(path: Path, frames: list[np.ndarray], codec: str = "libx264", **options: str) -> Path:
    pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    return path


def _nested_regions(path: Path, out: Path, depth: int) -> Path:
    """``path`` with a Sequence of Ultrasound Regions nested ``depth`` deep (pydicom cannot
    write one that deep: the bytes are built here)."""
    item, item_end = b"\xfe\xff\x00\xe0\xff\xff\xff\xff", b"\xfe\xff\x0d\xe0\0\0\0\0"
    seq_end = b"\xfe\xff\xdd\xe0\0\0\0\0"
    sq = b"\x18\x00\x11\x60SQ\0\0\xff\xff\xff\xff"
    body = item + b"\x18\x00\x12\x60US\x02\x00\x01\x00" + item_end  # RegionSpatialFormat 1
    for _ in range(depth):
        body = item + sq + body + seq_end + item_end

    def change(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions = None
        del ds.SequenceOfUltrasoundRegions
        ds.add_new(0x00186011, "UN", body + seq_end)

    _edit(path, out, change)
    data = out.read_bytes()
    at = data.find(b"\x18\x00\x11\x60UN")
    out.write_bytes(data[:at] + sq + data[at + 12 :])
    return out


def build_corpus(root: Path) -> list[Case]:
    """Write every case under ``root``; return them (≥ 100)."""
    base = root / "_base"
    base.mkdir(parents=True)
    good = {enc: _write(base / f"{enc}.dcm", enc) for enc in ("jpeg", "rgb", "rle", "j2k")}
    good["jpeg-ls"] = _write(base / "jls.dcm", "jpeg-ls")
    bad = root / "bad"
    bad.mkdir()
    cases: list[Case] = []

    def add(name: str, family: str, path: Path, expect: str = "error", *words: str) -> None:
        cases.append(Case(name, family, path, expect, tuple(w.lower() for w in words)))

    _fs_cases(bad, good, add)
    _header_cases(bad, good, add)
    _tag_cases(bad, good, add)
    _timing_cases(bad, good, add)
    _encaps_cases(bad, good, add)
    _deflate_cases(bad, good, add)
    _video_cases(bad, add)
    _image_cases(bad, add)
    return cases


Add = Callable[..., None]


def _fs_cases(bad: Path, good: dict[str, Path], add: Add) -> None:
    add("missing", "fs", bad / "missing.dcm", "error", "no such file")
    (bad / "dangling.dcm").symlink_to(bad / "nowhere.dcm")
    add("dangling link", "fs", bad / "dangling.dcm", "error", "no such file")
    (bad / "loop-a.dcm").symlink_to(bad / "loop-b.dcm")
    (bad / "loop-b.dcm").symlink_to(bad / "loop-a.dcm")
    add("symlink loop", "fs", bad / "loop-a.dcm", "error", "symbolic link")
    for suffix in (".dcm", ".mp4", ".png", ""):
        fifo = bad / f"fifo{suffix}"
        os.mkfifo(fifo)
        add(f"fifo{suffix}", "fs", fifo, "error", "not a regular file")
    for dev, suffix in (("urandom", ".mp4"), ("zero", ".dcm"), ("null", ".png"), ("full", "")):
        link = bad / f"dev-{dev}{suffix}"
        link.symlink_to(f"/dev/{dev}")
        add(f"/dev/{dev} as {suffix or 'no suffix'}", "fs", link, "error", "not a regular file")
    for suffix in (".dcm", ".mp4", ".png", ".gif"):
        (bad / f"empty{suffix}").write_bytes(b"")
        add(f"empty{suffix}", "fs", bad / f"empty{suffix}", "error", "empty file")
    cut = good["jpeg"].read_bytes()[:700]
    for label, raw in (
        ("newline", b"new\nline.dcm"),
        ("carriage return", b"cr\rname.dcm"),
        ("invalid utf-8", b"bad\xff\xfename.dcm"),
        ("escape sequence", b"esc\x1b[31mred.dcm"),
        ("tab", b"tab\tname.dcm"),
    ):
        path = Path(os.fsdecode(os.fsencode(bad) + b"/" + raw))
        path.write_bytes(cut)
        add(f"name with {label}", "fs", path, "error", "truncated")


def _header_cases(bad: Path, good: dict[str, Path], add: Add) -> None:
    data = good["jpeg"].read_bytes()
    pixel_at = _pixels_at(good["jpeg"])
    (bad / "text.dcm").write_text("this is not a DICOM file\n" * 20)
    add("text named .dcm", "header", bad / "text.dcm", "error", "not a dicom file")
    (bad / "random.dcm").write_bytes(np.random.default_rng(1).bytes(4096))
    add("random bytes .dcm", "header", bad / "random.dcm", "error", "not a dicom file")
    (bad / "preamble-only.dcm").write_bytes(b"\0" * 128 + b"DICM")
    add("preamble only", "header", bad / "preamble-only.dcm", "error", "truncated")
    for cut in (140, 200, 300, 450, pixel_at - 40, pixel_at + 6):
        path = bad / f"header-cut-{cut}.dcm"
        path.write_bytes(data[:cut])
        add(f"cut in the header at {cut} bytes", "header", path, "error", "truncated")
    no_ts = bad / "no-transfer-syntax.dcm"
    no_ts.write_bytes(data.replace(b"\x02\x00\x10\x00UI", b"\x02\x00\x11\x00UI", 1))
    add("file meta without transfer syntax", "header", no_ts, "error", "transfer syntax")
    path = _edit(good["jpeg"], bad / "no-pixels.dcm", _setter(PixelData=None))
    add("no pixel data", "header", path, "error", "without pixel data")
    for uid, words in (
        ("1.2.840.10008.1.2.4.100", "holds a mjpeg stream"),  # a JPEG file said to be MPEG-2
        ("1.2.840.10008.1.2.4.110", "unsupported"),  # JPEG XL: no decoder here
        ("1.2.3.4.5", "unsupported"),
    ):

        def change(ds: Dataset, uid: str = uid) -> None:
            ds.file_meta.TransferSyntaxUID = uid

        path = _edit(good["jpeg"], bad / f"ts-{uid}.dcm", change)
        add(f"transfer syntax {uid}", "header", path, "error", words)
    flipped = bytearray(good["rgb"].read_bytes())
    rgb_pixels = _pixels_at(good["rgb"])
    flipped[rgb_pixels + 8 : rgb_pixels + 12] = b"\xff\xff\xff\x7f"  # pixel data length 2 GB
    (bad / "huge-length.dcm").write_bytes(bytes(flipped))
    add("pixel data length 2 GB", "header", bad / "huge-length.dcm", "warning", "pixel data claims")


def _tag_cases(bad: Path, good: dict[str, Path], add: Add) -> None:
    tag_cases: list[tuple[str, str, dict[str, object], str, tuple[str, ...]]] = [
        ("frames 0", "jpeg", {"NumberOfFrames": 0}, "error", ("numberofframes is 0",)),
        ("frames 100000", "jpeg", {"NumberOfFrames": 100000}, "error", ("only",)),
        ("frames 100000 native", "rgb", {"NumberOfFrames": 100000}, "error", ("smaller",)),
        ("frames empty", "jpeg", {"NumberOfFrames": ""}, "warning", ("numberofframes",)),
        ("frames empty native", "rgb", {"NumberOfFrames": ""}, "warning", ("numberofframes",)),
        ("rows 0", "rgb", {"Rows": 0}, "error", ("not plausible",)),
        ("rows missing", "jpeg", {"Rows": None}, "error", ("rows",)),
        ("size 65535²", "rgb", {"Rows": 65535, "Columns": 65535}, "error", ("not plausible",)),
        ("size 8192² native", "rgb", {"Rows": 8192, "Columns": 8192}, "error", ("8192x8192",)),
        ("size 4800x6400 jpeg", "jpeg", {"Rows": 4800, "Columns": 6400}, "error", ("4800x6400",)),
        ("bits 1", "rgb", {"BitsAllocated": 1, "BitsStored": 1, "HighBit": 0}, "error", ("bit",)),
        ("bits 1 jpeg", "jpeg", {"BitsAllocated": 1, "BitsStored": 1}, "error", ("bit",)),
        ("bits 0", "rgb", {"BitsAllocated": 0}, "error", ("bit",)),
        ("bits 16 of 8-bit data", "rgb", {"BitsAllocated": 16, "BitsStored": 16}, "error", ()),
        ("bits 12", "rgb", {"BitsAllocated": 12}, "error", ("bit",)),
        ("rgb with 1 sample", "rgb", {"SamplesPerPixel": 1}, "error", ("samplesperpixel",)),
        ("rgb jpeg with 1 sample", "jpeg", {"SamplesPerPixel": 1}, "error", ("samplesperpixel",)),
        ("mono with 3 samples", "rgb", {"PhotometricInterpretation": "MONOCHROME2"},
         "error", ("samplesperpixel",)),
        ("samples 0", "rgb", {"SamplesPerPixel": 0}, "error", ("samplesperpixel",)),
        ("samples 4", "rgb", {"SamplesPerPixel": 4}, "error", ("samplesperpixel",)),
        ("photometric missing", "rgb", {"PhotometricInterpretation": None}, "error",
         ("photometric",)),
        ("photometric bogus", "rgb", {"PhotometricInterpretation": "BOGUS"}, "error",
         ("photometric",)),
        ("palette without LUT", "rgb", {"PhotometricInterpretation": "PALETTE COLOR",
                                        "SamplesPerPixel": 1}, "error", ()),
        ("planar configuration 7", "rgb", {"PlanarConfiguration": 7}, "error", ("planar",)),
        ("pixel representation 1", "rgb", {"PixelRepresentation": 1}, "warning", ("signed",)),
    ]  # fmt: skip
    for name, enc, tags, expect, words in tag_cases:
        path = _edit(good[enc], bad / f"tag-{name.replace(' ', '-')}.dcm", _setter(**tags))
        add(name, "tags", path, expect, *words)
    path = _nested_regions(good["jpeg"], bad / "regions-3000-deep.dcm", 3000)
    add("regions nested 3000 deep", "tags", path, "error", "nested")
    path = _edit(good["jpeg"], bad / "regions-garbage.dcm", _setter(
        SequenceOfUltrasoundRegions=_garbage_regions()))  # fmt: skip
    add("regions with garbage values", "tags", path, "warning", "region")


def _garbage_regions() -> list[Dataset]:
    items = []
    for x0, y0, x1, y1 in ((-5, -5, 10**6, 10**6), (500, 500, 900, 900), (50, 40, 10, 5)):
        item = Dataset()
        item.RegionSpatialFormat, item.RegionDataType = 1, 1
        item.RegionLocationMinX0, item.RegionLocationMinY0 = x0 % 2**32, y0 % 2**32
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1, y1
        items.append(item)
    return items


def _timing_cases(bad: Path, good: dict[str, Path], add: Add) -> None:
    timing: list[tuple[str, dict[str, object], tuple[str, ...]]] = [
        ("FrameTime 1e-320", {"FrameTime": "1e-320"}, ("frame rate",)),
        ("FrameTime 0", {"FrameTime": "0"}, ("frametime",)),
        ("FrameTime -40", {"FrameTime": "-40"}, ("frametime",)),
        ("FrameTime nan", {"FrameTime": "nan"}, ("frametime",)),
        ("FrameTime inf", {"FrameTime": "inf"}, ("frametime",)),
        ("FrameTime 1000000 ms", {"FrameTime": "1000000"}, ("frame rate",)),
        ("CineRate 999999999", {"FrameTime": None, "FrameIncrementPointer": None,
                                "CineRate": 999999999}, ("frame rate",)),
        ("display rate 1e9", {"FrameTime": None, "FrameIncrementPointer": None, "CineRate": None,
                              "RecommendedDisplayFrameRate": 1000000000}, ("frame rate",)),
        ("FrameTimeVector near zeros", {"FrameTime": None, "FrameIncrementPointer": 0x00181065,
                                        "FrameTimeVector": ["0"] + ["1e-300"] * (N - 1)},
         ("frame rate",)),
        ("FrameTimeVector with a 1000 s gap", {"FrameTime": None,
                                               "FrameIncrementPointer": 0x00181065,
                                               "FrameTimeVector": ["0"] + ["40"] * (N - 2)
                                               + ["1000000"]}, ("frametimevector",)),
        ("FrameTimeVector wrong count", {"FrameTime": None, "FrameIncrementPointer": 0x00181065,
                                         "FrameTimeVector": ["40"] * 3}, ("frametimevector",)),
    ]  # fmt: skip
    for i, (name, tags, words) in enumerate(timing):
        path = _edit(good["jpeg"], bad / f"timing-{i}.dcm", _setter(**tags))
        add(name, "timing", path, "warning", *words)
    path = _patch_value(good["jpeg"], bad / "timing-text.dcm", 0x00181063, b"abc")
    add("FrameTime text", "timing", path, "warning", "frametime")
    path = _patch_value(good["jpeg"], bad / "frames-text.dcm", 0x00280008, b"ten")
    add("NumberOfFrames text", "tags", path, "error", "numberofframes")


def _encaps_cases(bad: Path, good: dict[str, Path], add: Add) -> None:
    jpeg, j2k, jls = _frames(good["jpeg"]), _frames(good["j2k"]), _frames(good["jpeg-ls"])
    for size in (0, 4, 12, 20, 22, 23):
        frag = (b"\xff\x4f\xff\x51" + b"\0" * 40)[:size]
        path = _with_frames(good["j2k"], bad / f"j2k-frag-{size}.dcm", [frag] * N)
        add(f"j2k fragment of {size} bytes", "encaps", path, "error", "frame 0")
    big = [
        ("jpeg 8192² tiny", good["jpeg"], [_sof(jpeg[0], 8192, 8192)[:400]] * N, None),
        ("jpeg 8192² garbage", good["jpeg"], [_sof(jpeg[0], 8192, 8192)[:200] + b"\x55" * 999] * N,
         None),
        ("jpeg-ls 8192² tiny", good["jpeg-ls"], [_sof(jls[0], 8192, 8192)[:300]] * N, None),
        ("j2k 8192² tiny", good["j2k"], [_siz(j2k[0], 8192, 8192)[:300]] * N, None),
        ("jpeg 3000² tiny", good["jpeg"], [_sof(jpeg[0], 3000, 3000)[:400]] * N, None),
        ("j2k 3000² tiny", good["j2k"], [_siz(j2k[0], 3000, 3000)[:200]] * N, None),
        ("jpeg-ls 3000² tiny", good["jpeg-ls"], [_sof(jls[0], 3000, 3000)[:200]] * N, None),
    ]  # fmt: skip
    for name, src, frames, _ in big:
        rows = 8192 if "8192" in name else 3000
        path = _with_frames(src, bad / f"{name.replace(' ', '-')}.dcm", frames,
                            Rows=rows, Columns=rows)  # fmt: skip
        add(name, "encaps", path, "error", f"{rows}x{rows}")
    corrupt = [
        ("jpeg garbage frames", jpeg[:1] + [b"\xff\xd8" + b"\x00" * 300] * (N - 1), "frame 1"),
        ("jpeg truncated frame", jpeg[:3] + [jpeg[3][: len(jpeg[3]) // 3]] + jpeg[4:], "frame 3"),
        ("jpeg empty fragment", [b""] * N, "frame 0"),
        ("jpeg-ls garbage", [jls[0][:30] + b"\x00" * 200] * N, "frame 0"),
        ("j2k garbage", [j2k[0][:60] + b"\x13" * 200] * N, "frame 0"),
        ("j2k truncated", [j2k[0][: len(j2k[0]) // 4]] * N, "frame 0"),
        ("jpeg frames missing", jpeg[:4], "holds only 4"),
    ]
    for name, frames, word in corrupt:
        src = good["jpeg-ls" if "jpeg-ls" in name else "j2k" if "j2k" in name else "jpeg"]
        path = _with_frames(src, bad / f"{name.replace(' ', '-')}.dcm", frames)
        add(name, "encaps", path, "error", word)
    _rle_cases(bad, good, add)
    _offset_table_cases(bad, good, add, jpeg)


def _rle_cases(bad: Path, good: dict[str, Path], add: Add) -> None:
    rle = _frames(good["rle"])
    first = rle[0]
    n_seg = struct.unpack("<I", first[:4])[0]
    offsets = list(struct.unpack("<15I", first[4:64]))
    variants = {
        "rle offsets past the end": [len(first) * 4] + offsets[1:],
        "rle offsets decreasing": [offsets[0], offsets[2], offsets[1]] + offsets[3:],
        "rle first offset not 64": [16] + offsets[1:],
    }
    for name, offs in variants.items():
        frame = struct.pack("<I15I", n_seg, *offs) + first[64:]
        path = _with_frames(good["rle"], bad / f"{name.replace(' ', '-')}.dcm", [frame] * N)
        add(name, "encaps", path, "error", "rle")
    for name, count in (("rle 0 segments", 0), ("rle 16 segments", 16), ("rle 1 segment", 1)):
        frame = struct.pack("<I", count) + first[4:]
        path = _with_frames(good["rle"], bad / f"{name.replace(' ', '-')}.dcm", [frame] * N)
        add(name, "encaps", path, "error", "rle")
    path = _with_frames(good["rle"], bad / "rle-header-only.dcm", [first[:64]] * N)
    add("rle header only", "encaps", path, "error", "rle")


def _offset_table_cases(bad: Path, good: dict[str, Path], add: Add, jpeg: list[bytes]) -> None:
    real = np.cumsum([0] + [len(f) + 8 + len(f) % 2 for f in jpeg[:-1]]).tolist()
    variants = {
        "past the end": real[:-1] + [10**7],
        "decreasing": [real[0], real[2], real[1]] + real[3:],
        "not on an item": [o + 3 for o in real],
        "short": real[:3],
        "first not 0": [8] + real[1:],
    }
    for name, offsets in variants.items():
        path = _with_frames(good["jpeg"], bad / f"bot-{name.replace(' ', '-')}.dcm", jpeg, offsets)
        add(f"offset table {name}", "encaps", path, "warning", "offset table")
    halves = [part for f in jpeg for part in (f[: len(f) // 2], f[len(f) // 2 :])]
    for name, offsets in (("past the end", [0, 10**7]), ("short", [0])):
        path = _with_frames(good["jpeg"], bad / f"bot-2frag-{name}.dcm", halves, offsets)
        add(f"offset table {name}, JPEG in 2 fragments", "encaps", path, "warning", "offset table")
    rle = _frames(good["rle"])
    halves = [part for f in rle for part in (f[: len(f) // 2], f[len(f) // 2 :])]
    path = _with_frames(good["rle"], bad / "bot-rle-2frag.dcm", halves, [0, 10**7])
    add("offset table past the end, RLE in 2 fragments", "encaps", path, "error", "offset table")


def _deflate_cases(bad: Path, good: dict[str, Path], add: Add) -> None:
    def deflate(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian

    valid = _edit(good["rgb"], bad / "deflated-valid.dcm", deflate)
    data = valid.read_bytes()
    body_at = 144 + struct.unpack("<I", data[140:144])[0]  # after the file meta group
    add("deflated valid cine", "deflate", valid, "ok")
    (bad / "deflated-cut.dcm").write_bytes(data[: body_at + (len(data) - body_at) // 2])
    add("deflated truncated", "deflate", bad / "deflated-cut.dcm", "error", "truncated")
    corrupt = bytearray(data)
    corrupt[body_at + 20 : body_at + 60] = b"\xff" * 40
    (bad / "deflated-corrupt.dcm").write_bytes(bytes(corrupt))
    add("deflated corrupt", "deflate", bad / "deflated-corrupt.dcm", "error", "deflate")
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = b"\0" * (1 << 20)
    body = b"".join(bomb.compress(zeros) for _ in range(600)) + bomb.flush()
    (bad / "deflate-bomb.dcm").write_bytes(data[:body_at] + body)
    add("deflate bomb (600 MB of zeros)", "deflate", bad / "deflate-bomb.dcm", "error", "deflate")
    (bad / "deflated-garbage.dcm").write_bytes(data[:body_at] + b"\x07" * 5000)
    add("deflated garbage", "deflate", bad / "deflated-garbage.dcm", "error", "deflate")


def _video_cases(bad: Path, add: Add) -> None:
    frames = fan_frames(60)
    full = _clip(bad / "_full.mp4", frames, movflags="faststart")
    data = full.read_bytes()
    (bad / "_full.mp4").unlink()
    (bad / "half.mp4").write_bytes(data[: len(data) // 2])
    add("mp4 cut in half", "video", bad / "half.mp4", "warning", "of 60")
    (bad / "cut-1pct.mp4").write_bytes(data[: len(data) // 100])
    add("mp4 cut at 1%", "video", bad / "cut-1pct.mp4", "error")
    plain = _clip(bad / "_plain.mp4", frames[:20]).read_bytes()
    (bad / "_plain.mp4").unlink()
    (bad / "moov-cut.mp4").write_bytes(plain[: len(plain) // 2])
    add("mp4 cut, index at the end", "video", bad / "moov-cut.mp4", "error", "video")
    rng = np.random.default_rng(2)
    (bad / "random.mp4").write_bytes(rng.bytes(20000))
    add("random bytes .mp4", "video", bad / "random.mp4", "error")
    (bad / "text.mp4").write_text("hello\n" * 100)
    add("text .mp4", "video", bad / "text.mp4", "error")
    (bad / "dicom.avi").write_bytes(b"\0" * 128 + b"DICM" + rng.bytes(500))
    add("dicom preamble named .avi", "video", bad / "dicom.avi", "error")
    noise = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(8)]
    add("noise gif", "video", _clip(bad / "noise.gif", noise, "gif"), "warning", "not look like")
    garbled = bytearray(data)
    garbled[len(data) // 3 : len(data) // 3 + 3000] = rng.bytes(3000)
    (bad / "garbled.mp4").write_bytes(bytes(garbled))
    add("mp4 garbled in the middle", "video", bad / "garbled.mp4", "warning", "frames decodable")


def _image_cases(bad: Path, add: Add) -> None:
    (bad / "bomb.png").write_bytes(_png(20000, 20000, zlib.compress(b"\0" * 1000)))
    add("png declaring 20000x20000", "image", bad / "bomb.png", "error", "too large")
    (bad / "huge-header.png").write_bytes(_png(2**31 - 1, 2**31 - 1))
    add("png declaring 2^31 wide", "image", bad / "huge-header.png", "error", "")
    Image.new("L", (1, 1), 128).save(bad / "one-pixel.png")
    add("1x1 png", "image", bad / "one-pixel.png", "warning", "too small")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (H * 3, W * 3), dtype=np.uint8)).save(bad / "noise.png")
    add("noise png", "image", bad / "noise.png", "warning", "not look like")
    buf = io.BytesIO()
    Image.fromarray(fan_frames(1, 240, 320)[0]).save(buf, "PNG")
    png = buf.getvalue()
    (bad / "cut.png").write_bytes(png[: len(png) // 2])
    add("png truncated", "image", bad / "cut.png", "error", "")
    crc = bytearray(png)
    crc[29:33] = b"\0\0\0\0"  # IHDR CRC
    (bad / "crc.png").write_bytes(bytes(crc))
    add("png bad crc", "image", bad / "crc.png", "error", "")
    (bad / "text.png").write_text("not an image")
    add("text .png", "image", bad / "text.png", "error", "not an image")
    buf = io.BytesIO()
    Image.fromarray(fan_frames(1, 240, 320)[0]).save(buf, "JPEG")
    (bad / "cut.jpg").write_bytes(buf.getvalue()[:300])
    add("jpeg truncated", "image", bad / "cut.jpg", "error", "")
    (bad / "sof-huge.jpg").write_bytes(_sof(buf.getvalue(), 60000, 60000)[:2000])
    add("jpeg declaring 60000²", "image", bad / "sof-huge.jpg", "error", "")
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, "BMP")
    raw = bytearray(bmp.getvalue())
    raw[18:26] = struct.pack("<ii", 30000, 30000)
    (bad / "huge.bmp").write_bytes(bytes(raw))
    add("bmp declaring 30000²", "image", bad / "huge.bmp", "error", "")
