"""``echostream import`` piece by piece: folder names, vendors, the patient key and hash, the
labels-CSV layout and its patient fallbacks, refusals, and what ``--init`` resolves to."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from echostream.train import cli_import
from echostream.train.config import load_config
from echostream.train.import_data import import_folder, view_of_folder
from echostream.train.import_identity import hash_patient, key_id, patient_key, vendor_name
from echostream.train.init_weights import apply_init, resolve_init
from echostream.train.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "models" / "zoo"


def invoke(*args: str | Path):
    app, bench = typer.Typer(), typer.Typer()
    cli_import.register(app, bench)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps "import" a subcommand
        pass

    return CliRunner().invoke(app, ["import", *(str(a) for a in args)])


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def key(monkeypatch) -> bytes:
    monkeypatch.setenv("ECHOSTREAM_PATIENT_KEY", "a site secret of some length")
    return b"a site secret of some length"


@pytest.mark.parametrize(
    ("name", "view"),
    [
        ("A4C", "A4C"),
        ("a4c", "A4C"),
        ("sax-mid", "SAXMID"),
        ("Sub_4C", "SUB4C"),
        ("other", "OTHER"),
    ],
)
def test_view_of_folder(name: str, view: str) -> None:
    assert view_of_folder(name) == view


def test_view_of_folder_refuses_other_names() -> None:
    assert view_of_folder("A6C") is None and view_of_folder("runs") is None


def test_vendor_names_match_the_simulator_else_the_model_lower_cased() -> None:
    assert vendor_name("Philips Healthcare", "EPIQ 7G") == "epiq7g"
    assert vendor_name("SIEMENS", "ACUSON SC2000 PRIME") == "sc2000"
    assert vendor_name("GE Vingmed Ultrasound", "Vivid  E95") == "vivid e95"
    assert vendor_name("Esaote", "") == "esaote"
    assert vendor_name("", "") == "unknown"


def test_patient_hash_is_keyed_and_namespaced() -> None:
    a, b = b"k" * 32, b"j" * 32
    assert hash_patient(a, "dicom", "123") == hash_patient(a, "csv", "123")
    assert hash_patient(a, "dicom", "123") != hash_patient(b, "dicom", "123")
    assert hash_patient(a, "file", "123") != hash_patient(a, "dicom", "123")
    assert "123" not in hash_patient(a, "dicom", "123")
    assert key_id(a) != key_id(b) and len(key_id(a)) == 8


def test_patient_key_file_is_made_once_private_and_wins_over_the_env(tmp_path) -> None:
    path = tmp_path / "cfg" / "patient.key"
    first = patient_key(path, environ={})
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert patient_key(path, environ={}) == first and len(first) == 64
    given = {"ECHOSTREAM_PATIENT_KEY": "given"}
    assert patient_key(None, environ=given) == b"given"
    assert patient_key(path, environ=given) == first  # an explicit file wins
    default = patient_key(None, environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert (tmp_path / "xdg" / "echostream" / "patient.key").read_bytes() == default


def test_read_manifest_takes_any_labels_csv_with_a_patient_column(tmp_path) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "my.csv").write_text("file,view,patient\na.png,a4c,P1\n")
    m = read_manifest(tmp_path / "my.csv")
    assert not m.per_item
    assert [(e.key, e.view, e.patient_id) for e in m.entries] == [("a.png", "A4C", "P1")]


def _labelled_copy(toy: Path, dest: Path) -> list[str]:
    """Six toy DICOMs (patients toy000/toy001) in one flat folder; returns their names."""
    dest.mkdir()
    names = []
    for patient in ("toy000", "toy001"):
        for view in ("a4c", "plax", "a2c"):
            name = f"{patient}_{view}.dcm"
            shutil.copy(toy / patient / "study1" / f"{view}.dcm", dest / name)
            names.append(name)
    return names


def test_labels_csv_patients_from_the_column_else_the_header(toy_data, tmp_path, key) -> None:
    src = tmp_path / "export"
    names = _labelled_copy(toy_data, src)
    lines = ["file,view,patient"] + [
        f"{n},{n.split('_')[1][:-4]},{'same-person' if n.startswith('toy000') else ''}"
        for n in names
    ]
    (src / "labels.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "dataset"
    result = import_folder(src, out)
    rows = read_rows(out / "manifest.csv")
    assert result.layout == "labels file (labels.csv)"
    assert [r["patient_source"] for r in rows] == ["csv"] * 3 + ["dicom"] * 3
    assert {r["patient_id"] for r in rows[:3]} == {hash_patient(key, "csv", "same-person")}
    assert {r["patient_id"] for r in rows[3:]} == {hash_patient(key, "dicom", "toy001")}
    assert {r["vendor"] for r in rows} == {"a1", "b1"}  # the toy devices' model names
    m = read_manifest(out)  # paths relative to the dataset folder, readable from there
    assert len(m.entries) == 6 and not m.problems and m.entries[0].path.is_file()
    assert m.entries[0].key == "../export/toy000_a4c.dcm"


def test_files_without_patient_fall_back_to_study_then_file(tmp_path, key) -> None:
    from echostream.stream.dicom_writer import Identity, write_cine

    src = tmp_path / "export"
    (src / "PLAX").mkdir(parents=True)
    frames = [np.full((48, 64), 90, np.uint8)] * 2
    write_cine(
        src / "PLAX" / "a.dcm", frames, fps=25, encoding="mono", identity=Identity(patient_id="")
    )
    Image.fromarray(np.full((48, 64), 90, np.uint8)).save(src / "PLAX" / "b.png")
    result = import_folder(src)
    sources = {r["path"]: r["patient_source"] for r in result.rows}
    assert sources == {"PLAX/a.dcm": "study", "PLAX/b.png": "file"}
    assert {r["vendor"] for r in result.rows} == {"simulator", "unknown"}
    assert "1 cine(s) had no patient ID (their study stands" in result.notes[0]


def test_a_changed_key_is_noted(tmp_path, monkeypatch) -> None:
    src = tmp_path / "export"
    (src / "A4C").mkdir(parents=True)
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(src / "A4C" / "a.png")
    monkeypatch.setenv("ECHOSTREAM_PATIENT_KEY", "first secret, long enough")
    assert not any("key differs" in n for n in import_folder(src).notes)
    monkeypatch.setenv("ECHOSTREAM_PATIENT_KEY", "second secret, long enough")
    assert any("key differs" in n for n in import_folder(src).notes)


def test_refuses_to_overwrite_a_manifest_it_did_not_write(toy_data, key) -> None:
    result = invoke(toy_data, "--labels", toy_data / "manifest.csv")
    assert result.exit_code == 2
    assert "a manifest not written by `echostream import` is there" in result.output


def test_an_empty_folder_is_an_error(tmp_path, key) -> None:
    result = invoke(tmp_path)
    assert result.exit_code == 2 and "no labelled files" in result.output


def test_init_default_and_onnx_resolve_to_the_shipped_checkpoint() -> None:
    for init in ("default", str(ZOO / "realecho_v4.onnx"), str(ZOO / "realecho_v4.pt")):
        choice = resolve_init(init)
        assert choice.pretrained == str((ZOO / "realecho_v4.pt").resolve())
        assert choice.name == "mobilenet_v1_050"
        assert choice.kwargs == {"in_chans": 1, "input_hw": [160, 200]}
    # realecho_v3 (GPU-trained) names no checkpoint: as --init it is refused by name
    with pytest.raises(ValueError, match="realecho_v3.onnx: its metadata names no checkpoint"):
        resolve_init(str(ZOO / "realecho_v3.onnx"))
    for name, net in (("realecho_v3_cpu", "mobilenet_v1_050"), ("realecho_v2", "mobilenet_v1_025")):
        old = resolve_init(str(ZOO / f"{name}.onnx"))  # earlier defaults stay usable starts
        assert old.pretrained == str((ZOO / f"{name}.pt").resolve())
        assert old.name == net


def test_init_words_keep_the_configs_model() -> None:
    cfg = load_config(ROOT / "configs" / "finetune.yaml")
    for init, pretrained in (("imagenet", "imagenet"), ("random", None)):
        new, _ = apply_init(cfg, init)
        assert (new.model.name, new.model.pretrained) == ("mobilenet_v1_050", pretrained)
        assert new.model.kwargs == cfg.model.kwargs and new.train == cfg.train


def test_init_refuses_a_changed_checkpoint_and_a_missing_file(tmp_path) -> None:
    shutil.copy(ZOO / "realecho_v2.onnx", tmp_path / "realecho_v2.onnx")
    (tmp_path / "realecho_v2.pt").write_bytes(b"not the exported checkpoint")
    with pytest.raises(ValueError, match="changed since realecho_v2.onnx was exported"):
        resolve_init(str(tmp_path / "realecho_v2.onnx"))
    with pytest.raises(FileNotFoundError, match="no such model file"):
        resolve_init(str(tmp_path / "nothing.pt"))
