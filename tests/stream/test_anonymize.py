"""``echostream anonymize``: identifiers planted in header tags, private tags, sequences, the
preamble, file and folder names and burned-in text never reach the output files, the audit,
the logs, stdout or stderr; pixels inside the region survive a lossless input exactly; a study
keeps linking; another salt gives other pseudonyms; a broken file is one line."""

from __future__ import annotations

import csv
import logging
import warnings
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest
import typer
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from typer.testing import CliRunner

from echostream.stream import cli_anonymize
from echostream.stream.dicom_writer import Identity, UltrasoundRegion, write_cine
from echostream.stream.sources import open_source

pytestmark = pytest.mark.timeout(180)

H, W = 192, 256
REGION = (32, 48, 224, 176)  # x0, y0, x1, y1: the ultrasound picture
NAME = "ZQXDOE^ZQXJOHN"
PATIENT_ID = "987654321"
BIRTH = "19650312"
STUDY_DATE = "20240517"
SECRETS = {
    "name": "ZQXDOE",
    "first name": "ZQXJOHN",
    "patient id": PATIENT_ID,
    "birth date": BIRTH,
    "study date": STUDY_DATE,
    "bad date": "2024-05-17",
    "institution": "ZQXHOSPITAL",
    "physician": "ZQXDOCTOR",
    "serial": "ZQXSERIAL77",
    "comment": "ZQXCOMMENT",
    "private": "ZQXPRIVATE",
    "sequence": "ZQXSEQUENCE",
    "accession": "ZQXACC4242",
    "preamble": "ZQXPREAMBLE",
    "study uid": "1.2.826.0.1.3680043.99.4242",
    "sop uid": "1.2.826.0.1.3680043.99.4242.1.1",
}


def screen_frames(n: int = 6, seed: int = 0, banner: str = f"{NAME} {PATIENT_ID} {BIRTH}"):
    """A scanner screen: moving speckle in REGION, the patient's name, ID and birth date
    burned into the banner and beside the picture (letters and digits)."""
    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=14)
    out = []
    for _ in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        x0, y0, x1, y1 = REGION
        img[y0:y1, x0:x1] = rng.integers(30, 220, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
        pil = Image.fromarray(img)
        draw = ImageDraw.Draw(pil)
        draw.text((4, 4), banner, fill=(255, 255, 255), font=font)
        draw.text((4, H - 14), f"ID {PATIENT_ID}", fill=(255, 255, 0), font=font)
        draw.text((W - 30, 60), "12\n34", fill=(200, 200, 200), font=font)
        out.append(np.asarray(pil))
    return out


def planted_cine(path: Path, *, encoding: str = "rgb", sop: str = SECRETS["sop uid"],
                 series: str = "1.2.826.0.1.3680043.99.4242.1", refers_to: str | None = None,
                 name: str = NAME, regions: bool = True) -> Path:  # fmt: skip
    """A US cine with identifiers in every place a header hides them."""
    frames = screen_frames()
    if encoding == "mono":
        frames = [f[..., 0] for f in frames]
    identity = Identity(
        patient_name=name, patient_id=PATIENT_ID, birth_date=BIRTH, study_date=STUDY_DATE,
        study_uid=SECRETS["study uid"], series_uid=series, sop_uid=sop,
    )  # fmt: skip
    regions_ = [UltrasoundRegion(*REGION)] if regions else ()
    write_cine(path, frames, fps=25, encoding=encoding, identity=identity, regions=regions_)
    ds = pydicom.dcmread(path)
    ds.preamble = SECRETS["preamble"].encode().ljust(128, b"\0")
    ds.InstitutionName = SECRETS["institution"]
    ds.ReferringPhysicianName = SECRETS["physician"] + "^A"
    ds.DeviceSerialNumber = SECRETS["serial"]
    ds.ImageComments = f"seen by {SECRETS['comment']}"
    ds.StudyDescription = SECRETS["comment"] + " echo"
    ds.AccessionNumber = SECRETS["accession"]
    with warnings.catch_warnings():  # pydicom warns (quoting it) as it is planted
        warnings.simplefilter("ignore")
        ds.AcquisitionDate = SECRETS["bad date"]  # malformed: must not stop the date shift
    block = ds.private_block(0x0011, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", SECRETS["private"] + " " + NAME)
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID = PATIENT_ID, SECRETS["sequence"]
    ds.OtherPatientIDsSequence = [other]
    request = Dataset()
    request.RequestedProcedureDescription = SECRETS["sequence"]
    request.RequestedProcedureID = SECRETS["accession"]
    ds.RequestAttributesSequence = [request]
    if refers_to is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ref.ReferencedSOPInstanceUID = refers_to
        ds.ReferencedImageSequence = [ref]
    ds.save_as(path, enforce_file_format=True)
    return path


def anonymize(*args: str | Path):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_anonymize.register(app, bench)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps "anonymize" a subcommand
        pass

    return CliRunner().invoke(app, ["anonymize", *(str(a) for a in args)])


def outputs(folder: Path, suffix: str = ".dcm") -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == suffix)


def audit_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "audit.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def assert_nothing_left(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for what, secret in SECRETS.items():
        assert secret.encode() not in data, f"{what} ({secret}) survives in {where}"


def outside(pixels: np.ndarray, box: tuple[int, int, int, int] = REGION) -> np.ndarray:
    mask = np.ones(pixels.shape[:2], bool)
    mask[box[1] : box[3], box[0] : box[2]] = False
    return pixels[mask]


def frames_of(path: Path) -> list[np.ndarray]:
    with open_source(path, estimate_region=False) as src:
        return [f.pixels for f in src]


def salt_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"salt-{text[:4]}.txt"
    path.write_text(text * 4)
    return path


def test_planted_identifiers_never_survive(tmp_path, caplog) -> None:
    folder = tmp_path / "ZQXDOE_ZQXJOHN_987654321"
    folder.mkdir()
    src = planted_cine(folder / f"{NAME}_{PATIENT_ID}.dcm")
    out = tmp_path / "out"
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # what planting logged
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = anonymize(folder, "--out", out, "--check")
    assert res.exit_code == 0, res.output
    (written,) = outputs(out)
    shown = " ".join(str(w.message) for w in caught)
    for place, text in (("stdout", res.stdout), ("stderr", res.stderr), ("logs", caplog.text),
                        ("warnings", shown),
                        ("audit.csv", (out / "audit.csv").read_bytes()),
                        ("output names", " ".join(p.name for p in out.rglob("*")))):  # fmt: skip
        assert_nothing_left(text, place)
    assert_nothing_left(written.read_bytes(), "the output file")
    ds = pydicom.dcmread(written)
    assert ds.PatientName and str(ds.PatientName) != NAME and ds.PatientID != PATIENT_ID
    assert ds.BurnedInAnnotation == "NO" and ds.PatientIdentityRemoved == "YES"
    assert "113101" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert "DeviceSerialNumber" not in ds or ds.DeviceSerialNumber != SECRETS["serial"]
    assert written.name == f"{ds.SOPInstanceUID}.dcm"
    # burned-in text: every pixel outside the region is black; inside, the input's pixels
    before, after = frames_of(src), frames_of(written)
    assert len(after) == len(before) == 6
    for a, b in zip(after, before, strict=True):
        assert outside(a).max() == 0
        x0, y0, x1, y1 = REGION
        assert np.array_equal(a[y0:y1, x0:x1], b[y0:y1, x0:x1])
    rows = audit_rows(out)
    actions = {(r["element"].split(") ")[-1], r["action"]) for r in rows if r["part"] == "header"}
    assert {("PatientName", "pseudonym"), ("StudyInstanceUID", "uid remapped"),
            ("StudyDate", "date shifted"), ("ImageComments", "removed"),
            ("private", "removed")} <= actions  # fmt: skip
    assert {r["source"] for r in rows} == {res.stdout.split(" -> ")[0]}  # the keyed path hash
    assert (out / "check" / f"{written.stem}.png").is_file()
    assert (out / "check" / "sheet.png").is_file()
    check = np.asarray(Image.open(out / "check" / f"{written.stem}.png"))
    assert outside(check).max() == 0 and check.max() > 0  # the max over frames: nothing left


def study_in(tmp_path: Path) -> Path:
    """Three files of one study UID: a, b referring to a, c of another patient."""
    folder = tmp_path / "in"
    planted_cine(folder / "a.dcm")
    planted_cine(folder / "b.dcm", sop=SECRETS["sop uid"][:-1] + "2",
                 series=SECRETS["study uid"] + ".2", refers_to=SECRETS["sop uid"])  # fmt: skip
    planted_cine(folder / "c.dcm", sop=SECRETS["sop uid"][:-1] + "3", name="ZQXROE^ZQXJANE")
    return folder


def read_study(out: Path) -> tuple[Dataset, Dataset, Dataset]:
    """(a, b, c) as written: b is the one with a reference, a the one it refers to."""
    datasets = [pydicom.dcmread(p) for p in outputs(out)]
    assert len(datasets) == 3
    b = next(d for d in datasets if "ReferencedImageSequence" in d)
    a = next(
        d
        for d in datasets
        if d.SOPInstanceUID == b.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    )
    c = next(d for d in datasets if d is not a and d is not b)
    return a, b, c


def test_a_study_keeps_linking_and_the_salt_decides_the_pseudonyms(tmp_path) -> None:
    folder = study_in(tmp_path)
    runs = {}
    for run, secret in (("one", "a"), ("again", "a"), ("other", "b")):
        out = tmp_path / run
        res = anonymize(folder, "--out", out, "--salt-file", salt_file(tmp_path, secret * 16))
        assert res.exit_code == 0, res.output
        runs[run] = read_study(out)
    a, b, c = runs["one"]
    assert a.PatientName == b.PatientName != c.PatientName
    assert a.PatientID == b.PatientID and a.StudyInstanceUID == b.StudyInstanceUID
    assert a.StudyInstanceUID != SECRETS["study uid"] and a.SeriesInstanceUID != b.SeriesInstanceUID
    assert a.StudyDate == b.StudyDate != STUDY_DATE  # shifted by one offset: intervals kept
    uids = {run: {d.SOPInstanceUID for d in study} for run, study in runs.items()}
    names = {run: {str(d.PatientName) for d in study} for run, study in runs.items()}
    assert uids["again"] == uids["one"] and names["again"] == names["one"]  # same secret
    assert uids["other"].isdisjoint(uids["one"]) and names["other"].isdisjoint(names["one"])
    assert runs["other"][0].StudyInstanceUID != a.StudyInstanceUID


def _has_jpegls_encoder() -> bool:
    from pydicom.pixels import get_encoder
    from pydicom.uid import JPEGLSLossless

    return get_encoder(JPEGLSLossless).is_available


@pytest.mark.parametrize(
    ("source", "encoding"), [("mono", "native"), ("rle", "rle"), ("rgb", "jpeg-ls")]
)
def test_lossless_inputs_keep_their_pixels_inside_the_region(tmp_path, source, encoding) -> None:
    if encoding == "jpeg-ls" and not _has_jpegls_encoder():
        pytest.skip("pyjpegls is not installed")
    src = planted_cine(tmp_path / "in.dcm", encoding=source)
    out = tmp_path / "out"
    res = anonymize(src, "--out", out, "--encoding", encoding, "--blank-top", "60")
    assert res.exit_code == 0, res.output
    (written,) = outputs(out)
    ds = pydicom.dcmread(written)
    assert ds.file_meta.TransferSyntaxUID.name.lower().startswith(
        {"native": "explicit vr", "rle": "rle", "jpeg-ls": "jpeg-ls"}[encoding]
    )
    assert ds.PhotometricInterpretation == ("MONOCHROME2" if source == "mono" else "RGB")
    x0, _, x1, y1 = REGION
    for a, b in zip(frames_of(written), frames_of(src), strict=True):
        assert outside(a).max() == 0 and a[:60].max() == 0  # the top rows too
        assert np.array_equal(a[60:y1, x0:x1], b[60:y1, x0:x1])
    assert "top 60 rows" in res.stdout


def test_a_broken_file_is_one_line_and_the_batch_goes_on(tmp_path) -> None:
    folder = tmp_path / "in"
    good = planted_cine(folder / "1.dcm")
    (folder / "2.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 300)  # garbage header
    cut = folder / "3.dcm"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # truncated pixel data
    noise = folder / "4.dcm"  # no region in the header, no sector in the pixels
    write_cine(noise, [np.full((H, W, 3), 128, np.uint8)] * 3, fps=25, encoding="rgb")
    planted_cine(folder / "5.dcm", sop=SECRETS["sop uid"][:-1] + "5")
    (folder / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\x02" * 64)  # skipped in a folder
    out = tmp_path / "out"
    res = anonymize(folder, "--out", out)
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if ": " in line and "written" not in line]
    assert len(errors) == 3 and all(line.startswith("hmac-") for line in errors), res.stderr
    assert "give --region" in errors[-1]
    assert len(outputs(out)) == 2 and "2 written, 3 failed" in res.stderr
    failed = [r for r in audit_rows(out) if r["action"].startswith("failed")]
    assert len(failed) == 3 and all(r["output"] == "" for r in failed)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial file left
    res = anonymize(noise, "--out", tmp_path / "given", "--region", ",".join(map(str, REGION)))
    assert res.exit_code == 0 and "(given region)" in res.stdout


def test_keep_pixels_changes_the_header_only(tmp_path) -> None:
    src = planted_cine(tmp_path / "in.dcm")
    res = anonymize(src, "--out", tmp_path / "out", "--keep-pixels")
    assert res.exit_code == 0, res.output
    (written,) = outputs(tmp_path / "out")
    ds = pydicom.dcmread(written)
    assert "BurnedInAnnotation" not in ds and "PatientIdentityRemoved" not in ds
    assert "113101" not in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert str(ds.PatientName) != NAME and ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    for a, b in zip(frames_of(written), frames_of(src), strict=True):
        assert np.array_equal(a, b)


def test_the_real_jpeg_cine(tmp_path) -> None:
    """pydicom's real echo cine (JPEG baseline, YBR_FULL_422): its decoded pixels inside the
    (rescaled) ultrasound region are kept exactly, as RLE lossless RGB; identifiers go."""
    from pydicom import examples

    path = examples.get_path("ybr_color")
    original = pydicom.dcmread(path)
    res = anonymize(path, "--out", tmp_path, "--check")
    assert res.exit_code == 0, res.output
    (written,) = outputs(tmp_path)
    ds = pydicom.dcmread(written)
    assert ds.file_meta.TransferSyntaxUID.name == "RLE Lossless"
    assert ds.PhotometricInterpretation == "RGB" and ds.LossyImageCompression == "01"
    assert ds.NumberOfFrames == original.NumberOfFrames == 30
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientName",
                    "PatientID", "AccessionNumber", "StudyDate"):  # fmt: skip
        assert ds[keyword].value != original[keyword].value, keyword
    data = written.read_bytes()
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyDate",
                    "PerformedProcedureStepID", "StationName"):  # fmt: skip
        assert str(original[keyword].value).encode() not in data, keyword
    assert b"SonoSite Private Data" not in data and b"<?xml" not in data  # its private tags
    assert not any(elem.tag.is_private for elem in ds.iterall())
    box = (42, 15, 298, 208)  # the header's 640×480 region, halved (the image is 320×240)
    assert f"blanked outside {','.join(map(str, box))} (dicom region)" in res.stdout
    for a, b in zip(frames_of(written), frames_of(Path(path)), strict=True):
        assert outside(a, box).max() == 0
        assert np.array_equal(
            a[box[1] : box[3], box[0] : box[2]], b[box[1] : box[3], box[0] : box[2]]
        )
    assert (tmp_path / "check" / "sheet.png").is_file()


def _write_mp4(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        container.metadata["title"] = NAME  # a container tag with the patient's name
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("kind", ["video-detected", "still-given"])
def test_videos_and_stills_are_blanked(tmp_path, kind) -> None:
    folder = tmp_path / NAME
    folder.mkdir()
    if kind.startswith("video"):
        src, args, suffix = _write_mp4(folder / f"{NAME}.mp4", screen_frames(24)), [], ".mp4"
    else:
        src, suffix = folder / f"{NAME}.png", ".png"
        Image.fromarray(screen_frames(1)[0]).save(src)
        args = ["--region", ",".join(map(str, REGION))]
    out = tmp_path / "out"
    res = anonymize(src, "--out", out, *args)
    assert res.exit_code == 0, res.output
    (written,) = outputs(out, suffix)
    assert written.name.startswith("video-" if suffix == ".mp4" else "image-")
    assert_nothing_left(res.stdout + res.stderr + (out / "audit.csv").read_text(), "the reports")
    assert_nothing_left(written.read_bytes(), "the output")
    frames = frames_of(written)
    assert len(frames) == (24 if suffix == ".mp4" else 1)
    margin = 8 if suffix == ".mp4" else 0  # the video codec blurs the region's edge
    x0, y0, x1, y1 = REGION
    grown = (x0 - margin, y0 - margin, x1 + margin, y1 + margin)
    for f in frames:
        assert outside(f, grown).max() <= (12 if margin else 0)
        assert f[y0 + margin : y1 - margin, x0 + margin : x1 - margin].mean() > 60


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--region", "10,10,5,40"], "--region"),
        (["--region", "1,2,3"], "--region"),
        (["--blank-top", "-1"], "--blank-top"),
        (["--encoding", "jpeg"], "--encoding"),
        (["--paths", "nope"], "--paths"),
    ],
)
def test_usage_errors_name_the_option(tmp_path, args, option) -> None:
    src = planted_cine(tmp_path / "in.dcm")
    res = anonymize(src, "--out", tmp_path / "out", *args)
    assert res.exit_code == 2 and option in res.stderr
    assert not (tmp_path / "out").exists()


def test_a_short_or_missing_secret_is_refused(tmp_path) -> None:
    src = planted_cine(tmp_path / "in.dcm")
    short = tmp_path / "short.txt"
    short.write_text("abc")
    for secret in (short, tmp_path / "missing.txt"):
        res = anonymize(src, "--out", tmp_path / "out", "--salt-file", secret)
        assert res.exit_code == 2 and "--salt-file" in res.stderr
