"""The malformed-input corpus (tests/stream/malformed.py): every reader answers every case, and
one ``classify --json`` batch of all of them with good files keeps the good files' labels.

The batch runs in a child process so that its stderr (no traceback allowed), exit status and
peak memory (Linux ``VmHWM``) are those of the real command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from echostream.stream.errors import SourceError, display_name
from echostream.stream.sources import open_source

from .malformed import Case, build_corpus

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::UserWarning:pydicom.*"),  # the corpus is invalid on purpose
]

#: Peak resident memory allowed for the whole batch (model, ONNX Runtime, 2 decode workers).
#: Measured on 2 cores: 300 MB, of which ~136 MB is the refused Deflate bomb's capped inflate
#: (MAX_INFLATED, 128 MB); before the caps, one 8192² JPEG-LS header alone took 0.8-1.2 GB.
PEAK_RSS_MB = 600


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def good_files(tmp_path_factory: pytest.TempPathFactory, ybr_color_path: Path) -> list[Path]:
    """pydicom's real echo cine, a simulated A4C cine and a simulated PNG still."""
    from echostream.stream.dicom_writer import UltrasoundRegion, write_cine
    from echostream.train.simulator.cine import CineSpec, render_cine

    root = tmp_path_factory.mktemp("good")
    cine = render_cine(CineSpec(seed=0, patient=0, view="A4C", vendor="epiq7g",
                                size=(160, 120), n_frames=12))  # fmt: skip
    sim = write_cine(root / "simulated.dcm", cine.frames, fps=cine.fps,
                     regions=[UltrasoundRegion(*cine.region)])  # fmt: skip
    png = root / "simulated.png"
    Image.fromarray(cine.frames[0]).save(png)
    return [ybr_color_path, sim, png]


def test_corpus_is_large_and_covers_every_family(corpus: list[Case]) -> None:
    families = Counter(c.family for c in corpus)
    assert len(corpus) >= 100, families
    assert set(families) == {"fs", "header", "tags", "timing", "encaps", "deflate", "video",
                             "image"}  # fmt: skip
    assert len({c.name for c in corpus}) == len(corpus)
    assert Counter(c.expect for c in corpus)["warning"] >= 20


def _outcome(case: Case) -> tuple[str, str | list[str]]:
    try:
        with open_source(case.path, luminance=True, target_size=(60, 80), workers=2) as src:
            frames = sum(1 for _ in src)
            assert frames > 0
            return "ok", list(src.info.warnings)
    except SourceError as err:
        return "error", str(err)


def test_every_reader_answers_every_case(corpus: list[Case]) -> None:
    """Straight through the readers: a one-line SourceError naming the file, or frames with
    the expected warning; never another exception."""
    wrong = []
    for case in corpus:
        status, said = _outcome(case)
        if case.expect == "error":
            ok = status == "error" and isinstance(said, str)
            ok = ok and "\n" not in said and said.startswith(display_name(case.path) + ": ")
            ok = ok and all(w in said.lower() for w in case.words)
            ok = ok and "cannot be processed" not in said  # a specific reason, not the wrapper
        elif case.expect == "warning":
            ok = status == "ok" and any(all(w in n.lower() for w in case.words) for n in said)
        else:
            ok = status == "ok" and not said
        if not ok:
            wrong.append(f"{case.family}/{case.name}: {status} {said!r}")
    assert not wrong, "\n".join(wrong)


#: Runs the CLI and, at exit, writes the process's peak RSS (VmHWM, KiB) to argv[1]. VmHWM
#: starts afresh at exec; rusage's ru_maxrss would include the forking pytest process.
_WRAPPER = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as f:
        kib = next(line.split()[1] for line in f if line.startswith("VmHWM"))
    with open(out, "w") as f:
        f.write(kib)
atexit.register(peak)
runpy.run_module("echostream.stream.cli", run_name="__main__")
"""


def _classify(files: list[Path], model: Path, out: Path) -> tuple[int, str, str, float]:
    """``echostream classify --json`` in a child: (exit status, stdout, stderr, peak RSS MB)."""
    stdout, stderr, peak = out / "stdout.json", out / "stderr.txt", out / "peak.txt"
    cmd = [sys.executable, "-c", _WRAPPER, str(peak), "classify", "--json",
           "--model", str(model), *(str(f) for f in files)]  # fmt: skip
    with stdout.open("wb") as so, stderr.open("wb") as se:
        proc = subprocess.run(cmd, stdout=so, stderr=se, timeout=240, check=False)
    rss_mb = int(peak.read_text()) / 1024
    return proc.returncode, stdout.read_text("utf-8"), stderr.read_text("utf-8"), rss_mb


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc")
def test_classify_batch_of_the_whole_corpus(
    corpus: list[Case], good_files: list[Path], stream_model: Path, tmp_path: Path
) -> None:
    files = [*good_files[:2], *(c.path for c in corpus), good_files[2]]
    code, out, err, rss_mb = _classify(files, stream_model, tmp_path)
    assert code == 1, err
    data = json.loads(out)
    errors = {c["error"] for c in data["cines"] if c["error"]}
    for line in err.splitlines():  # no traceback: only the failed list and per-file warnings
        ok = line.strip() in errors or line.endswith("file(s) failed:")
        assert ok or line.startswith("WARNING echostream."), line
    by_path = {c["path"]: c for c in data["cines"]}
    assert len(data["cines"]) == len(files) == len(by_path)
    for good in good_files:
        res = by_path[display_name(good)]
        assert res["status"] == "ok" and res["view"] and res["frames"] >= 1, res
        assert not any("look like" in w or "too small" in w for w in res["warnings"]), res
    wrong = []
    for case in corpus:
        res = by_path[display_name(case.path)]
        if case.expect == "error":
            error = res["error"] or ""
            ok = res["status"] == "error" and "\n" not in error
            ok = ok and error.startswith(res["path"] + ": ")
            ok = ok and all(w in error.lower() for w in case.words) and error in err
        else:
            ok = res["status"] == "ok" and res["view"] is not None
            if case.expect == "warning":
                ok = ok and any(all(w in n.lower() for w in case.words) for n in res["warnings"])
        if not ok:
            wrong.append(f"{case.family}/{case.name}: {res}")
    assert not wrong, "\n".join(wrong)
    failed = sum(c.expect == "error" for c in corpus)
    assert data["summary"]["failed"] == failed and len(data["failed"]) == failed
    assert rss_mb < PEAK_RSS_MB, f"peak RSS {rss_mb:.0f} MB"
    print(f"classify batch of {len(files)} files: peak RSS {rss_mb:.0f} MB")
