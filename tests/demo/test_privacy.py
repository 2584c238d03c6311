"""The demo keeps no patient data it does not need: playbacks show only the ultrasound region,
outputs have random names, a session's uploads and playbacks go when the session ends and
everything goes when the app stops; stream URLs are shown without secrets; concurrent
requests on one shared engine give the labels they give alone."""

from __future__ import annotations

import shutil
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from echostream.demo import app as demo_app
from echostream.demo import handlers, runner
from echostream.demo.handlers import DemoState, RunSettings, run_live_url, run_upload
from echostream.demo.runner import classify_cine, load_engine, smoother_config
from echostream.stream.backends.base import Backend
from echostream.stream.dicom_writer import Identity, UltrasoundRegion, write_cine

SETTINGS = dict(stages=["ema", "vote", "uncertain"], alpha=0.5, window_s=0.7, margin=0.1,
                patience=3, threshold=0.5)  # fmt: skip
H, W = 192, 256
REGION = (32, 48, 224, 176)
NAME_BOX = (140, 0, 256, 26)  # right of the label panel


def named_cine(path: Path, name: str) -> Path:
    """A 12-frame cine: speckle in REGION (same for every name), ``name`` in the banner."""
    rng = np.random.default_rng(0)
    font = ImageFont.load_default(size=16)
    frames = []
    for _ in range(12):
        img = np.zeros((H, W, 3), np.uint8)
        x0, y0, x1, y1 = REGION
        img[y0:y1, x0:x1] = rng.integers(30, 220, (y1 - y0, x1 - x0, 1), dtype=np.uint8)
        pil = Image.fromarray(img)
        ImageDraw.Draw(pil).text((NAME_BOX[0] + 4, 4), name, fill=(255, 255, 255), font=font)
        frames.append(np.asarray(pil))
    return write_cine(path, frames, fps=25, quality=95, regions=[UltrasoundRegion(*REGION)],
                      identity=Identity(patient_name=name.replace(" ", "^")))  # fmt: skip


def make_state(demo_model: Path, out_dir: Path, keep_screen: bool = False):
    return DemoState(
        models=demo_app.model_choices([demo_model]), out_dir=out_dir, max_upload_mb=5.0,
        smoother=smoother_config(), keep_screen=keep_screen,
    )  # fmt: skip


def upload(state, path, session=None):
    model = next(iter(state.models))
    return run_upload(state, str(path), None, RunSettings(model, "auto", **SETTINGS),
                      session=session)  # fmt: skip


def frames_of(video: str | Path) -> list[np.ndarray]:
    with av.open(str(video)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_playback_never_shows_the_banner_name(demo_model: Path, tmp_path: Path) -> None:
    playbacks = {}
    for keep in (False, True):
        state = make_state(demo_model, tmp_path / f"out{keep}", keep_screen=keep)
        for name in ("DOE JOHN", "ROE JANE"):
            cine = named_cine(tmp_path / f"{name.split()[0]}_{name.split()[1]}.dcm", name)
            status, video, *_ = upload(state, cine)
            assert status.startswith("**Done:**"), status
            assert Path(video).parent == state.out_dir  # random name, in the demo's folder
            assert "DOE" not in Path(video).name and "ROE" not in Path(video).name
            playbacks[name, keep] = frames_of(video)
    john, jane = playbacks["DOE JOHN", False], playbacks["ROE JANE", False]
    assert len(john) == len(jane) == 12
    for a, b in zip(john, jane, strict=True):  # nothing in the output depends on the name
        np.testing.assert_array_equal(a, b)
        x0, y0, x1, y1 = NAME_BOX
        assert a[y0:y1, x0:x1].max() <= 12
    x0, y0, x1, y1 = NAME_BOX  # control: kept screens show (different) names there
    kept_john = playbacks["DOE JOHN", True][-1][y0:y1, x0:x1].astype(int)
    kept_jane = playbacks["ROE JANE", True][-1][y0:y1, x0:x1].astype(int)
    assert kept_john.max() > 200 and np.abs(kept_john - kept_jane).mean() > 5


def test_session_files_go_when_the_session_ends(
    demo_model: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # where uploads land
    state = DemoState(models=demo_app.model_choices([demo_model]), out_dir=None,
                      max_upload_mb=5.0, smoother=smoother_config())  # fmt: skip
    assert state.out_dir.parent == tmp_path / "gradio"
    uploads = tmp_path / "gradio" / "0123abcd"
    uploads.mkdir()
    mine = shutil.copy(named_cine(tmp_path / "a.dcm", "DOE JOHN"), uploads / "DOE_JOHN.dcm")
    theirs = shutil.copy(mine, uploads / "OTHER.dcm")
    _, my_video, *_ = upload(state, mine, session="s1")
    _, their_video, *_ = upload(state, theirs, session="s2")
    assert {Path(mine), Path(my_video)} == state.files.session_files("s1")
    assert state.files.end_session("s1") == 2
    assert not Path(mine).exists() and not Path(my_video).exists()
    assert Path(theirs).exists() and Path(their_video).exists()  # another tab: untouched
    original = named_cine(tmp_path / "user_file.dcm", "DOE JOHN")  # not an upload: never ours
    _, video, *_ = upload(state, original, session="s3")
    state.files.clear()  # the app stops
    assert not Path(theirs).exists() and not Path(video).exists() and not state.out_dir.exists()
    assert original.exists()
    given = make_state(demo_model, tmp_path / "given")  # a folder the caller chose stays
    _, video, *_ = upload(given, original, session="s4")
    given.files.clear()
    assert not Path(video).exists() and (tmp_path / "given").is_dir()


def test_live_url_is_never_shown_raw(demo_model: Path, tmp_path: Path) -> None:
    state = make_state(demo_model, tmp_path / "out")
    model = next(iter(state.models))
    url = "file:///srv/DOE_JOHN.ts?token=s3cr3t&user=jdoe"
    rgb, msg = next(run_live_url(state, url, RunSettings(model, "auto", **SETTINGS)))
    assert rgb is None and "not a stream URL" in msg
    assert "s3cr3t" not in msg and "jdoe" not in msg


class TakesTurns(Backend):
    """Wraps a real backend like a CUDA graph: one shared input buffer, written, then read back
    once the next run came in (or after 0.3 s). Right only if runs take turns."""

    name = "static-buffer"
    thread_safe = False

    def __init__(self, inner: Backend) -> None:
        super().__init__()
        self.inner, self.info = inner, inner.info
        self.buffer = np.zeros((64, *inner.info.input_size), np.float32)
        self.runs = 0
        self.came_in = threading.Condition()

    def load(self, model_file, **opts):  # noqa: ANN001, ANN003, ANN201
        return self

    def _run(self, batch: np.ndarray) -> np.ndarray:
        b = batch.shape[0]
        self.buffer[:b] = batch
        with self.came_in:
            self.runs += 1
            me = self.runs
            self.came_in.notify_all()
            self.came_in.wait_for(lambda: self.runs > me, timeout=0.3)
        return self.inner._run(self.buffer[:b].copy())


def test_concurrent_requests_give_the_labels_they_give_alone(
    demo_model: Path, tmp_path: Path, ybr_color_path: Path, monkeypatch
) -> None:
    engine = load_engine(demo_model)
    shared = runner.Engine(engine.info, engine.preprocessor, TakesTurns(engine.backend),
                           engine.path)  # fmt: skip
    monkeypatch.setattr(handlers, "load_engine", lambda model, backend="auto": shared)
    state = make_state(demo_model, tmp_path / "out")
    cines = [ybr_color_path, named_cine(tmp_path / "named.dcm", "DOE JOHN")]
    alone = {c: classify_cine(c, engine, smoother_config()) for c in cines}  # (result, playback)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: classify_cine(c, shared, smoother_config()), cines * 4))
        served = list(pool.map(lambda c: upload(state, c), cines * 2))
    for cine, (_res, playback) in zip(cines * 4, results, strict=True):
        assert playback.shown == alone[cine][1].shown
        np.testing.assert_allclose(playback.raw, alone[cine][1].raw, atol=1e-5)
    for cine, (status, _video, _fig, verdict, *_rest) in zip(cines * 2, served, strict=True):
        assert status.startswith("**Done:**")
        assert f"Verdict: {alone[cine][0].view} " in verdict


def test_served_app_deletes_uploads_and_playbacks_when_it_stops(
    demo_model: Path, free_port: int, tmp_path: Path
) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    app = demo_app.build_app(models=[demo_model])
    state = app.demo_state  # type: ignore[attr-defined]
    demo_app.launch(app, port=free_port, block=False)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{free_port}/", verbose=False)
        cine = named_cine(tmp_path / "DOE_JOHN.dcm", "DOE JOHN")
        status, video, *_ = client.predict(
            gradio_client.handle_file(str(cine)), None, next(iter(state.models)), "auto",
            *SETTINGS.values(), api_name="/classify",
        )  # fmt: skip
        assert status.startswith("**Done:**"), status
        kept = state.files.all_files()
        stored_upload = next(p for p in kept if p.suffix == ".dcm")
        playback = next(p for p in kept if p.suffix == ".mp4")
        assert stored_upload.exists() and playback.exists() and "DOE" not in playback.name
        url = video["video"]["url"] if isinstance(video, dict) else str(video)
        assert "DOE" not in url
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/", timeout=10) as r:
            assert r.status == 200
    finally:
        app.close()
    assert not stored_upload.exists() and not playback.exists()
    assert not state.out_dir.exists()
