"""``echostream annotate`` end to end: the queue (least confident first), the session's actions,
the page's privacy, ``echostream import`` of the labels (split parts as files of their own), and
the app in headless Chromium: label with keys, split a cine, undo, stop, restart and resume.

The cines are made here: speckle in an ultrasound region, a patient's name in the file and
folder names and in the DICOM header (none may reach the page).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from echostream.demo.annotate_store import LabelRow
from echostream.stream.dicom_writer import Identity, UltrasoundRegion, write_cine


def _browser_test_module():
    """tests/demo/test_browser.py, for its Chromium path and launch options (one place)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_demo_test_browser", Path(__file__).with_name("test_browser.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FPS = 25
PATIENT = ("DOE^JOHN", "PID778899")


def make_cine(path: Path, n: int, seed: int) -> Path:
    """An ``n``-frame 160×120 cine at 25 fps: DICOM (JPEG, a region, a patient) or, by suffix,
    an H.264 video."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        img = np.zeros((120, 160, 3), np.uint8)
        img[20:110, 30:130] = rng.integers(20, 200, (90, 100, 1), dtype=np.uint8)
        frames.append(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp4":
        from echostream.stream.sinks import VideoSink

        sink = VideoSink(path, FPS)
        for f in frames:
            sink.write(f)
        sink.close()
        return path
    identity = Identity(patient_name=PATIENT[0], patient_id=PATIENT[1])
    return write_cine(path, frames, fps=FPS, regions=[UltrasoundRegion(30, 20, 130, 110)],
                      identity=identity)  # fmt: skip


@pytest.fixture
def cines(tmp_path: Path) -> Path:
    root = tmp_path / "export"
    make_cine(root / "DOE_JOHN_1970" / "echo1.dcm", 30, 1)
    make_cine(root / "DOE_JOHN_1970" / "echo2.dcm", 24, 2)
    make_cine(root / "DOE_JOHN_1970.mp4", 20, 3)
    make_cine(root / ".segments" / "old.dcm", 5, 4)  # hidden folders are no cines
    return root


def _rows(path: Path) -> list[tuple[str, str, int, int, int]]:
    with path.open(newline="") as fh:
        return [(r["file"], r["view"], int(r["start"]), int(r["end"]), int(r["frames"]))
                for r in csv.DictReader(fh)]  # fmt: skip


def _session(root: Path, model: Path, annotator: str = "alice"):
    from echostream.demo.annotate_setup import start_session

    return start_session(root, model=model, annotator=annotator, progress=False)


def test_queue_is_least_confident_first_and_names_no_file(cines: Path, demo_model: Path) -> None:
    from echostream.demo.annotate_page import status_markdown, suggestion_markdown

    session = _session(cines, demo_model)
    try:
        queue = session.queue
        assert sorted(q.file for q in queue) == [
            "DOE_JOHN_1970.mp4", "DOE_JOHN_1970/echo1.dcm", "DOE_JOHN_1970/echo2.dcm"]  # fmt: skip
        conf = [q.confidence for q in queue]
        assert all(c is not None for c in conf) and conf == sorted(conf)
        assert [q.frames for q in sorted(queue, key=lambda q: q.file)] == [20, 30, 24]
        shown = session.view()
        assert shown.item is queue[0] and shown.part == (0, shown.item.frames)
        assert shown.suggested and shown.video is not None and shown.video.is_file()
        page_text = status_markdown(shown) + suggestion_markdown(shown) + str(shown.video)
        for secret in ("DOE", "JOHN", "1970", "echo1", PATIENT[1]):
            assert secret not in page_text
        assert session.store.path == cines / "labels.alice.csv"
    finally:
        session.close()
        session.files.clear()


def test_session_refuses_a_key_meant_for_another_cine(cines: Path, demo_model: Path) -> None:
    session = _session(cines, demo_model)
    try:
        first = session.view()
        session.label("A4C", token=first.token)
        with pytest.raises(ValueError, match="another cine or part"):
            session.label("PLAX", token=first.token)  # pressed before the page caught up
        assert len(session.store.rows) == 1
        second = session.view()
        assert second.item is not first.item and second.position == 2
        assert session.split(0.4, second.token) == 10  # 0.4 s at 25 fps
        assert session.view().part == (0, 10)
    finally:
        session.close()
        session.files.clear()


def test_undo_after_a_restart_brings_back_a_cine_finished_before(
    cines: Path, demo_model: Path
) -> None:
    first = _session(cines, demo_model)
    done = first.queue[0]
    first.label("SKIP", token=first.view().token)
    first.close()
    again = _session(cines, demo_model)
    try:
        assert done.file not in [q.file for q in again.queue] and again.done_before == 1
        assert again.view().position == 2
        undone = again.undo()
        assert isinstance(undone, LabelRow) and undone.file == done.file
        shown = again.view()
        assert shown.item is not None and shown.item.file == done.file and shown.position == 1
        assert _rows(cines / "labels.alice.csv") == []
    finally:
        again.close()
        again.files.clear()
        first.files.clear()


def test_import_reads_the_annotate_labels_split_parts_become_files(
    tmp_path: Path, monkeypatch
) -> None:
    from echostream.demo.annotate_store import LabelStore
    from echostream.stream.sources import iter_frames
    from echostream.train.import_data import import_folder

    monkeypatch.setenv("ECHOSTREAM_PATIENT_KEY", "k" * 32)
    root = tmp_path / "export"
    make_cine(root / "a.dcm", 30, 1)
    make_cine(root / "s.dcm", 24, 2)
    make_cine(root / "v.mp4", 20, 3)
    store = LabelStore(root / "labels.csv", "alice")
    store.label("a.dcm", 30, "A4C")
    store.split("s.dcm", 24, 10)
    store.label("s.dcm", 24, "PLAX")
    store.label("s.dcm", 24, "A2C")
    store.split("v.mp4", 20, 8)
    store.label("v.mp4", 20, "SKIP")
    store.label("v.mp4", 20, "A3C")
    result = import_folder(root, tmp_path / "data")
    got = {(r["path"], r["view"], int(r["n_frames"])) for r in result.rows}
    assert got == {
        ("../export/a.dcm", "A4C", 30),
        (".segments/s.f0-9.dcm", "PLAX", 10),
        (".segments/s.f10-23.dcm", "A2C", 14),
        (".segments/v.f8-19.mp4", "A3C", 12),
    }
    assert [str(p) for p in result.problems] == [
        "v.mp4 frames 0-7: skipped by the annotator, left out"
    ]
    # A DICOM part holds the cine's own frames, copied as stored, and its patient.
    whole = [f.pixels for f in iter_frames(root / "s.dcm")]
    part = [f.pixels for f in iter_frames(tmp_path / "data" / ".segments" / "s.f10-23.dcm")]
    assert len(part) == 14 and all(
        np.array_equal(a, b) for a, b in zip(part, whole[10:], strict=True)
    )
    patients = {r["path"]: r["patient_id"] for r in result.rows}
    assert len({patients[k] for k in patients if k.endswith(".dcm")}) == 1  # one patient
    # Labels without ranges are read as before (files + labels.csv).
    (root / "plain").mkdir()
    make_cine(root / "plain" / "b.dcm", 6, 5)
    (root / "plain" / "labels.csv").write_text("file,view\nb.dcm,A4C\n")
    assert [r["view"] for r in import_folder(root / "plain").rows] == ["A4C"]


# -- the app in a browser -------------------------------------------------------------------

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
_BROWSER = _browser_test_module()
CHROMIUM, CHROMIUM_ARGS = _BROWSER.CHROMIUM, _BROWSER.CHROMIUM_ARGS
browser_only = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason=f"Chromium not found at {CHROMIUM}"
)


def _serve(root: Path, model: Path, port: int):
    from echostream.demo.annotate_app import build_annotate_app, launch_annotate

    session = _session(root, model)
    app = build_annotate_app(session, session.store.path.name)
    launch_annotate(app, port=port, block=False)
    return app, session


def _open(pw, url: str, outside: list[str], errors: list[str]):
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r) -> None:  # nothing may leave this machine
        if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    return browser, page


def _wait_text(page, elem: str, text: str, timeout: float = 60_000) -> str:
    page.locator(f"#{elem}").get_by_text(text).first.wait_for(timeout=timeout)
    return page.locator(f"#{elem}").inner_text()


def _press(page, key: str, then: tuple[str, str]) -> str:
    page.keyboard.press(key)
    return _wait_text(page, *then)


def _video_ready(page) -> None:
    page.wait_for_function(
        "() => { const v = document.querySelector('#annotate-video video');"
        " return v && v.readyState >= 2 && v.videoWidth > 0; }",
        timeout=60_000,
    )


@browser_only
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_label_split_undo_stop_and_resume_in_headless_chromium(
    cines: Path, demo_model: Path, free_port: int
) -> None:
    labels = cines / "labels.alice.csv"
    outside: list[str] = []
    errors: list[str] = []
    texts: list[str] = []
    app, session = _serve(cines, demo_model, free_port)
    order = [q.file for q in session.queue]
    n1, n2 = session.queue[0].frames, session.queue[1].frames
    with sync_api.sync_playwright() as pw:
        browser, page = _open(pw, f"http://127.0.0.1:{free_port}/", outside, errors)
        try:
            _wait_text(page, "annotate-status", "Cine 1 of 3")
            _video_ready(page)
            _press(page, "5", ("annotate-status", "Cine 2 of 3"))  # 5: A4C (1-8 in VIEWS order)
            assert _rows(labels) == [(order[0], "A4C", 0, n1, n1)]
            _video_ready(page)
            page.evaluate(
                "() => { const v = document.querySelector('#annotate-video video');"
                " v.pause(); v.currentTime = 0.4; }"
            )
            page.wait_for_function(
                "() => document.querySelector('#annotate-video video').currentTime > 0.39"
            )
            _press(page, "x", ("annotate-message", "Split at frame 10"))
            _wait_text(page, "annotate-status", "Part 1 of 2: frames 0–9")
            _press(page, "1", ("annotate-status", "Part 2 of 2: frames 10–"))  # PLAX
            # The playback now loops over the part being labelled (from 0.4 s): sampled over
            # 2.4 s (2.5 loops of the 0.96 s cine), almost never before it; playing the whole
            # cine would show frames before 0.4 s in about 40 % of the samples.
            times = page.evaluate(
                "async () => { const v = document.querySelector('#annotate-video video');"
                " v.currentTime = 0; await v.play(); const out = [];"
                " for (let i = 0; i < 24; i++) { await new Promise(r => setTimeout(r, 100));"
                " out.push(v.currentTime); } return out; }"
            )
            before_part = [t for t in times[2:] if t < 0.38]
            assert len(before_part) <= 3 and max(times) > 0.45, times  # a wrap caught mid-way
            texts.append(page.content())
            page.get_by_role("button", name="Enter · Accept suggestion").click()
            _wait_text(page, "annotate-status", "Cine 3 of 3")
            _press(page, "u", ("annotate-message", "Undid"))
            _wait_text(page, "annotate-status", "Part 2 of 2")
            texts.append(page.content())
        finally:
            browser.close()
            app.close()
    assert _rows(labels)[1:] == [(order[1], "PLAX", 0, 10, n2)]
    # A restart on the same folder and labels file continues with cine 2's second part.
    app, session = _serve(cines, demo_model, free_port)
    assert [q.file for q in session.queue] == order[1:] and session.done_before == 1
    with sync_api.sync_playwright() as pw:
        browser, page = _open(pw, f"http://127.0.0.1:{free_port}/", outside, errors)
        try:
            status = _wait_text(page, "annotate-status", "Cine 2 of 3")
            assert f"Part 2 of 2: frames 10–{n2 - 1}" in status
            _press(page, "o", ("annotate-status", "Cine 3 of 3"))  # OTHER
            _press(page, "s", ("annotate-status", "All 3 cines are labelled"))  # skip
            _wait_text(page, "annotate-progress", "3 of 3 cines done")
            texts.append(page.content())
        finally:
            browser.close()
            app.close()
    n3 = session.queue[1].frames
    assert _rows(labels) == [
        (order[0], "A4C", 0, n1, n1),
        (order[1], "PLAX", 0, 10, n2),
        (order[1], "OTHER", 10, n2, n2),
        (order[2], "SKIP", 0, n3, n3),
    ]  # fmt: skip
    for secret in ("DOE", "JOHN", "1970", "echo1", "echo2", PATIENT[1]):
        assert not any(secret in t for t in texts), secret
    assert not outside, outside[:3]
    assert not errors, errors[:3]


def test_annotate_command_ends_with_one_line_on_bad_input(tmp_path: Path, demo_model: Path) -> None:
    from typer.testing import CliRunner

    from echostream.stream.cli import app

    (tmp_path / "empty").mkdir()
    for args, reason in (
        ([str(tmp_path / "none")], "none: no such folder"),
        ([str(tmp_path / "empty")], "empty: no cines found"),
        ([str(tmp_path / "empty"), "--annotator", "Dr Who"], "annotator 'Dr Who': use letters"),
    ):
        res = CliRunner().invoke(app, ["annotate", *args, "--model", str(demo_model)])
        assert res.exit_code == 2 and reason in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
