"""``echostream archive`` in one process: classify --csv's rows in one CSV or Parquet file, a bad
file as its error row, resume by content hash (also after a killed run), paths shown as
``--paths`` says, and Ray missing as one line. The Ray cluster run: test_archive_ray.py."""

from __future__ import annotations

import csv
import io
import shutil
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from echostream.stream import cli_archive, cli_stream
from echostream.stream.archive import list_archive
from echostream.stream.archive_output import (
    ARCHIVE_FIELDS,
    open_output,
    parts_folder,
    read_output,
)
from echostream.stream.classify import CSV_FIELDS
from echostream.stream.defaults import default_model_path

from .serve_cines import PATIENT_NAME, write_cines

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not default_model_path().is_file(), reason="the shipped model is missing"),
]
#: Columns that are timings (they differ from run to run).
TIMINGS = {"frames_per_s", "time_s"}


def run(*args: str | Path):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_stream.register(app, bench)
    cli_archive.register(app, bench)
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 cines of a fake patient in a folder named after her, and a truncated one."""
    root = tmp_path_factory.mktemp("archive") / "DOE_JANE"
    root.mkdir()
    cines = write_cines(root, 6)
    data = cines[0].read_bytes()
    (root / "broken.dcm").write_bytes(data[: len(data) // 2])
    return root


def test_rows_are_classify_csv_rows_plus_content_hash(study, tmp_path) -> None:
    res = run("classify", study, "--csv", "--paths", "basename")
    assert res.exit_code == 1, res.output  # the broken file
    expected = {r["path"]: r for r in csv.DictReader(io.StringIO(res.stdout))}
    out = tmp_path / "views.csv"
    res = run("archive", study, "--out", out, "--paths", "basename")
    assert res.exit_code == 1, res.output
    assert (
        "7 listed, 0 already in views.csv, 6 classified, 0 not classified, 1 failed" in res.stderr
    )
    assert "broken.dcm: file is truncated" in res.stderr
    with out.open() as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == [*CSV_FIELDS, "sha256"]
        rows = {r["path"]: r for r in reader}
    assert set(rows) == set(expected) and len(rows) == 7
    for name, row in rows.items():
        assert {k: v for k, v in row.items() if k not in TIMINGS | {"sha256"}} == {
            k: v for k, v in expected[name].items() if k not in TIMINGS
        }, name
        assert len(row["sha256"]) == 64
    bad = rows["broken.dcm"]
    assert bad["status"] == "error" and bad["error"].startswith("broken.dcm: ")
    assert "\n" not in bad["error"]
    text = out.read_text() + res.output
    assert "DOE_JANE" not in text and PATIENT_NAME not in text  # no folder, no patient name


def test_resume_skips_content_already_in_the_output(study, tmp_path) -> None:
    folder = tmp_path / "study"
    shutil.copytree(study, folder)
    out = tmp_path / "views.parquet"
    assert run("archive", folder, "--out", out).exit_code == 1
    first = read_output(out)
    assert len(first) == 7 and not parts_folder(out).exists()
    res = run("archive", folder, "--out", out)
    assert res.exit_code == 2 and "exists: add --resume" in res.stderr
    write_cines(folder / "new", 2)  # new content
    shutil.copytree(study, folder / "copies")  # the same content at other paths: done
    (folder / "c0001.dcm").rename(folder / "renamed.dcm")
    res = run("archive", folder, "--out", out, "--resume")
    assert res.exit_code == 0, res.output
    assert "16 listed, 14 already in views.parquet, 2 classified" in res.stderr
    rows = read_output(out)
    assert len(rows) == 9 and len({r["sha256"] for r in rows}) == 9  # 6 + broken + 2 new
    assert isinstance(rows[0]["confidence"], float | None)


def test_a_killed_run_resumes_from_what_it_wrote(study, tmp_path) -> None:
    # CSV: the run died inside a row
    out = tmp_path / "views.csv"
    assert run("archive", study, "--out", out).exit_code == 1
    text = out.read_text()
    out.write_text(text[: text.rstrip("\n").rfind("\n") + 25])  # the last row cut mid-way
    res = run("archive", study, "--out", out, "--resume")
    assert "6 already in views.csv, 1 classified" in res.stderr, res.output
    rows = read_output(out)
    assert len(rows) == 7 and len({r["sha256"] for r in rows}) == 7
    # Parquet: the run died after writing part files, before merging them
    pq_out = tmp_path / "views.parquet"
    assert run("archive", study, "--out", pq_out).exit_code == 1
    rows = read_output(pq_out)
    pq_out.unlink()
    crashed = open_output(pq_out, resume=False)
    for row in rows[:3]:  # broken.dcm (sorted first) and two cines
        crashed.write(row)
    crashed.flush()  # type: ignore[attr-defined]
    assert len(list(parts_folder(pq_out).iterdir())) == 1 and not pq_out.exists()
    res = run("archive", study, "--out", pq_out)
    assert res.exit_code == 2 and "--resume" in res.stderr  # unfinished parts are not overwritten
    res = run("archive", study, "--out", pq_out, "--resume")
    assert "3 already in views.parquet, 4 classified, 0 not classified, 0 failed" in res.stderr
    assert len(read_output(pq_out)) == 7 and not parts_folder(pq_out).exists()


def test_list_files_and_hashed_paths(study, tmp_path) -> None:
    listing = tmp_path / "todo.txt"
    listing.write_text(f"# two cines and a folder\n{study / 'c0000.dcm'}\n\nrel/\n{study}\n")
    (tmp_path / "rel").mkdir()
    shutil.copy(study / "c0002.dcm", tmp_path / "rel" / "x.dcm")
    files = list_archive([listing])
    assert len(files) == 8 and files[0].endswith("c0000.dcm")  # c0000 listed once
    out = tmp_path / "hashed.csv"
    res = run("archive", listing, "--out", out, "--paths", "hash")
    assert res.exit_code == 1
    rows = read_output(out)
    assert all(r["path"].startswith("hmac-") and r["path"].endswith(".dcm") for r in rows)
    assert "DOE_JANE" not in out.read_text() + res.output


def test_without_ray_one_line_and_nothing_written(study, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    out = tmp_path / "views.csv"
    res = run("archive", study, "--out", out, "--ray", "auto")
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: --ray needs Ray Data, which is not installed: pip install 'echostream[ray]'"
    )
    assert not out.exists()
    res = run("archive", study, "--out", tmp_path / "views.json")
    assert res.exit_code == 2 and "--out must end in .csv or .parquet" in res.stderr


def test_foreign_output_is_refused(study, tmp_path) -> None:
    out = tmp_path / "other.csv"
    out.write_text("a,b\n1,2\n")
    res = run("archive", study, "--out", out, "--resume")
    assert res.exit_code == 2 and "not an echostream archive's" in res.stderr
    assert out.read_text() == "a,b\n1,2\n" and ARCHIVE_FIELDS[-1] == "sha256"


def test_parquet_without_pyarrow_is_one_line(study, tmp_path, monkeypatch) -> None:
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # a runtime-only install has no pyarrow
    res = run("archive", study, "--out", tmp_path / "views.parquet")
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: writing Parquet needs pyarrow, which is not installed: "
        "pip install 'echostream[ray]' (or write --out FILE.csv)"
    )
    assert run("archive", study, "--out", tmp_path / "views.csv").exit_code == 1  # CSV: fine
