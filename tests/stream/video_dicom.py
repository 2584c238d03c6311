"""Helpers for the video DICOM tests: encode frames with PyAV (H.264, MPEG-2, HEVC) and wrap the
bitstream in a DICOM file as scanners and PACS export echo cines (PS3.5 8.2.5-8.2.8): the header
of :func:`write_cine` (ultrasound regions, timing, fake patient), the pixel data one encapsulated
bitstream in a few fragments, YBR_PARTIAL_420, the MPEG transfer syntax and SOP class."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from echostream.stream.dicom_writer import write_cine

MPEG2_MPML = "1.2.840.10008.1.2.4.100"
H264_HP41 = "1.2.840.10008.1.2.4.102"
HEVC_MP51 = "1.2.840.10008.1.2.4.107"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
VIDEO_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4.1"
#: transfer syntax → (PyAV encoder, ISO method name for LossyImageCompressionMethod)
ENCODERS = {
    MPEG2_MPML: ("mpeg2video", "ISO_13818_2"),
    H264_HP41: ("libx264", "ISO_14496_10"),
    HEVC_MP51: ("libx265", "ISO_23008_2"),
}


def encode_video(
    frames: Sequence[np.ndarray], codec: str, *, fps: float = 25, container: str = "mpegts"
) -> bytes:
    """``frames`` (H×W×3 RGB uint8) as one yuv420p bitstream in ``container`` (``mpegts``, or
    a bare elementary stream: ``h264``, ``mpeg2video``, ``hevc``)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream: Any = out.add_stream(codec, rate=int(round(fps)))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=none"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def write_video_cine(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    fps: float = 25,
    tsyntax: str = H264_HP41,
    sop_class: str = US_MULTIFRAME,
    container: str = "mpegts",
    fragments: int = 3,
    timing: bool = True,
    bitstream: bytes | None = None,
    **cine: Any,
) -> Path:
    """A video DICOM of ``frames`` (RGB uint8, even sizes); ``cine`` goes to :func:`write_cine`
    (``regions``, ``identity``, ...). ``timing=False`` drops the header's frame timing (the
    stream's own rate is then used); ``bitstream`` replaces the encoded video (broken ones)."""
    write_cine(path, frames, fps=fps, encoding="rgb", **cine)
    ds = pydicom.dcmread(path)
    codec, method = ENCODERS[tsyntax]
    data = bitstream if bitstream is not None else encode_video(frames, codec, fps=fps,
                                                                 container=container)  # fmt: skip
    ds.PixelData = encapsulate([data], fragments_per_frame=fragments, has_bot=False)
    ds["PixelData"].VR = "OB"
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = method
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    if sop_class != US_MULTIFRAME:
        ds.Modality = "ES" if sop_class == VIDEO_ENDOSCOPIC else "XC"
    if not timing:
        for keyword in ("FrameTime", "FrameIncrementPointer", "CineRate",
                        "RecommendedDisplayFrameRate"):  # fmt: skip
            ds.pop(keyword, None)
    ds.file_meta.TransferSyntaxUID = UID(tsyntax)
    ds.save_as(path, enforce_file_format=True)
    return path
