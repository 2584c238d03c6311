"""Fuzzing the DICOM reader (header, file meta, fragments, codecs) with hypothesis.

Small valid cines of every transfer syntax the reader decodes are mutated (bytes flipped or
overwritten, cut short, bytes inserted, tag values replaced); the reader must then either
yield frames or raise :class:`SourceError` — no other exception, no hang.

CI runs a fixed, derandomized set of examples in a few seconds; for a longer session::

    ECHOSTREAM_FUZZ_EXAMPLES=5000 ECHOSTREAM_FUZZ_SEED=7 pytest tests/stream/test_fuzz_dicom.py
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from echostream.stream.dicom_writer import UltrasoundRegion, write_cine
from echostream.stream.errors import SourceError
from echostream.stream.sources import open_source

pytestmark = pytest.mark.timeout(180)

EXAMPLES = int(os.environ.get("ECHOSTREAM_FUZZ_EXAMPLES", "300"))
SEED = os.environ.get("ECHOSTREAM_FUZZ_SEED")
ENCODINGS = ("jpeg", "rgb", "mono", "rle", "jpeg-ls", "j2k", "deflated")
#: Tags whose values steer the reader: (group, element).
TAGS = [
    (0x0028, 0x0010), (0x0028, 0x0011), (0x0028, 0x0008), (0x0028, 0x0002),
    (0x0028, 0x0100), (0x0028, 0x0101), (0x0028, 0x0004), (0x0028, 0x0006),
    (0x0028, 0x0103), (0x0018, 0x1063), (0x0018, 0x0040), (0x0018, 0x6011),
    (0x0018, 0x6018), (0x0002, 0x0010), (0x7FE0, 0x0010), (0xFFFE, 0xE000),
]  # fmt: skip


def _frames(n: int = 3, h: int = 40, w: int = 48) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 5.0) * np.cos(yy / 4.0) * 90 + 100).astype(np.int16)
    return [
        np.repeat(np.clip(base + rng.integers(-20, 20, (h, w)), 0, 255)[..., None], 3, 2).astype(
            np.uint8
        )
        for _ in range(n)
    ]


class Seeds(dict[str, bytes]):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"<seed files: {', '.join(self)}>"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    """The valid files mutated, as bytes."""
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    root = tmp_path_factory.mktemp("seeds")
    out = Seeds()
    for enc in ENCODINGS:
        path = root / f"{enc}.dcm"
        write_cine(path, _frames(), fps=30, encoding="rgb" if enc == "deflated" else enc,
                   regions=[UltrasoundRegion(2, 2, 46, 38)])  # fmt: skip
        if enc == "deflated":
            ds = pydicom.dcmread(path)
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            ds.save_as(path)
        out[enc] = path.read_bytes()
    return out


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, bytes]], bool]:
    """(seed name, a few edits, whether to open as the classifier does)."""
    enc = draw(st.sampled_from(ENCODINGS))
    ops = draw(st.lists(st.tuples(
        st.sampled_from(["flip", "overwrite", "cut", "insert", "tag"]),
        st.integers(0, 1 << 20),
        st.binary(min_size=1, max_size=8),
    ), min_size=1, max_size=4))  # fmt: skip
    return enc, ops, draw(st.booleans())


def _mutate(data: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for op, where, value in ops:
        if not buf:
            break
        pos = where % len(buf)
        if op == "flip":
            buf[pos] ^= value[0] or 0xFF
        elif op == "overwrite":
            buf[pos : pos + len(value)] = value
        elif op == "cut":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = value
        else:  # replace the start of a steering tag's value (or its length)
            tag = struct.pack("<HH", *TAGS[where % len(TAGS)])
            at = bytes(buf).find(tag, 128)
            if at >= 0:
                start = at + 4 + (value[0] % 8)
                buf[start : start + len(value) - 1] = value[1:]
    return bytes(buf)


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # the timeout above bounds the run; a slow example is not a failure
    derandomize=SEED is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=mutations())
def test_mutated_dicom_gives_frames_or_source_error(
    case: tuple[str, list[tuple[str, int, bytes]], bool],
    seeds: Seeds,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    enc, ops, as_classifier = case
    path = Path(tmp_path_factory.getbasetemp()) / "fuzz.dcm"
    path.write_bytes(_mutate(seeds[enc], ops))
    options = {"luminance": True, "target_size": (24, 32), "workers": 2} if as_classifier else {}
    try:
        with open_source(path, **options) as src:
            for frame in src:
                assert frame.pixels.dtype == np.uint8 and frame.pixels.ndim in (2, 3)
                assert frame.pixels.size > 0
            assert src.info.fps > 0
        event(f"{enc}: frames")  # --hypothesis-show-statistics shows the mix
    except SourceError as err:
        assert "\n" not in str(err) and str(err).startswith(f"{path}: ")
        # the reader's last-resort wrapper (item_error) must not be what caught it: every
        # failure the fuzzer finds gets a specific message
        assert "cannot be processed" not in err.problem, err.problem
        event(f"{enc}: {err.problem.split('(')[0].split(':')[0][:40]}")


if SEED is not None:  # a reproducible session with another seed
    test_mutated_dicom_gives_frames_or_source_error = seed(int(SEED))(
        test_mutated_dicom_gives_frames_or_source_error
    )
