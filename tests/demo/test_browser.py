"""The demo in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Loads the page, runs the bundled real echo cine, waits for the verdict, the annotated playback
and the timeline, and saves a screenshot: to ``docs/demo.png`` when
``ECHOSTREAM_UPDATE_SCREENSHOT=1``, else to the test's temporary folder. Every request off
127.0.0.1 is refused and must not happen. Skips where Chromium or Playwright is absent
(``.ci/install-browser.sh`` installs them).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ECHOSTREAM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install 'echostream[dev]')"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason=f"Chromium not found at {CHROMIUM} (run .ci/install-browser.sh)",
    ),
]


@pytest.fixture
def served_app(demo_model: Path, free_port: int):
    """(URL, app): the demo app serving on 127.0.0.1 in this process (a thread); closed after
    the test."""
    from echostream.demo.app import build_app, launch

    app = build_app(models=[demo_model])
    launch(app, host="127.0.0.1", port=free_port, block=False)
    try:
        yield f"http://127.0.0.1:{free_port}/", app
    finally:
        app.close()


@pytest.fixture
def served_demo(served_app) -> str:
    return served_app[0]


@pytest.mark.timeout(240)
def test_real_cine_in_headless_chromium(served_demo: str, tmp_path: Path) -> None:
    from echostream.demo.examples import REAL_EXAMPLE

    update = os.environ.get("ECHOSTREAM_UPDATE_SCREENSHOT") == "1"
    shot = REPO / "docs" / "demo.png" if update else tmp_path / "demo.png"
    offsite: list[str] = []
    page_errors: list[str] = []

    def route(r) -> None:  # nothing may leave this machine
        if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            offsite.append(r.request.url)
            r.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.route("**/*", route)
            page.goto(served_demo, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_text("echo view recognition").first.wait_for(timeout=60_000)
            example = page.locator("#example input").first
            assert example.input_value() == REAL_EXAMPLE
            t0 = time.perf_counter()
            page.get_by_role("button", name="Classify").click()
            page.locator("#verdict").get_by_text("Verdict:").wait_for(timeout=120_000)
            page.locator('#timeline [data-testid="matplotlib"] img').wait_for(timeout=60_000)
            took = time.perf_counter() - t0
            status = page.locator("#status").inner_text()
            assert "Done:" in status and "30 frames" in status, status
            verdict = page.locator("#verdict").inner_text()
            assert "vote share" in verdict and "confidence" in verdict
            facts = page.locator("#facts").inner_text()
            assert "JPEG Baseline" in facts and "SonoSite" in facts
            assert "inference" in page.locator("#timings").inner_text()
            # The playback decodes in the browser: an H.264 MP4 with frames of the cine's size.
            video = page.locator("#playback video")
            video.wait_for(timeout=30_000)
            page.wait_for_function(
                "() => { const v = document.querySelector('#playback video');"
                " return v && v.readyState >= 2 && v.videoWidth > 0; }",
                timeout=30_000,
            )
            size = page.evaluate(
                "() => { const v = document.querySelector('#playback video');"
                " v.pause(); v.currentTime = 0.5; return [v.videoWidth, v.videoHeight]; }"
            )
            assert size == [320, 240]
            page.wait_for_function(
                "() => document.querySelector('#playback video').readyState >= 2", timeout=10_000
            )
            page.wait_for_timeout(500)
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert not offsite, f"the page tried to reach outside 127.0.0.1: {offsite[:5]}"
    assert not page_errors, page_errors[:3]
    print(f"verdict after {took:.1f} s; screenshot: {shot}")


@pytest.mark.timeout(180)
def test_webcam_live_tab_in_headless_chromium(served_demo: str) -> None:
    """Chromium's fake camera streams into the live tab; frames come back classified."""
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, timeout=60_000)
        try:
            context = browser.new_context(permissions=["camera"])
            page = context.new_page()
            page.route(
                "**/*",
                lambda r: (
                    r.continue_()
                    if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                    else r.abort()
                ),
            )
            page.goto(served_demo, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("tab", name="Live").click()
            page.get_by_text("Click to Access Webcam").click(timeout=30_000)
            page.locator("#webcam button").filter(has_text="Record").first.click(timeout=30_000)
            page.locator("#live-status").get_by_text("frames classified").wait_for(timeout=60_000)
            page.locator("#webcam-view img").wait_for(timeout=30_000)
            status = page.locator("#live-status").inner_text()
            assert int(status.split(": ")[1].split()[0]) >= 1, status
        finally:
            browser.close()


@pytest.mark.timeout(240)
def test_closing_the_tab_deletes_the_upload_and_playback(served_app, tmp_path: Path) -> None:
    """A DICOM uploaded under a patient's name: the playback URL names nothing, and the
    upload and playback are gone once the tab is closed (Gradio's unload event)."""
    from pydicom import examples

    url, app = served_app
    state = app.demo_state
    upload = tmp_path / "DOE_JOHN_1970.dcm"
    shutil.copy(examples.get_path("ybr_color"), upload)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page()
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                ("http://127.0.0.1", "data:", "blob:")) else r.abort())  # fmt: skip
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.locator("#upload input[type=file]").set_input_files(str(upload))
            page.locator("#upload").get_by_text("DOE_JOHN_1970.dcm").wait_for(timeout=60_000)
            page.get_by_role("button", name="Classify").click()
            page.locator("#verdict").get_by_text("Verdict:").wait_for(timeout=120_000)
            src = page.locator("#playback video").get_attribute("src", timeout=30_000) or ""
            assert src and "DOE" not in src, src
            kept = state.files.all_files()
            assert {p.suffix for p in kept} == {".dcm", ".mp4"} and all(p.exists() for p in kept)
            page.close()  # the session ends
            deadline = time.monotonic() + 60
            while any(p.exists() for p in kept) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not any(p.exists() for p in kept), [p.name for p in kept if p.exists()]
        finally:
            browser.close()
