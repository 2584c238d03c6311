"""The annotate labels file: every action saved atomically, resumed after a restart, undo, split
parts with frame ranges, and the agreement of two annotators (Cohen's kappa)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echostream.demo.annotate_agreement import compare
from echostream.demo.annotate_store import LabelRow, LabelStore, Split, read_labels


def _rows(path: Path) -> list[tuple[str, str, int, int]]:
    with path.open(newline="") as fh:
        return [(r["file"], r["view"], int(r["start"]), int(r["end"])) for r in csv.DictReader(fh)]


def test_every_action_is_saved_and_a_restart_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "labels.alice.csv"
    store = LabelStore.open(path, "alice")
    store.label("a.dcm", 30, "A4C", cine="c1", suggested="A2C", confidence=0.4)
    assert _rows(path) == [("a.dcm", "A4C", 0, 30)]  # on disk after the first key
    store.split("sweep.dcm", 50, 20)
    store.label("sweep.dcm", 50, "PLAX")
    assert _rows(path)[-1] == ("sweep.dcm", "PLAX", 0, 20)
    again = LabelStore.open(path, "alice")  # the app restarted
    assert again.is_done("a.dcm", 30) and not again.is_done("sweep.dcm", 50)
    assert again.current("sweep.dcm", 50) == (20, 50)  # the part after the split is next
    row = read_labels(path)[0]
    assert (row.annotator, row.suggested, row.confidence, row.cine) == ("alice", "A2C", 0.4, "c1")
    again.label("sweep.dcm", 50, "a4c")
    assert again.is_done("sweep.dcm", 50)
    assert _rows(path)[-1] == ("sweep.dcm", "A4C", 20, 50)


def test_undo_takes_back_labels_then_the_split(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.csv")
    store.split("s.dcm", 50, 20)
    store.label("s.dcm", 50, "PLAX")
    store.split("s.dcm", 50, 35)  # the second part holds two views too
    store.label("s.dcm", 50, "A4C")
    store.label("s.dcm", 50, "A2C")
    assert store.segments("s.dcm", 50) == [(0, 20), (20, 35), (35, 50)]
    assert isinstance(store.undo(), LabelRow) and store.current("s.dcm", 50) == (35, 50)
    store.undo()
    assert store.current("s.dcm", 50) == (20, 35)
    assert store.undo() == Split("s.dcm", 35)
    assert store.current("s.dcm", 50) == (20, 50)
    store.undo()
    store.undo()
    assert store.segments("s.dcm", 50) == [(0, 50)] and store.undo() is None
    assert _rows(store.path) == []


def test_after_a_restart_undo_takes_back_saved_parts_newest_first(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.csv")
    store.split("s.dcm", 50, 20)
    store.label("s.dcm", 50, "PLAX")
    store.label("s.dcm", 50, "A4C")
    again = LabelStore.open(store.path)
    again.undo()
    assert again.current("s.dcm", 50) == (20, 50)  # the cut stays: the first part keeps it
    again.undo()
    assert again.segments("s.dcm", 50) == [(0, 50)]


def test_bad_actions_are_refused_with_a_reason_and_change_nothing(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.csv")
    with pytest.raises(ValueError, match="unknown label 'A6C'"):
        store.label("a.dcm", 30, "A6C")
    with pytest.raises(ValueError, match="cannot split at frame 30"):
        store.split("a.dcm", 30, 30)  # the last frame + 1: nothing after it
    with pytest.raises(ValueError, match="cannot split at frame 0"):
        store.split("a.dcm", 30, 0)
    store.label("a.dcm", 30, "SKIP")
    with pytest.raises(ValueError, match="every part is labelled"):
        store.label("a.dcm", 30, "A4C")
    assert _rows(store.path) == [("a.dcm", "SKIP", 0, 30)]


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch) -> None:
    store = LabelStore(tmp_path / "labels.csv")
    store.label("a.dcm", 30, "A4C")
    before = store.path.read_bytes()

    def broken(self: LabelRow) -> dict[str, str]:
        raise OSError("disk full")

    monkeypatch.setattr(LabelRow, "csv_row", broken)
    with pytest.raises(OSError, match="disk full"):
        store.label("b.dcm", 30, "PLAX")
    assert store.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]  # no temp file left


def test_read_labels_names_the_file_and_line_of_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("file,view,start,end,frames\na.dcm,A4C,0,30,30\nb.dcm,A4C,20,10,30\n")
    with pytest.raises(ValueError, match=r"labels.csv:3: frames 20-10 are not a part"):
        read_labels(path)
    path.write_text("file,view\na.dcm,A4C\n")
    with pytest.raises(ValueError, match="not an annotate labels file"):
        read_labels(path)


def _cid(file: str) -> str:
    """A stand-in cine id (the app's is a hash of the file's content)."""
    return "c" + hashlib.sha256(file.encode()).hexdigest()[:8]


def _store(path: Path, who: str, labels: list[tuple[str, str, int, int, int]]) -> Path:
    store = LabelStore(path, who)
    for file, view, start, end, frames in labels:
        if store.current(file, frames) != (start, end):
            store.split(file, frames, end)
        store.label(file, frames, view, cine=_cid(file))
    return path


def test_agreement_kappa_units_and_disagreements(tmp_path: Path) -> None:
    a = _store(tmp_path / "a.csv", "alice", [
        ("1.dcm", "A4C", 0, 30, 30), ("2.dcm", "A4C", 0, 30, 30), ("3.dcm", "PLAX", 0, 30, 30),
        ("4.dcm", "PLAX", 0, 30, 30), ("5.dcm", "SKIP", 0, 30, 30), ("6.dcm", "A2C", 0, 30, 30),
        ("s.dcm", "A4C", 0, 20, 50), ("s.dcm", "A2C", 20, 50, 50),
    ])  # fmt: skip
    b = _store(tmp_path / "b.csv", "bob", [
        ("1.dcm", "A4C", 0, 30, 30), ("2.dcm", "PLAX", 0, 30, 30), ("3.dcm", "PLAX", 0, 30, 30),
        ("4.dcm", "PLAX", 0, 30, 30), ("5.dcm", "A4C", 0, 30, 30),
        ("s.dcm", "A4C", 0, 22, 50), ("s.dcm", "A2C", 22, 50, 50),
    ])  # fmt: skip
    result = compare(read_labels(a), read_labels(b), "alice", "bob")
    # Units: 1-4 whole cines, s.dcm in three (0-19 A4C/A4C, 20-21 A2C/A4C, 22-49 A2C/A2C);
    # 5.dcm skipped by alice, 6.dcm labelled by alice only.
    pairs = [(u.a, u.b) for u in result.units]
    assert pairs == [("A4C", "A4C"), ("A4C", "PLAX"), ("PLAX", "PLAX"), ("PLAX", "PLAX"),
                     ("A4C", "A4C"), ("A2C", "A4C"), ("A2C", "A2C")]  # fmt: skip
    assert (result.skipped, result.only_a, result.only_b) == (1, 1, 0)
    # po = 5/7; marginals alice A4C 3, PLAX 2, A2C 2; bob A4C 3, PLAX 3, A2C 1:
    # pe = (9 + 6 + 2) / 49 = 17/49, kappa = (5/7 - 17/49) / (1 - 17/49) = 18/32
    assert result.kappa == pytest.approx(18 / 32)
    assert [(u.cine, u.start, u.end) for u in result.disagreements] == [
        (_cid("2.dcm"), 0, 30), (_cid("s.dcm"), 20, 22)]  # fmt: skip
    same = compare(read_labels(a), read_labels(a))
    assert same.kappa == pytest.approx(1.0) and not same.disagreements
    one_label = compare([read_labels(a)[0]] * 2, [read_labels(a)[0]] * 2)
    assert one_label.kappa is None  # undefined, not a number made up


def test_agreement_command_text_and_json(tmp_path: Path) -> None:
    from echostream.stream.cli import app

    a = _store(tmp_path / "labels.alice.csv", "alice",
               [("DOE_JOHN/1.dcm", "A4C", 0, 30, 30), ("2.dcm", "A4C", 0, 30, 30)])  # fmt: skip
    b = _store(tmp_path / "labels.bob.csv", "bob",
               [("DOE_JOHN/1.dcm", "A2C", 0, 30, 30), ("2.dcm", "A4C", 0, 30, 30)])  # fmt: skip
    runner = CliRunner()
    res = runner.invoke(app, ["annotate-agreement", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "alice vs bob: 2 parts of 2 cines compared" in res.output
    assert f"cine {_cid('DOE_JOHN/1.dcm')} frames 0–29: alice A4C, bob A2C" in res.output
    assert "DOE" not in res.output  # files are named only when asked
    res = runner.invoke(app, ["annotate-agreement", str(a), str(b), "--json"])
    data = json.loads(res.output)
    assert data["units"] == 2 and data["kappa"] == 0.0 and len(data["disagreements"]) == 1
    assert "file" not in data["disagreements"][0]
    res = runner.invoke(app, ["annotate-agreement", str(a), str(b), "--json", "--show-files"])
    assert json.loads(res.output)["disagreements"][0]["file"] == "DOE_JOHN/1.dcm"
    res = runner.invoke(app, ["annotate-agreement", str(a), str(tmp_path / "none.csv")])
    assert res.exit_code == 2 and "none.csv: No such file" in res.output


def test_a_real_cine_annotated_split_and_imported(demo_model, ybr_color_path, tmp_path) -> None:
    """pydicom's real SonoSite cine through the chain a user runs: annotate suggests a view,
    the cine is split and both parts labelled, import turns the parts into cines of their own
    (the header's vendor kept) and writes the manifest `train` reads."""
    import shutil

    from echostream.demo.annotate_setup import start_session
    from echostream.train.import_data import import_folder
    from echostream.train.manifest import read_manifest

    root = tmp_path / "export"
    root.mkdir()
    shutil.copy(ybr_color_path, root / "study.dcm")
    session = start_session(root, model=demo_model, annotator="alice", progress=False)
    try:
        shown = session.view()
        assert shown.item is not None and shown.suggested and shown.total == 1
        assert session.split(0.5, shown.token) > 0  # a real cine's own frame rate
        session.label("A4C", token=session.view().token)
        session.label("OTHER", token=session.view().token)
        assert session.view().item is None  # done
    finally:
        session.close()
        session.files.clear()
    labels = root / "labels.alice.csv"
    key = tmp_path / "patient.key"
    key.write_bytes(b"k" * 32)
    result = import_folder(root, tmp_path / "data", labels=labels, key_file=key)
    assert [r["view"] for r in result.rows] == ["A4C"]  # the OTHER part is listed as skipped
    assert any("OTHER" in p.reason for p in result.problems)
    manifest = read_manifest(result.manifest)
    assert [e.view for e in manifest.entries] == ["A4C"] and not manifest.simulated
    assert manifest.entries[0].n_frames is not None and manifest.entries[0].n_frames < 30


def test_the_next_cines_playback_is_drawn_while_one_is_on_screen(
    demo_model, ybr_color_path, tmp_path, monkeypatch
) -> None:
    """Showing a cine starts drawing the next one's playback in the background; moving on uses
    it (no second decode), and closing deletes every playback, shown or drawn ahead."""
    import shutil
    import threading

    from echostream.demo import annotate_session
    from echostream.demo.annotate_setup import start_session

    root = tmp_path / "export"
    root.mkdir()
    for name in ("a.dcm", "b.dcm"):
        shutil.copy(ybr_color_path, root / name)
    draws: list[tuple[str, str]] = []
    draw = annotate_session.classify_cine

    def counted(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        draws.append((Path(path).name, threading.current_thread().name))
        return draw(path, *args, **kwargs)

    monkeypatch.setattr(annotate_session, "classify_cine", counted)
    session = start_session(root, model=demo_model, annotator="alice", progress=False)
    try:
        first = session.view()
        session.label("A4C", token=first.token)
        second = session.view()
        assert first.item is not None and second.item is not None
        assert {first.item.file, second.item.file} == {"a.dcm", "b.dcm"}
        assert [name for name, _ in draws] == [first.item.file, second.item.file]
        assert draws[0][1] != draws[1][1] and draws[1][1].startswith("annotate-next")
        assert second.video is not None and second.video.is_file()
        assert first.video is not None and not first.video.exists()  # the shown one moved on
        session.label("A2C", token=second.token)
        assert session.view().item is None and len(draws) == 2
    finally:
        session.close()
    assert not second.video.exists()
    session.files.clear()
