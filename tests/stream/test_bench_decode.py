"""``echostream bench decode`` on a tiny simulated cine: the JSON has every number it promises.

Timings here only check the shape of the result; speed claims come from running the bench.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echostream.stream.bench_decode import make_cine, memory_child, parse_cine_spec
from echostream.stream.cli import app
from echostream.stream.sources.dicom import DicomSource


def test_parse_cine_spec() -> None:
    assert parse_cine_spec("100x600x800") == (100, 600, 800)
    with pytest.raises(ValueError):
        parse_cine_spec("600x800")


def test_make_cine_is_a_jpeg_ybr_echo_cine(tmp_path: Path) -> None:
    path = make_cine(tmp_path / "c.dcm", 5, 120, 160)
    src = DicomSource(path, luminance=True, target_size=(15, 20))
    assert src.info.n_frames == 5 and src.info.photometric == "YBR_FULL_422"
    # the scan sector, found inside the header's ultrasound region
    assert src.info.region is not None and src.info.region.origin == "detected"
    assert src.fast_path
    frame = next(iter(src))
    crop = frame.region_pixels()
    assert crop.shape[0] >= 15 and crop.shape[1] >= 20 and frame.scale < 1


def test_memory_child_reads_every_frame(tmp_path: Path) -> None:
    path = make_cine(tmp_path / "m.dcm", 4, 64, 96)
    result = memory_child(path, "source_fast_w2")
    assert result["frames"] == 4 and result["peak_rss_mb"] > 0


def test_bench_decode_cli_json() -> None:
    result = CliRunner().invoke(
        app,
        ["bench", "decode", "--json", "--make-cine", "6x240x320", "--repeats", "1",
         "--memory-frames", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["modes"]) == {
        "pydicom_iter_pixels_rgb", "source_rgb_w1", "source_rgb_w2", "source_fast_w1",
        "source_fast_w2",
    }  # fmt: skip
    assert all(m["frames"] == 6 and m["fps"] > 0 for m in data["modes"].values())
    assert "source_fast_w2_vs_full_rgb" in data["ratios"]
    assert data["fast_path"]["enabled"] and data["fast_path"]["scale"] < 1


@pytest.mark.slow
def test_bench_decode_memory_subprocess(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["bench", "decode", "--json", "--make-cine", "4x96x128", "--repeats", "1",
         "--memory-frames", "20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    memory = json.loads(result.stdout)["memory"]
    assert set(memory["modes"]) == {"pydicom_iter_pixels_rgb", "source_rgb", "source_fast_w2"}
    assert all(m["frames"] == 20 for m in memory["modes"].values())
