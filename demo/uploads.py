"""What the demo accepts as an upload, and what it calls one on the page.

The page never shows an upload's own file name (it is often the patient's): it says "your
upload (.dcm)". Example::

    problem = check_upload(path, max_mb=200, shown=upload_label(path))  # None: accepted
"""

from __future__ import annotations

from pathlib import Path

from echostream.stream.sources import DICOM_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES, source_kind

DEFAULT_MAX_UPLOAD_MB = 200.0
ACCEPTED_SUFFIXES = tuple(sorted(DICOM_SUFFIXES | VIDEO_SUFFIXES | IMAGE_SUFFIXES))


def check_upload(
    path: str | Path, max_mb: float = DEFAULT_MAX_UPLOAD_MB, *, shown: str | None = None
) -> str | None:
    """None when ``path`` is an acceptable upload, else a one-line reason naming the file
    (as ``shown``: the page never shows an upload's own name, which may be the patient's).

    >>> check_upload("notes.txt")
    'notes.txt: .txt files are not accepted; upload a DICOM cine, an MP4/AVI video or an image'
    """
    p = Path(path)
    name = shown or p.name
    suffix = p.suffix.lower()
    if suffix and suffix not in ACCEPTED_SUFFIXES:
        return (
            f"{name}: {suffix} files are not accepted; "
            "upload a DICOM cine, an MP4/AVI video or an image"
        )
    if not suffix and source_kind(p) != "dicom":
        return f"{name}: a file without a suffix must be DICOM (no DICM preamble found)"
    try:
        size = p.stat().st_size
    except OSError:
        return f"{name}: the upload could not be read back"
    if size > max_mb * 1024 * 1024:
        return f"{name}: {size / 2**20:.1f} MB is over the {max_mb:g} MB upload limit"
    if size == 0:
        return f"{name}: the file is empty"
    return None


def upload_label(upload: str | Path) -> str:
    """What the page calls an upload: never its own name (often the patient's).

    >>> upload_label("/tmp/gradio/3f2a/DOE_JOHN_1970.DCM")
    'your upload (.dcm)'
    """
    suffix = Path(upload).suffix.lower()
    return f"your upload ({suffix})" if suffix in ACCEPTED_SUFFIXES else "your upload"
