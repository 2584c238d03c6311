"""``echostream serve`` receiving video DICOM (H.264 / MPEG-2 bitstreams; Video Endoscopic,
Video Photographic and US Multi-frame instances): over pynetdicom's SCU and over DCMTK's
``storescu`` (which sends video only when told to propose the MPEG transfer syntax: ``-xn``
H.264, ``-xm`` MPEG-2), spooled and classified like any instance; a broken stream is that
instance's error row while the others are classified."""

from __future__ import annotations

import subprocess

import pytest

from echostream.stream.dicom_writer import Identity, UltrasoundRegion
from echostream.stream.results_db import ResultsDB

from .serve_cines import PATIENT_NAME, PATIENT_PREFIX, dcmtk_tool
from .test_dicom_video import FRAMES
from .test_serve import _receiver, engine  # noqa: F401 - the module-scoped engine fixture
from .video_dicom import (
    H264_HP41,
    MPEG2_MPML,
    US_MULTIFRAME,
    VIDEO_ENDOSCOPIC,
    VIDEO_PHOTOGRAPHIC,
    encode_video,
    write_video_cine,
)

pynetdicom = pytest.importorskip("pynetdicom")
pytestmark = pytest.mark.timeout(180)
STORESCU = dcmtk_tool("storescu")
REGION = [UltrasoundRegion(10, 8, 150, 112)]
#: (file name, SOP class, transfer syntax)
KINDS = [
    ("endo-h264.dcm", VIDEO_ENDOSCOPIC, H264_HP41),
    ("photo-mpeg2.dcm", VIDEO_PHOTOGRAPHIC, MPEG2_MPML),
    ("us-h264.dcm", US_MULTIFRAME, H264_HP41),
]


def _identity(i: int) -> Identity:
    return Identity(
        patient_name=PATIENT_NAME,
        patient_id=f"{PATIENT_PREFIX}V{i}",
        series_uid="1.2.826.0.1.3680043.10.1496.9.77",
        sop_uid=f"1.2.826.0.1.3680043.10.1496.8.77{i}",
    )


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The three kinds of video instance, and one whose H.264 stream is cut short."""
    folder = tmp_path_factory.mktemp("videos")
    files = {
        name: write_video_cine(
            folder / name,
            FRAMES,
            tsyntax=tsyntax,
            sop_class=sop,
            regions=REGION,
            identity=_identity(i),
        )  # fmt: skip
        for i, (name, sop, tsyntax) in enumerate(KINDS)
    }
    stream = encode_video(FRAMES, "libx264")
    files["cut.dcm"] = write_video_cine(
        folder / "cut.dcm", FRAMES, sop_class=VIDEO_ENDOSCOPIC, regions=REGION,
        identity=_identity(9), bitstream=stream[: len(stream) // 3],
    )  # fmt: skip
    return files


def _by_uid(rows: list) -> dict:
    return {r["sop_instance_uid"][-4:]: r for r in rows}


def test_pynetdicom_scu_sends_video_instances(tmp_path, engine, videos) -> None:  # noqa: F811
    rows: list = []
    receiver = _receiver(tmp_path, engine, rows)
    receiver.start()
    try:
        ae = pynetdicom.AE(ae_title="SCANNER")
        for sop in {s for _, s, _ in KINDS}:
            for tsyntax in (H264_HP41, MPEG2_MPML):  # one context each, as scanners propose
                ae.add_requested_context(sop, tsyntax)
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="ECHOSTREAM")
        assert assoc.is_established
        assert all(ctx.result == 0x00 for ctx in assoc.accepted_contexts)
        assert len(assoc.accepted_contexts) == 6  # each video class in both syntaxes
        statuses = [int(assoc.send_c_store(str(p)).Status) for p in videos.values()]
        assoc.release()
        receiver.pool.stop(drain=True)
    finally:
        receiver.stop()
    assert statuses == [0, 0, 0, 0]  # the cut one too: it is on disk before "stored"
    got = _by_uid(rows)
    for i in range(3):
        row = got[f".77{i}"]
        assert row["status"] == "ok" and row["frames"] == 20 and row["view"], row
    cut = got[".779"]
    assert cut["status"] == "error" and "ends after" in cut["error"] and "\n" not in cut["error"]
    assert receiver.spool.pending == 0
    with ResultsDB(tmp_path / "r.sqlite") as db:
        assert db.count() == 4
    stored = (tmp_path / "r.sqlite").read_bytes()
    assert PATIENT_PREFIX.encode() not in stored and PATIENT_NAME.encode() not in stored


@pytest.mark.skipif(STORESCU is None, reason="DCMTK's storescu not installed (package dcmtk)")
def test_dcmtk_storescu_sends_video_when_it_proposes_mpeg(tmp_path, engine, videos) -> None:  # noqa: F811
    rows: list = []
    receiver = _receiver(tmp_path, engine, rows)
    receiver.start()

    def send(options: str, *names: str) -> subprocess.CompletedProcess:
        command = [str(STORESCU), "-v", "-aet", "SCANNER", "-aec", "ECHOSTREAM",
                   *options.split(), "127.0.0.1", str(receiver.port),
                   *(str(videos[n]) for n in names)]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    try:
        # by default storescu proposes uncompressed syntaxes only: it will not send video
        plain = send("-R", "endo-h264.dcm")
        # -R (--required): propose the files' own SOP classes (its default list of all the
        # storage classes it knows leaves the video ones out: "No presentation context")
        h264 = send("-R -xn", "endo-h264.dcm", "us-h264.dcm")  # --propose-mpeg4
        mpeg2 = send("-R -xm", "photo-mpeg2.dcm")  # --propose-mpeg2
        receiver.pool.stop(drain=True)
    finally:
        receiver.stop()
    assert "Received Store Response (Success)" not in plain.stdout + plain.stderr
    for run in (h264, mpeg2):
        assert run.returncode == 0, run.stdout + run.stderr
    assert (h264.stdout + h264.stderr).count("Received Store Response (Success)") == 2
    assert "Received Store Response (Success)" in mpeg2.stdout + mpeg2.stderr
    got = _by_uid(rows)
    assert sorted(got) == [".770", ".771", ".772"]
    assert all(r["status"] == "ok" and r["frames"] == 20 for r in got.values()), rows
