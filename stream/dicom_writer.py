"""Write ultrasound cines as real scanners do: US Multi-frame DICOM, JPEG baseline by default.

pydicom cannot encode JPEG baseline, so frames are encoded with Pillow (YCbCr 4:2:2, as
``YBR_FULL_422``) and wrapped with :func:`pydicom.encaps.encapsulate`. Native RGB and
MONOCHROME2 are written as they are; RLE, JPEG-LS and JPEG 2000 go through pydicom's encoders.

Example::

    write_cine("a4c.dcm", frames, fps=50, encoding="jpeg",
               device=Device("Philips", "EPIQ 7G"),
               regions=[UltrasoundRegion(x0=100, y0=60, x1=700, y1=560, delta_cm=0.03)])
"""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

US_MULTIFRAME_STORAGE = UID("1.2.840.10008.5.1.4.1.1.3.1")
US_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.6.1")
ENCODINGS = ("jpeg", "rgb", "mono", "rle", "jpeg-ls", "j2k")
_COMPRESSED = {"rle": RLELossless, "jpeg-ls": JPEGLSLossless, "j2k": JPEG2000Lossless}

# RegionDataType codes (DICOM PS3.3 C.8.5.5.1.2)
# M-mode is tissue data (1) in a region whose RegionSpatialFormat is 2.
REGION_DATA_TYPES = {"tissue": 1, "color": 2, "pw": 3, "cw": 4, "mmode": 1}


@dataclass(frozen=True)
class UltrasoundRegion:
    """One entry of the Sequence of Ultrasound Regions (inclusive max coordinates in DICOM)."""

    x0: int
    y0: int
    x1: int  # exclusive
    y1: int  # exclusive
    delta_cm: float = 0.03  # physical size of a pixel, cm
    data_type: str = "tissue"
    spatial_format: int = 1  # 1 = 2D, 2 = M-mode, 3 = spectral
    reference_y0: int | None = None  # RegionLocation of the transducer (sector apex), optional


@dataclass(frozen=True)
class Device:
    manufacturer: str
    model_name: str
    software: str = "echostream-sim 0.1"


@dataclass
class Identity:
    """Patient/study identity written into the header (fake for simulated data)."""

    patient_name: str = "ANON^PATIENT"
    patient_id: str = "0000000"
    birth_date: str = "19700101"
    study_date: str = "20200101"
    study_time: str = "120000"
    study_uid: str = field(default_factory=lambda: str(generate_uid()))
    series_uid: str = field(default_factory=lambda: str(generate_uid()))
    sop_uid: str = field(default_factory=lambda: str(generate_uid()))
    series_number: int = 1


def _jpeg_bytes(frame: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    # subsampling=1 is 4:2:2, which is what YBR_FULL_422 declares.
    Image.fromarray(frame, "RGB").save(buf, format="JPEG", quality=quality, subsampling=1)
    return buf.getvalue()


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame, dtype=np.uint8)
    return np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame


def _to_gray(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame, dtype=np.uint8)
    if frame.ndim == 2:
        return frame
    return np.asarray(Image.fromarray(frame, "RGB").convert("L"))


def _region_sequence(regions: Sequence[UltrasoundRegion]) -> list[Dataset]:
    items = []
    for r in regions:
        item = Dataset()
        item.RegionSpatialFormat = 2 if r.data_type == "mmode" else r.spatial_format
        item.RegionDataType = REGION_DATA_TYPES[r.data_type]
        item.RegionFlags = 0
        item.RegionLocationMinX0 = int(r.x0)
        item.RegionLocationMinY0 = int(r.y0)
        item.RegionLocationMaxX1 = int(r.x1) - 1
        item.RegionLocationMaxY1 = int(r.y1) - 1
        item.PhysicalUnitsXDirection = 3  # cm
        item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX = float(r.delta_cm)
        item.PhysicalDeltaY = float(r.delta_cm)
        if r.reference_y0 is not None:
            item.ReferencePixelX0 = int((r.x1 - r.x0) // 2)
            item.ReferencePixelY0 = int(r.reference_y0 - r.y0)
        items.append(item)
    return items


def write_cine(
    path: str | Path,
    frames: Sequence[np.ndarray],
    *,
    fps: float,
    encoding: str = "jpeg",
    quality: int = 90,
    device: Device | None = None,
    regions: Sequence[UltrasoundRegion] = (),
    identity: Identity | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "CARDIAC"),
) -> Path:
    """Write ``frames`` (H×W gray or H×W×3 RGB uint8, all the same size) as one DICOM file.

    ``encoding``: ``"jpeg"`` (JPEG baseline, YBR_FULL_422), ``"rgb"`` (native RGB), ``"mono"``
    (native MONOCHROME2), ``"rle"``, ``"jpeg-ls"``, ``"j2k"`` (lossless, via pydicom's encoders).
    One frame writes US Image Storage, more write US Multi-frame Image Storage.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    if not len(frames):
        raise ValueError("no frames to write")
    identity = identity or Identity()
    device = device or Device("echostream", "simulator")
    mono = encoding == "mono"
    arrays = [_to_gray(f) if mono else _to_rgb(f) for f in frames]
    rows, cols = arrays[0].shape[:2]
    n = len(arrays)

    ds = Dataset()
    ds.SOPClassUID = US_MULTIFRAME_STORAGE if n > 1 else US_IMAGE_STORAGE
    ds.SOPInstanceUID = identity.sop_uid
    ds.Modality = "US"
    ds.ImageType = list(image_type)
    ds.Manufacturer = device.manufacturer
    ds.ManufacturerModelName = device.model_name
    ds.SoftwareVersions = device.software
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = identity.birth_date
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = identity.study_date
    ds.StudyTime = identity.study_time
    ds.StudyInstanceUID = identity.study_uid
    ds.SeriesInstanceUID = identity.series_uid
    ds.SeriesNumber = identity.series_number
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1 if mono else 3
    ds.PhotometricInterpretation = "MONOCHROME2" if mono else "RGB"
    if not mono:
        ds.PlanarConfiguration = 0
    if n > 1:
        ds.NumberOfFrames = n
        ds.FrameTime = f"{1000.0 / fps:.4f}"
        ds.FrameIncrementPointer = 0x00181063  # → FrameTime
        ds.CineRate = int(round(fps))
        ds.RecommendedDisplayFrameRate = int(round(fps))
    if regions:
        ds.SequenceOfUltrasoundRegions = _region_sequence(regions)
    ds.InstanceCreationDate = _dt.date(2020, 1, 1).strftime(
        "%Y%m%d"
    )  # fixed: same seed, same bytes

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.10.1496.1")  # echostream
    ds.file_meta.ImplementationVersionName = "ECHOSTREAM_01"

    if encoding == "jpeg":
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate([_jpeg_bytes(a, quality) for a in arrays])
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        stack = np.stack(arrays)
        ds.PixelData = (stack[0] if n == 1 else stack).tobytes()
        if encoding in _COMPRESSED:
            ds.compress(_COMPRESSED[encoding], stack[0] if n == 1 else stack)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
