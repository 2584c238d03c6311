"""``echostream archive --ray ADDRESS`` on a real Ray cluster started on 127.0.0.1 (head and
worker node, tests/ray_cluster.py): simulated cines classified as Ray Data tasks and actors give
the rows of a one-process run, a bad file gives its error row while the rest go on, a resumed
run classifies only what is new, and no file path or patient name reaches the worker logs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from echostream.stream import cli_archive
from echostream.stream.archive_output import read_output
from echostream.stream.defaults import default_model_path

from .serve_cines import PATIENT_NAME, write_cines

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not default_model_path().is_file(), reason="the shipped model is missing"),
]
#: Columns compared between the two runs (the rest are timings).
SAME = ("status", "view", "confidence", "vote_share", "by_mean", "second", "frames", "fps",
        "acquisition", "vendor", "transfer_syntax", "error", "sha256")  # fmt: skip


def run(*args: str | Path):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_archive.register(app, bench)
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 simulated cines (3 patients × 8 views, 4 frames, quarter size) and a truncated one,
    in a folder named after a patient."""
    from echostream.train.simulator.dataset import DatasetConfig, write_dataset

    root = tmp_path_factory.mktemp("ray-archive") / "DOE_JANE"
    write_dataset(DatasetConfig(out=root, patients=3, seed=3, n_frames=4, scale=0.25, workers=1))
    data = next(root.rglob("*.dcm")).read_bytes()
    (root / "broken.dcm").write_bytes(data[: len(data) // 2])
    return root


def _by_path(path: Path) -> dict[str, dict]:
    return {r["path"]: r for r in read_output(path)}


def test_ray_cluster_archive_matches_one_process_and_resumes(archive, ray_cluster, tmp_path):
    local_out, ray_out = tmp_path / "local.csv", tmp_path / "ray.csv"
    res = run("archive", archive, "--out", local_out)
    assert res.exit_code == 1, res.output  # broken.dcm
    res = run("archive", archive, "--out", ray_out, "--ray", ray_cluster.address)
    assert res.exit_code == 1, res.output
    assert "25 listed, 0 already in ray.csv, 24 classified, 0 not classified, 1 failed" in (
        res.stderr
    )
    assert "DOE_JANE/broken.dcm: file is truncated" in res.stderr
    local, on_ray = _by_path(local_out), _by_path(ray_out)
    assert set(on_ray) == set(local) and len(on_ray) == 25
    for path, row in on_ray.items():
        assert {k: row[k] for k in SAME} == {k: local[path][k] for k in SAME}, path
    truth = {r["path"]: r["view"] for r in csv.DictReader((archive / "manifest.csv").open())}
    right = sum(row["view"] == truth[Path(p).relative_to(archive).as_posix()]
                for p, row in on_ray.items() if row["status"] == "ok")  # fmt: skip
    assert right >= 16, f"{right}/24 simulated cines labelled as simulated"  # the model works
    bad = on_ray[str(archive / "broken.dcm")]
    assert bad["status"] == "error" and bad["error"].count("\n") == 0

    new = write_cines(tmp_path / "new", 3)  # arrives later: only these are classified
    res = run("archive", archive, new[0].parent, "--out", ray_out, "--ray", ray_cluster.address,
              "--resume", "--paths", "basename")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "28 listed, 25 already in ray.csv, 3 classified, 0 not classified, 0 failed" in (
        res.stderr
    )
    rows = read_output(ray_out)
    assert len(rows) == 28 and len({r["sha256"] for r in rows}) == 28
    assert {r["path"] for r in rows[-3:]} == {"c0000.dcm", "c0001.dcm", "c0002.dcm"}
    assert PATIENT_NAME not in ray_out.read_text()


def test_worker_logs_name_no_file(archive, ray_cluster) -> None:
    """pydicom warns with the file's path; the reading tasks keep it out of the workers'
    stderr, which Ray writes to the cluster's log files (the run above read broken.dcm)."""
    logs = [
        p
        for p in ray_cluster.temp.rglob("*")
        if p.is_file() and p.suffix in (".err", ".out", ".log")
    ]
    assert logs
    leaks = [p.name for p in logs if "DOE_JANE" in p.read_text(errors="replace")]
    assert not leaks


def test_bench_archive_on_the_cluster(archive, ray_cluster) -> None:
    import json

    res = run("bench", "archive", archive, "--json", "--ray", ray_cluster.address, "--limit", "6")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["cines"] == 6 and data["views_agree"] == "6/6"
    assert data["one_process"]["classified"] + data["one_process"]["failed"] == 6
    assert data["ray"]["cluster_cpus"] == 2 and data["ray"]["actors"] == 1
    assert data["ray"]["files_per_s"] > 0 and data["ray_over_one_process"] > 0
    assert set(data["ray"]["stage_seconds"]) == {"decode", "inference"}
