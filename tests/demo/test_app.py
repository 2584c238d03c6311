"""The demo app's functions, without a browser: uploads, the verdict, playback, timeline, live."""

from __future__ import annotations

import re
import shutil
import threading
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pydicom
import pytest

from echostream.demo import app as demo_app
from echostream.demo import examples as ex
from echostream.demo.handlers import DemoState, RunSettings, run_live_url, run_upload, run_webcam
from echostream.demo.runner import classify_cine, load_engine, smoother_config
from echostream.demo.uploads import check_upload
from echostream.stream import classify
from echostream.stream.views import VIEWS

SETTINGS = dict(stages=["ema", "vote", "uncertain"], alpha=0.5, window_s=0.7, margin=0.1,
                patience=3, threshold=0.5)  # fmt: skip


@pytest.fixture(scope="module")
def state(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> DemoState:
    return DemoState(
        models=demo_app.model_choices([demo_model]),
        out_dir=tmp_path_factory.mktemp("demo_out"),
        max_upload_mb=1.0,
        smoother=smoother_config(),
    )


def settings(state: DemoState, model: str | None = None) -> RunSettings:
    """The page's default choices: the state's first model (or ``model``), ``auto``."""
    return RunSettings(model or next(iter(state.models)), "auto", **SETTINGS)


def _upload(state, upload, example=None):
    return run_upload(state, upload, example, settings(state))


def test_check_upload_reasons(tmp_path: Path, ybr_color_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    assert "not accepted" in check_upload(txt)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    assert check_upload(empty) == "empty.dcm: the file is empty"
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    assert "over the 1 MB upload limit" in check_upload(big, max_mb=1)
    bare = tmp_path / "noext"
    bare.write_bytes(b"\0" * 200)
    assert "must be DICOM" in check_upload(bare)
    dicom_bare = tmp_path / "IM0001"
    shutil.copy(ybr_color_path, dicom_bare)
    assert check_upload(dicom_bare) is None
    assert check_upload(ybr_color_path) is None


def test_real_example_verdict_playback_timeline(state, ybr_color_path: Path) -> None:
    status, video, fig, verdict, facts, timings = _upload(state, None, ex.REAL_EXAMPLE)
    assert status.startswith("**Done:**") and "30 frames" in status, status
    label = verdict.split("Verdict: ")[1].split(" ")[0]
    assert label in VIEWS
    assert "vote share" in verdict and "confidence" in verdict and "simulated" in verdict
    # The playback: an H.264 MP4 of every frame at full resolution with the overlay drawn.
    with av.open(video) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 30 and frames[0].shape == (240, 320, 3)
    ds = pydicom.dcmread(ybr_color_path)
    orig = ds.pixel_array[0]  # YBR → RGB by pydicom
    panel = np.abs(frames[0][:20, :100].astype(int) - orig[:20, :100].astype(int)).mean()
    rest = np.abs(frames[0][120:, 200:].astype(int) - orig[120:, 200:].astype(int)).mean()
    assert panel > 3 * rest + 5, (panel, rest)  # the panel changes the corner, not the image
    # The timeline: one smoothed and one raw line per output of the model (the 8 views, and the
    # shipped model's unknown-view gate, OTHER).
    ax = fig.axes[0]
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend - {"OTHER"} == set(VIEWS)
    assert len(ax.lines) == 2 * len(legend)
    # Acquisition facts, never a patient field.
    facts_d = {k: v for k, v in facts}
    assert facts_d["frames"] == "30" and facts_d["transfer syntax"].startswith("JPEG Baseline")
    assert "SonoSite" in facts_d["vendor"] and facts_d["acquisition"] == "bmode"
    # Measured quantities ("204 frames/s", "0.204 s", the timings table) are numbers we made,
    # not header fields: leave them out, then look for each field as a whole token ("PLA"
    # inside "PLAX" is not it).
    text = re.sub(r"\d+(?:\.\d+)?\s*(?:frames/s|ms|s|%)(?!\w)", "#", status + verdict + repr(facts))
    for tag in ("PatientName", "PatientID", "StudyDate"):  # "PLA", "204", "20160503" here
        value = re.escape(str(ds[tag].value))
        assert not re.search(rf"(?<![\w.]){value}(?![\w.])", text), tag
    stages = {row[0] for row in timings}
    assert {"decode", "preprocess", "inference", "temporal", "overlay"} <= stages


def test_patient_fields_and_file_name_never_reach_the_page(
    state, tmp_path: Path, ybr_color_path: Path
) -> None:
    """An upload named after the patient, with distinctive header fields: none of them is
    shown (status, verdict, facts, timings) or in the playback's file name."""
    ds = pydicom.dcmread(ybr_color_path)
    fields = {"PatientName": "Zyxwvut^Quentina", "PatientID": "PID99817",
              "PatientBirthDate": "19450317", "StudyDate": "20190802",
              "InstitutionName": "Saint Elsewhere Hospital"}  # fmt: skip
    for tag, value in fields.items():
        setattr(ds, tag, value)
    upload = tmp_path / "Zyxwvut_Quentina_PID99817.dcm"
    ds.save_as(upload)
    status, video, _fig, verdict, facts, timings = _upload(state, str(upload))
    assert status.startswith("**Done:**"), status
    shown = status + verdict + repr(facts) + repr(timings) + str(video)
    for value in ("Zyxwvut", "Quentina", "PID99817", "19450317", "20190802", "Elsewhere"):
        assert value not in shown, value


def test_smoothing_sliders_change_the_smoothed_line(demo_model: Path, ybr_color_path) -> None:
    engine = load_engine(demo_model)
    _, raw = classify_cine(ybr_color_path, engine, smoother_config(stages=[]))
    _, ema = classify_cine(ybr_color_path, engine, smoother_config(stages=["ema"], alpha=0.1))
    np.testing.assert_allclose(raw.smoothed, raw.raw, atol=1e-6)
    np.testing.assert_allclose(ema.raw, raw.raw, atol=1e-5)
    expected = raw.raw[0] * 0.9 + raw.raw[1] * 0.1  # the EMA's second step
    np.testing.assert_allclose(ema.smoothed[1], expected, atol=1e-5)


def test_corrupt_and_wrong_uploads_get_one_line_and_the_app_keeps_serving(
    state, tmp_path: Path, ybr_color_path: Path
) -> None:
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(ybr_color_path.read_bytes()[:3000])
    status, video, fig, verdict, facts, timings = _upload(state, str(broken))
    assert status.startswith("**Problem:** your upload (.dcm): ") and "\n" not in status, status
    assert video is None and fig is None and verdict == ""
    txt = tmp_path / "report.txt"
    txt.write_text("not an echo")
    assert "not accepted" in _upload(state, str(txt))[0]
    big = tmp_path / "huge.avi"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    assert "upload limit" in _upload(state, str(big))[0]
    status, video, *_ = _upload(state, str(ybr_color_path))  # the next upload still works
    assert status.startswith("**Done:**") and Path(video).is_file()


def test_still_image_upload(state, tmp_path: Path) -> None:
    from PIL import Image

    img = tmp_path / "still.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(img)
    status, video, fig, verdict, facts, _ = _upload(state, str(img))
    assert status.startswith("**Done:**") and "1 frame " in status, status
    assert "Verdict:" in verdict and dict(facts)["kind"] == "image"


def test_missing_model_is_reported(state, ybr_color_path: Path) -> None:
    out = run_upload(state, str(ybr_color_path), None, settings(state, "/nonexistent/m.onnx"))
    assert out[0].startswith("**Problem:**") and "m.onnx" in out[0]


def test_webcam_frames_are_classified_and_annotated(state) -> None:
    rng = np.random.default_rng(1)
    session = None
    for _ in range(3):
        frame = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        out, session, status = run_webcam(state, frame, session, settings(state))
        assert out.shape == (96, 128, 3) and not np.array_equal(out, frame)
    assert session.index == 3 and "3 frames" in status


def test_live_url_rejects_files_and_plays_a_stream(state, tmp_path: Path) -> None:
    gen = run_live_url(state, "/etc/passwd", settings(state))
    rgb, msg = next(gen)
    assert rgb is None and "not a stream URL" in msg
    # A real stream: MPEG-TS served over HTTP on loopback, classified as it plays.
    clip = tmp_path / "clip.ts"
    rng = np.random.default_rng(2)
    with av.open(str(clip), "w", format="mpegts") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        for _ in range(40):
            img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.ts"
        urllib.request.urlopen(url, timeout=5).read(10)
        gen = run_live_url(state, url, settings(state), max_seconds=20)
        shown = []
        for rgb, msg in gen:
            assert "Problem" not in msg, msg
            if rgb is not None:
                shown.append(rgb)
            if len(shown) >= 3:
                gen.close()  # what the Stop button does: the worker is told to stop
                break
        assert len(shown) >= 3 and shown[-1].shape == (96, 128, 3)
    finally:
        server.shutdown()


def test_launch_binds_loopback_with_upload_limit(demo_model: Path, free_port: int) -> None:
    app = demo_app.build_app(models=[demo_model], max_upload_mb=5)
    try:
        demo_app.launch(app, port=free_port, max_upload_mb=5, block=False)
        assert app.server_name == "127.0.0.1"
        assert app.max_file_size == 5 * 1024 * 1024
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/", timeout=10) as r:
            assert r.status == 200 and b"echostream" in r.read()
    finally:
        app.close()


def test_cli_demo_defaults_to_loopback() -> None:
    from typer.testing import CliRunner

    from echostream.stream.cli import app

    out = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "127.0.0.1" in out.output and "--port" in out.output
    bad = CliRunner().invoke(app, ["demo", "--model", "/nonexistent.onnx"])
    assert bad.exit_code == 2 and "no such model file" in bad.output


def test_examples_list_real_first() -> None:
    names = ex.example_names()
    assert names[0] == ex.REAL_EXAMPLE
    assert ex.example_path(ex.REAL_EXAMPLE).is_file()
    with pytest.raises(KeyError):
        ex.example_path("no such example")


def test_simulated_example_made_once_then_cached(state, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("echostream.train.simulator.dataset", reason="simulator not available")
    monkeypatch.setenv("ECHOSTREAM_CACHE", str(tmp_path))
    views, styles = ex.simulator_catalogue()
    vendor, style = next(iter(styles.items()))
    name = ex.sim_name("A4C", style)
    assert name in ex.example_names()
    path = ex.example_path(name)
    assert path.parent == tmp_path / "examples" and path.is_file()
    mtime = path.stat().st_mtime_ns
    assert ex.example_path(name) == path and path.stat().st_mtime_ns == mtime  # cached
    status, video, fig, verdict, facts, _ = _upload(state, None, name)
    assert status.startswith("**Done:**") and f"{ex.SIM_FRAMES} frames" in status, status
    facts_d = dict(facts)
    assert style.split()[0] in facts_d["vendor"] and facts_d["transfer syntax"].startswith("JPEG")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    text = status + verdict + repr(facts)
    for tag in ("PatientName", "PatientID", "PatientBirthDate"):  # fake, but still kept out
        value = str(ds.get(tag, "") or "")
        assert len(value) > 2 and value not in text, tag


def test_playback_outlines_the_crop_box(demo_model: Path, tmp_path: Path) -> None:
    """The annotated playback draws the box the model sees (the detected fan's) on each frame,
    and keeps the ultrasound inside it."""
    import av
    from PIL import Image, ImageDraw

    from echostream.stream.overlay import OverlayStyle

    path = tmp_path / "fan.mp4"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320]
    fan = (np.hypot(xx - 160, yy - 10) < 215) & (np.abs(np.arctan2(xx - 160, yy - 10)) < 0.7)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for _ in range(6):
            img = np.where(fan, rng.integers(40, 200, fan.shape), 0).astype(np.uint8)
            pil = Image.fromarray(np.repeat(img[..., None], 3, 2))
            ImageDraw.Draw(pil).text((301, 0), "DOE", fill=(255, 255, 255))  # beside the apex
            out.mux(s.encode(av.VideoFrame.from_ndarray(np.asarray(pil), format="rgb24")))
        out.mux(s.encode(None))
    engine = load_engine(demo_model)
    result, playback = classify_cine(path, engine, smoother_config(), out_dir=tmp_path / "out")
    assert result.status == "ok" and playback.video is not None
    with av.open(str(playback.video)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert OverlayStyle().color_box[0] > 200  # red: after H.264's 4:2:0 a reddish line
    ys, xs = np.nonzero(fan)
    x0, x1 = xs.min(), xs.max()  # the box's sides, up to the detector's and codec's error

    def reddish(px: np.ndarray) -> bool:
        return bool((px[:, 0] - px[:, 1:].max(axis=1) > 50).any())

    assert reddish(rgb[120, max(0, x0 - 4) : x0 + 5]) and reddish(rgb[120, x1 - 4 : x1 + 5])
    assert not reddish(rgb[120, x0 + 20 : x1 - 20])  # nothing drawn across the picture
    assert rgb[0:8, 305:320].max() < 40  # the burned-in name outside the fan: blanked


def test_a_reader_failure_names_the_upload_as_the_page_does(
    state, tmp_path: Path, ybr_color_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = tmp_path / "DOE_JOHN.dcm"
    shutil.copy(ybr_color_path, upload)

    def fails(path, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise FileNotFoundError(2, "No such file or directory", str(path))

    monkeypatch.setattr(classify, "open_source", fails)  # what classify_file reads with
    status = _upload(state, str(upload))[0]
    assert status == "**Problem:** your upload (.dcm): cannot read it (no such file or directory)"


def test_a_cine_that_fails_half_way_leaves_no_playback(
    demo_model: Path, tmp_path: Path, ybr_color_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The playback is drawn while the cine is read: a read that fails after some frames were
    drawn reports the upload's one-line problem and deletes what was written."""
    from echostream.stream.errors import SourceError

    real_run_file = classify.run_file

    def fails_at_frame_5(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        for result in real_run_file(*args, **kwargs):
            if result.index == 5:
                raise SourceError("x", "frame 5 is truncated")
            yield result

    state = DemoState(models=demo_app.model_choices([demo_model]), out_dir=tmp_path / "out",
                      max_upload_mb=5.0, smoother=smoother_config())  # fmt: skip
    monkeypatch.setattr(classify, "run_file", fails_at_frame_5)
    status, video, *_ = _upload(state, str(ybr_color_path))
    assert status == "**Problem:** x: frame 5 is truncated" and video is None
    assert not list(state.out_dir.iterdir())  # the half-drawn playback is gone
