"""Bring your own data, end to end: a folder laid out as a user would → ``echostream import``
→ ``echostream train configs/finetune.yaml --init default`` (issue 16).

What this is, honestly: the "site's" cines are SIMULATED (``echostream simulate``), in a setting
the shipped model's recipe (realecho_v4: JPEG colour DICOM screens at half each vendor's size,
96 patients of all three simulated vendors, seed 201) never trained on: one vendor (sc2000) at a
320×240 screen, stored as uncompressed grey (MONOCHROME2) DICOM, seed 7. Two tiny epochs on 64
frames prove the plumbing (import, hashed patients, patient-level splits, skipped Doppler/M-mode,
the run folder, the starting weights), not that fine-tuning helps: no accuracy is asserted.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import typer
import yaml
from typer.testing import CliRunner

from echostream.train import cli as cli_simulate
from echostream.train import cli_import, cli_train
from echostream.train.import_identity import hash_patient, patient_key

ROOT = Path(__file__).resolve().parents[2]
FINETUNE = ROOT / "configs" / "finetune.yaml"
SHIPPED = ROOT / "models" / "zoo" / "realecho_v4.pt"  # --init default: its checkpoint
HASHED = re.compile(r"p[0-9a-f]{16}")


def run_cli(*args: object):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    for module in (cli_simulate, cli_import, cli_train):
        module.register(app, bench)
    return CliRunner().invoke(app, [str(a) for a in args])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def lay_out_as_a_user(sim: Path, user: Path) -> dict[str, str]:
    """``user/<VIEW>/cine_NNN.dcm`` from the simulated set (file names carry no identity),
    plus a Doppler and an M-mode acquisition in A4C/, an OTHER/ folder and a stray note.
    Returns the raw PatientID of every laid-out file (key → PatientID)."""
    from pydicom import dcmread

    from echostream.stream.dicom_writer import Device, Identity, UltrasoundRegion, write_cine

    raw: dict[str, str] = {}
    for i, row in enumerate(read_csv(sim / "manifest.csv")):
        key = f"{row['view']}/cine_{i:03d}.dcm"
        (user / row["view"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(sim / row["path"], user / key)
        raw[key] = str(dcmread(user / key, stop_before_pixels=True).PatientID)
    first = next(iter(raw))
    frames = list(dcmread(user / first).pixel_array)  # (3, 240, 320) grey
    device = Device("SIEMENS", "ACUSON SC2000")
    top = UltrasoundRegion(0, 0, 320, 120)
    for name, strip in (
        ("doppler.dcm", UltrasoundRegion(0, 120, 320, 240, data_type="pw", spatial_format=3)),
        ("mmode.dcm", UltrasoundRegion(0, 120, 320, 240, data_type="mmode")),
    ):
        write_cine(
            user / "A4C" / name,
            frames,
            fps=30.0,
            encoding="mono",
            device=device,
            regions=[top, strip],
            identity=Identity(patient_id="DOPPLER-PATIENT-77"),
        )
    (user / "OTHER").mkdir()
    shutil.copy(user / first, user / "OTHER" / "cine_x.dcm")
    (user / "A4C" / "notes.txt").write_text("exported 2026-11-30\n")
    return raw


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("site")
    sim, user = base / "sim", base / "user"
    result = run_cli(
        "simulate", "--out", sim, "--patients", 6, "--vendors", "sc2000", "--seed", 7,
        "--frames-per-cine", 3, "--size", "320x240", "--encoding", "mono", "--workers", 1,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    raw = lay_out_as_a_user(sim, user)
    key_file = base / "secret" / "patient.key"
    imported = run_cli("import", user, "--key-file", key_file, "--no-progress")
    run_dir = base / "run"
    trained = run_cli(
        "train", FINETUNE, "--data", user, "--scale", "tiny", "--init", "default",
        "--out", run_dir, "--no-progress",
    )  # fmt: skip
    return {
        "user": user,
        "raw": raw,
        "key_file": key_file,
        "run": run_dir,
        "import_output": imported.output,
        "train_output": trained.output,
        "import_code": imported.exit_code,
        "train_code": trained.exit_code,
    }


def test_import_writes_a_manifest_with_hashed_patients_and_vendors(site) -> None:
    assert site["import_code"] == 0, site["import_output"]
    assert "imported 48 cines of 6 patients (folder per view)" in site["import_output"]
    rows = read_csv(site["user"] / "manifest.csv")
    assert len(rows) == 48
    assert {r["vendor"] for r in rows} == {"sc2000"}
    assert {r["model"] for r in rows} == {"ACUSON SC2000"}
    assert {r["patient_source"] for r in rows} == {"dicom"}
    assert all(HASHED.fullmatch(r["patient_id"]) for r in rows)
    assert len({r["patient_id"] for r in rows}) == 6
    key = patient_key(site["key_file"], environ={})
    for r in rows:  # the header's PatientID, keyed by the site secret: nothing else
        assert r["patient_id"] == hash_patient(key, "dicom", site["raw"][r["path"]])
    assert oct(site["key_file"].stat().st_mode & 0o777) == "0o600"


def test_doppler_mmode_other_and_unreadable_files_are_skipped_with_reasons(site) -> None:
    reasons = {p["key"]: p["reason"] for p in read_csv(site["user"] / "import_problems.csv")}
    assert reasons["A4C/doppler.dcm"].startswith("spectral Doppler acquisition")
    assert reasons["A4C/mmode.dcm"].startswith("M-mode acquisition")
    assert reasons["OTHER/"].startswith("labelled OTHER")
    assert "A4C/notes.txt" in reasons
    assert len(reasons) == 4
    assert "skipped 4" in site["import_output"]


def test_finetune_run_folder_splits_and_starting_weights(site) -> None:
    assert site["train_code"] == 0, site["train_output"]
    init = "init: fine-tuned from realecho_v4.pt (trained on simulated data)"
    assert init in site["train_output"]
    run: Path = site["run"]
    for name in ("config.yaml", "splits.csv", "history.csv", "best.pt", "final.pt"):
        assert (run / name).is_file(), name
    assert (run / "eval_test" / "metrics.json").is_file()
    history = read_csv(run / "history.csv")
    assert [h["stage"] for h in history] == ["head", "all"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["name"] == "mobilenet_v1_050"
    assert Path(config["model"]["pretrained"]) == SHIPPED.resolve()
    final = torch.load(run / "final.pt", map_location="cpu", weights_only=True)
    assert final["provenance"]["init"] == "weights of realecho_v4.pt"
    shipped = torch.load(SHIPPED, map_location="cpu", weights_only=True)["model"]
    stem = "conv1.0.weight"  # frozen for the head epoch, one epoch at 1e-4 after it
    moved = (final["model"][stem] - shipped[stem]).abs().max().item()
    assert moved < 0.05 * shipped[stem].abs().max().item()
    assert not torch.equal(final["model"]["classifier.weight"], shipped["classifier.weight"])


def test_no_patient_in_two_splits_and_no_skipped_file_trained(site) -> None:
    patient = {r["path"]: r["patient_id"] for r in read_csv(site["user"] / "manifest.csv")}
    splits = read_csv(site["run"] / "splits.csv")
    assert {s["key"] for s in splits} == set(patient)  # no Doppler, M-mode, OTHER, note
    split_of: dict[str, set[str]] = {}
    for s in splits:
        split_of.setdefault(patient[s["key"]], set()).add(s["split"])
    assert all(len(names) == 1 for names in split_of.values())
    assert sorted(n for names in split_of.values() for n in names).count("train") >= 3
    assert {n for names in split_of.values() for n in names} == {"train", "val", "test"}
    assert {s["vendor"] for s in splits} == {"sc2000"}


def test_raw_patient_ids_are_stored_nowhere(site) -> None:
    raw = set(site["raw"].values()) | {"DOPPLER-PATIENT-77"}
    texts = [site["user"] / n for n in ("manifest.csv", "import.json", "import_problems.csv")]
    texts += list((site["user"] / ".frame_store").rglob("*.csv"))
    texts += [p for p in site["run"].rglob("*") if p.suffix in (".csv", ".yaml", ".json", ".md")]
    assert len(texts) > 8
    for path in texts:
        text = path.read_text()
        assert not [r for r in raw if r in text], path
    cines = next((site["user"] / ".frame_store").rglob("cines.csv"))
    stored = {r["patient_id"] for r in read_csv(cines)}
    assert len(stored) == 6 and all(HASHED.fullmatch(p) for p in stored)
