"""``echostream classify``: folders, the real pydicom cine, bad files, Doppler, JSON/CSV output,
a missing model."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from echostream.stream import cli_stream, defaults
from echostream.stream.defaults import DEFAULT_MODEL_FILE

from .conftest import synthetic_frames

pytestmark = pytest.mark.timeout(180)


def make_app() -> typer.Typer:
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_stream.register(app, bench)
    return app


def run(*args: str | Path):
    return CliRunner().invoke(make_app(), ["classify", *(str(a) for a in args)])


@pytest.fixture(scope="module")
def study(tmp_path_factory, small_cine, ybr_color_path) -> Path:
    """A folder tree: two good cines, a corrupt one, a Doppler strip, a note and a sidecar."""
    from echostream.stream.dicom_writer import UltrasoundRegion, write_cine

    root = tmp_path_factory.mktemp("study")
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy(small_cine, root / "a" / "small.dcm")
    shutil.copy(ybr_color_path, root / "a" / "b" / "IM0001")  # no suffix: found by preamble
    data = small_cine.read_bytes()
    (root / "broken.dcm").write_bytes(data[: len(data) // 2])  # truncated pixel data
    write_cine(
        root / "doppler.dcm",
        synthetic_frames(3),
        fps=25,
        regions=[UltrasoundRegion(0, 0, 160, 120, data_type="pw", spatial_format=3)],
    )
    (root / "notes.txt").write_text("not a cine")
    (root / "a" / "small.labels.json").write_text("{}")
    return root


def test_classify_folder_json(study, stream_model) -> None:
    res = run(study, "--model", stream_model, "--json", "--workers", "2")
    assert res.exit_code == 1, res.output  # one file failed
    data = json.loads(res.stdout)
    by_name = {Path(c["path"]).name: c for c in data["cines"]}
    assert set(by_name) == {"small.dcm", "IM0001", "broken.dcm", "doppler.dcm"}
    small = by_name["small.dcm"]
    assert small["status"] == "ok" and small["frames"] == 24 and small["fps"] == 25
    assert small["view"] in data["model"].get("labels", small["view"]) or small["view"]
    assert 0 < small["confidence"] <= 1 and 0 < small["vote_share"] <= 1
    assert len(small["top2"]) == 2 and small["frames_per_s"] > 0 and small["time_s"] > 0
    real = by_name["IM0001"]
    assert real["status"] == "ok" and real["frames"] == 30
    assert by_name["doppler.dcm"]["status"] == "not_classified"
    assert by_name["doppler.dcm"]["acquisition"] == "doppler"
    broken = by_name["broken.dcm"]
    assert broken["status"] == "error" and broken["error"].startswith(str(study / "broken.dcm"))
    assert "\n" not in broken["error"]
    assert data["failed"] == [{"path": broken["path"], "error": broken["error"]}]
    assert data["summary"] == {"files": 4, "classified": 2, "not_classified": 1, "failed": 1}
    m = data["model"]
    assert m["file"] == str(stream_model) and m["model"] == "baseline" and m["version"]
    assert m["simulated_data"] is True and m["data"] == "untrained test fixture"
    assert "simulated" in data["note"]
    assert "failed" in res.stderr and broken["error"] in res.stderr


def test_classify_real_cine_per_frame_csv(ybr_color_path, stream_model) -> None:
    res = run(ybr_color_path, "--model", stream_model, "--csv", "--per-frame")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 30 and rows[0]["index"] == "0"
    assert {"raw", "label", "confidence", "uncertain"} <= set(rows[0])
    res = run(ybr_color_path, "--model", stream_model, "--csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["frames"] == "30"


def test_classify_table_output(ybr_color_path, stream_model) -> None:
    res = run(ybr_color_path, "--model", stream_model)
    assert res.exit_code == 0, res.output
    assert "baseline" in res.stdout and "simulated" in res.stdout


def test_missing_model_says_which_file(tmp_path, small_cine, monkeypatch) -> None:
    res = run(small_cine, "--model", tmp_path / "nope.onnx")
    assert res.exit_code == 2 and "nope.onnx" in res.stderr
    # the shipped default, as a checkout where it was never built would have it
    monkeypatch.setattr(defaults, "default_model_path", lambda: tmp_path / DEFAULT_MODEL_FILE)
    res = run(small_cine)
    assert res.exit_code == 2, res.output
    assert DEFAULT_MODEL_FILE in res.stderr and "--model" in res.stderr
    assert "make_default_model.sh" in res.stderr


def test_the_shipped_default_model_is_there_and_used(small_cine) -> None:
    res = run(small_cine, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"]["file"].endswith(DEFAULT_MODEL_FILE)


def test_nothing_to_classify(tmp_path, stream_model) -> None:
    (tmp_path / "x.txt").write_text("x")
    res = run(tmp_path, "--model", stream_model)
    assert res.exit_code == 1 and "no DICOM" in res.stderr
