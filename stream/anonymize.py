"""``echostream anonymize``: de-identified copies of echo files, in one folder, with an audit.

For each input (DICOM cine or still, MP4/AVI/... video, PNG/JPEG still):

- pixels: everything outside the ultrasound region is blanked (:mod:`.anonymize_pixels`);
  frames are decoded by the package's readers and re-encoded (DICOM: RLE lossless by default;
  videos: H.264, or MPEG-4 part 2 where FFmpeg lacks it; stills: PNG);
- DICOM header: the PS3.15 Basic Profile with consistent pseudonyms and remapped UIDs
  (:mod:`.anonymize_header`), one secret salt for the whole run;
- name: pseudonymous, never the input's: a DICOM file is named by its new SOP Instance UID,
  a video or still by a keyed hash (``video-<16 hex>.mp4``, ``image-<16 hex>.png``).

``audit.csv`` in the output folder says what changed, a row per element: the output's name,
the input as a keyed hash of its path (``hmac-<16 hex>.dcm``, keyed by ``$ECHOSTREAM_PATH_KEY``
or else the run's salt: see :mod:`.names`), the part (``file``, ``header``, ``pixels``), the
element and what was done; never a value and never a path. ``check=True`` adds
``check/<output>.png`` (the maximum over frames, the thesis' check) and ``check/sheet.png``.

A file that cannot be read or de-identified is that item's one-line error (``name: problem``)
and the batch goes on; nothing is written for it.

Example::

    run = AnonymizeRun(AnonymizeOptions(out=Path("anon"), salt=secrets.token_hex(32)))
    results = run.run_all(["export/"], namer=PathNamer.create("hash"))
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .anonymize_header import HeaderDeidentifier
from .anonymize_pixels import Blanking, Box, FrameEncoder, MaxImage, choose_blanking
from .atomic import atomic_file, atomic_path
from .errors import SourceError, item_error
from .names import KEY_ENV, PathNamer

AUDIT_FIELDS = ("output", "source", "part", "element", "vr", "action")
AUDIT_NAME = "audit.csv"
CHECK_FOLDER = "check"
_UID_NAME = re.compile(r"[0-9][0-9.]{0,63}")


@dataclass(frozen=True)
class AnonymizeOptions:
    """One run's settings: the output folder, the secret salt, and the pixel policy."""

    out: Path
    salt: str
    region: Box | None = None  # keep this box in every input (else region, else detected)
    top_rows: int = 0
    encoding: str = "rle"  # DICOM output: rle | native | jpeg-ls
    keep_pixels: bool = False  # header only: pixels as they are, BurnedInAnnotation untouched
    check: bool = False


@dataclass
class ItemResult:
    """One input's outcome: ``shown`` is what stdout and stderr call it (``--paths``),
    ``source`` the keyed hash of its path (the audit's); ``error`` one line."""

    shown: str
    source: str
    output: str | None = None
    frames: int = 0
    pixels: str = ""
    error: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line for stdout: input (as shown) → output, frames, what the pixels got."""
        return f"{self.shown} -> {self.output}: {self.frames} frames, {self.pixels}"


class AnonymizeRun:
    """One run: one salt, one header de-identifier (pseudonyms agree across its files)."""

    def __init__(self, options: AnonymizeOptions) -> None:
        self.options = options
        self.header = HeaderDeidentifier(options.salt)
        key = os.environ.get(KEY_ENV) or options.salt
        self.source_hash = PathNamer.create("hash", key=key)
        self._taken: set[str] = set()
        self.check_images: list[Path] = []
        if not options.keep_pixels:
            FrameEncoder(options.encoding)  # a missing encoder: ValueError before any file

    # --- the batch ---------------------------------------------------------------------------

    def run_all(
        self,
        paths: Sequence[str],
        *,
        namer: Callable[[str], str],
        on_done: Callable[[ItemResult], None] | None = None,
    ) -> list[ItemResult]:
        """Anonymize every path, then write ``audit.csv`` (and the check sheet)."""
        self.options.out.mkdir(parents=True, exist_ok=True)
        results = []
        for path in paths:
            result = self.run_one(path, namer(path))
            results.append(result)
            if on_done is not None:
                on_done(result)
        self.write_audit(results)
        if self.options.check and self.check_images:
            from .sector_sheet import draw_sheet

            images, sheet = self.check_images, self.check_folder / "sheet.png"
            columns = min(4, len(images))
            draw_sheet(images, sheet, columns=columns, labels=[p.stem for p in images])
        return results

    def run_one(self, path: str, name: str) -> ItemResult:
        """One input; never raises for a bad file (its ``error`` says why, in one line)."""
        from .sources import source_kind
        from .sources.base import check_regular_file

        result = ItemResult(shown=name, source=self.source_hash(path))
        try:
            kind = source_kind(path)
            if kind == "live":
                raise SourceError(name, "not a file (a stream or device)")
            check_regular_file(path, name)
            if kind == "dicom":
                self._dicom(Path(path), name, result)
            else:
                self._picture(Path(path), name, kind, result)
        except Exception as err:  # noqa: BLE001 - one bad item never stops the batch
            error = item_error(name, err)
            result.output, result.error = None, str(error)
            result.rows = [self._row(result, "file", "", "", f"failed: {error.problem}")]
        return result

    # --- DICOM -------------------------------------------------------------------------------

    def _dicom(self, path: Path, name: str, result: ItemResult) -> None:
        from .anonymize_pixels import set_pixel_module
        from .sources.dicom import DicomSource
        from .sources.region import select_region

        opts = self.options
        with DicomSource(path, name=name) as src, _quiet_pydicom():
            ds = _read_dataset(path, name, with_pixels=opts.keep_pixels)
            size = (src.info.height, src.info.width)
            header_region, _ = select_region(
                ds.get("SequenceOfUltrasoundRegions"), rows=size[0], cols=size[1]
            )
            blanking = self._blanking(name, size, header_region, src.info.region)
            encoder = None if opts.keep_pixels else FrameEncoder(opts.encoding)
            frames = src if encoder is not None or opts.check else ()
            result.frames, check = _blank_frames(frames, blanking, encoder.add if encoder else None)
            result.frames = result.frames or int(src.info.n_frames or 0)
        try:
            with _quiet_pydicom():
                changes = self.header.apply(ds, pixels_blanked=blanking is not None)
        except Exception as err:  # noqa: BLE001 - never let a header value reach a message
            raise SourceError(name, f"header not de-identified ({type(err).__name__})") from None
        note = set_pixel_module(ds, encoder) if encoder else "pixel data kept as it was"
        uid = str(ds.get("SOPInstanceUID") or "")
        stem = uid if _UID_NAME.fullmatch(uid) else f"dicom-{self._token(path)}"
        result.output = self._claim(stem, ".dcm")
        try:
            with atomic_path(self.options.out / result.output) as tmp:
                ds.save_as(tmp, enforce_file_format=True)
        except Exception as err:  # noqa: BLE001 - pydicom's messages may quote a value
            why = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
            raise SourceError(name, f"cannot write the de-identified copy ({why})") from None
        self._finish(result, blanking, check, note)
        result.rows[1:1] = [self._row(result, "header", c.element, c.vr, c.action) for c in changes]

    # --- videos and stills -------------------------------------------------------------------

    def _picture(self, path: Path, name: str, kind: str, result: ItemResult) -> None:
        from .sources import open_source

        with open_source(path, name=name) as src:
            size = (src.info.height, src.info.width)
            blanking = self._blanking(name, size, None, src.info.region)
            prefix, suffix = ("image", ".png") if kind == "image" else ("video", ".mp4")
            result.output = self._claim(f"{prefix}-{self._token(path)}", suffix)
            target = self.options.out / result.output
            if kind == "image":
                result.frames, check = self._write_still(src, blanking, target)
            else:
                result.frames, check = self._write_video(src, blanking, target)
        note = "re-encoded: " + ("PNG" if kind == "image" else "video, H.264 or MPEG-4 (lossy)")
        self._finish(result, blanking, check, note)

    @staticmethod
    def _write_still(src: Any, blanking: Blanking | None, target: Path) -> tuple[int, MaxImage]:
        from PIL import Image

        pixels: list[np.ndarray] = []
        frames, check = _blank_frames(src, blanking, pixels.append)
        with atomic_path(target) as tmp:
            Image.fromarray(pixels[0]).save(tmp, format="PNG")
        return frames, check

    @staticmethod
    def _write_video(src: Any, blanking: Blanking | None, target: Path) -> tuple[int, MaxImage]:
        from .sinks import VideoSink

        partial = target.with_name(f".{target.stem}.partial{target.suffix}")  # suffix: container
        try:
            with VideoSink(partial, fps=src.info.fps, name=target.name) as sink:
                frames, check = _blank_frames(src, blanking, lambda px: sink.write(_rgb(px)))
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return frames, check

    # --- shared steps ------------------------------------------------------------------------

    def _blanking(
        self, name: str, size: tuple[int, int], header: Any, found: Any
    ) -> Blanking | None:
        """The box to keep, None with ``keep_pixels``; an error when no region is known."""
        opts = self.options
        if opts.keep_pixels:
            return None
        detected = found if found is not None and found.origin == "detected" else None
        blanking = choose_blanking(
            given=opts.region, header=header, detected=detected, size=size, top_rows=opts.top_rows
        )
        if blanking is None:
            raise SourceError(
                name,
                "no ultrasound region in the header and no scan sector found in the pixels: "
                "give --region x0,y0,x1,y1",
            )
        return blanking

    def _finish(
        self, result: ItemResult, blanking: Blanking | None, check: MaxImage, note: str
    ) -> None:
        """The item's audit rows (file, pixels) and its check image."""
        result.pixels = blanking.describe() if blanking else "not blanked (--keep-pixels)"
        result.rows = [
            self._row(result, "file", "", "", f"written ({result.frames} frames)"),
            self._row(result, "pixels", "frames", "", result.pixels),
            self._row(result, "pixels", "(7FE0,0010) PixelData", "", note),
        ]
        if self.options.check and check.image is not None and result.output:
            self.check_folder.mkdir(parents=True, exist_ok=True)
            png = self.check_folder / f"{Path(result.output).stem}.png"
            check.save(png)
            self.check_images.append(png)

    @property
    def check_folder(self) -> Path:
        return self.options.out / CHECK_FOLDER

    def _token(self, path: Path) -> str:
        """A name for an output that has no UID: keyed by the salt, unlinkable to the path."""
        message = b"output-name\0" + os.fsencode(os.path.abspath(path))
        return hmac.new(self.options.salt.encode(), message, hashlib.sha256).hexdigest()[:16]

    def _claim(self, stem: str, suffix: str) -> str:
        """``stem + suffix``, or ``stem-2`` … when this run already wrote that name."""
        name, k = f"{stem}{suffix}", 2
        while name in self._taken:
            name, k = f"{stem}-{k}{suffix}", k + 1
        self._taken.add(name)
        return name

    @staticmethod
    def _row(result: ItemResult, part: str, element: str, vr: str, action: str) -> dict[str, Any]:
        return {"output": result.output or "", "source": result.source, "part": part,
                "element": element, "vr": vr, "action": action}  # fmt: skip

    def write_audit(self, results: Sequence[ItemResult]) -> Path:
        """``audit.csv`` in the output folder (written atomically), every item's rows."""
        path = self.options.out / AUDIT_NAME
        with atomic_file(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=AUDIT_FIELDS)
            writer.writeheader()
            for result in results:
                writer.writerows(result.rows)
        return path


def _blank_frames(
    frames: Any, blanking: Blanking | None, sink: Callable[[np.ndarray], Any] | None
) -> tuple[int, MaxImage]:
    """Blank each frame, hand it to ``sink``, keep the max image; ``(frames, max image)``."""
    check = MaxImage()
    count = 0
    for frame in frames:
        pixels = blanking.apply(frame.pixels) if blanking is not None else frame.pixels
        if sink is not None:
            sink(pixels)
        check.add(pixels)
        count += 1
    return count, check


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


@contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """pydicom's log messages and warnings quote header values ("Invalid value for VR DA:
    '…'"): inside this block they go nowhere (this thread's log; warnings everywhere)."""
    from .sources.dicom_header import pydicom_messages

    with pydicom_messages(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _read_dataset(path: Path, name: str, *, with_pixels: bool) -> Any:
    """The whole header (every element, for de-identification), pixel data only if asked;
    any problem is one line naming the file and the error type, never a value."""
    from pydicom import dcmread

    try:
        return dcmread(path, stop_before_pixels=not with_pixels)
    except Exception as err:  # noqa: BLE001 - pydicom on hostile bytes: many error types
        raise SourceError(name, f"cannot read the DICOM header ({type(err).__name__})") from None
