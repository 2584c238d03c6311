"""``echostream probe``: facts and speeds as JSON, a batch that survives bad sources, no PHI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from echostream.stream.cli import app
from echostream.stream.dicom_writer import Identity, UltrasoundRegion, write_cine

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_probe_ybr_color_json(ybr_color_path: Path) -> None:
    code, out, _ = _run("probe", str(ybr_color_path), "--json", "--speed-frames", "3")
    assert code == 0
    (result,) = json.loads(out)
    assert result["ok"] and result["n_frames"] == 30
    assert abs(result["fps"] - 30) < 0.01 and result["fps_origin"] == "FrameTime"
    region = result["region"]
    assert 0 <= region["x0"] < region["x1"] <= 320 and 0 <= region["y0"] < region["y1"] <= 240
    assert result["transfer_syntax"] == "JPEG Baseline (Process 1)"
    assert result["vendor"] == "SonoSite, Inc. Turbo" and result["acquisition"] == "bmode"
    assert result["decode"]["full"]["fps"] > 0 and result["decode"]["fast"]["fps"] > 0
    assert result["decode"]["fast"]["shape"][0] < 240  # reduced scale


def test_probe_color3d_reports_120_frames(color3d_path: Path) -> None:
    code, out, _ = _run("probe", str(color3d_path), "--json", "--speed-frames", "0")
    assert code == 0 and json.loads(out)[0]["n_frames"] == 120


def test_probe_batch_keeps_going_and_fails(tmp_path: Path) -> None:
    frames = [np.full((32, 48, 3), 60 * i, np.uint8) for i in range(3)]
    identity = Identity(patient_name="DOE^JOHN", patient_id="PID12345", birth_date="19450317")
    regions = [UltrasoundRegion(2, 2, 46, 30)]
    good = write_cine(tmp_path / "good.dcm", frames, fps=20, identity=identity, regions=regions)
    mono = write_cine(tmp_path / "mono.dcm", frames, fps=20, encoding="mono", identity=identity)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom at all" * 10)
    code, out, err = _run("probe", str(good), str(bad), str(mono))
    assert code == 1
    assert f"{bad}: not a DICOM file" in err
    assert str(good) in out and str(mono) in out and "20.000 (from FrameTime)" in out
    code, out, err = _run("probe", str(good), str(bad), str(mono), "--json")
    assert code == 1
    results = json.loads(out)
    assert [r["ok"] for r in results] == [True, False, True]
    assert "not a DICOM file" in results[1]["error"]
    for text in (out, err):
        assert "DOE" not in text and "PID12345" not in text and "19450317" not in text
