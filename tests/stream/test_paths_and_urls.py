"""File paths (often patient names) and URL secrets stay out of reports, tables and errors:
``--paths basename|hash`` for ``classify``, ``probe`` and ``live``; passwords and secret query
values redacted from every URL shown."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from echostream.stream import cli_sources, cli_stream
from echostream.stream.errors import SourceError
from echostream.stream.names import KEY_ENV, PathNamer
from echostream.stream.sources.live import LiveSource, ReconnectPolicy, redact

pytestmark = pytest.mark.timeout(180)


def cli(*args: str | Path, env: dict[str, str] | None = None):
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_stream.register(app, bench)
    cli_sources.register(app, bench)
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def patient_folder(tmp_path_factory, small_cine) -> Path:
    """``DOE_JOHN_1970/``: a good cine, a truncated one, both named after the patient."""
    root = tmp_path_factory.mktemp("studies") / "DOE_JOHN_1970"
    root.mkdir()
    shutil.copy(small_cine, root / "DOE_JOHN_echo.dcm")
    data = small_cine.read_bytes()
    (root / "DOE_JOHN_bad.dcm").write_bytes(data[: len(data) // 2])
    return root


def test_path_namer_styles(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = "/data/DOE_JOHN/echo1.dcm"
    assert PathNamer.create("full")(path) == path
    assert PathNamer.create("basename")(path) == "echo1.dcm"
    keyed = PathNamer.create("hash", key="site secret")
    name = keyed(path)
    assert name.startswith("hmac-") and name.endswith(".dcm") and len(name) == 5 + 16 + 4
    assert "DOE" not in name and keyed(path) == name  # stable within a run
    assert PathNamer.create("hash", key="site secret")(path) == name  # and across runs, by key
    assert keyed("/data/DOE_JOHN/echo2.dcm") != name
    relative = os.path.relpath(path, tmp_path)  # the same file named from another folder
    assert keyed(relative) == keyed(Path(path)) == name
    env_keyed = PathNamer.create("hash", environ={KEY_ENV: "site secret"})
    assert env_keyed(path) == name
    run1, run2 = PathNamer.create("hash", environ={}), PathNamer.create("hash", environ={})
    assert run1(path) != run2(path)  # no key: a fresh random key per run
    assert "site secret" not in repr(keyed)
    assert keyed("/data/DOE JOHN.dcm;rm -rf").count(".") == 0  # an odd suffix is dropped
    with pytest.raises(ValueError, match="paths must be one of"):
        PathNamer.create("initials")


@pytest.mark.parametrize("style", ["hash", "basename"])
def test_classify_paths_option(patient_folder, stream_model, style) -> None:
    missing = patient_folder / "DOE_JOHN_missing.dcm"
    env = {KEY_ENV: "k"} if style == "hash" else {}
    res = cli("classify", patient_folder, missing, "--model", stream_model, "--json",
              "--paths", style, env=env)  # fmt: skip
    assert res.exit_code == 1, res.output  # the truncated and the missing file failed
    data = json.loads(res.stdout)
    assert len(data["cines"]) == 3 and data["summary"]["failed"] == 2
    assert "DOE_JOHN_1970" not in res.stdout + res.stderr  # the folder never shows
    if style == "hash":
        assert "DOE" not in res.stdout + res.stderr
        names = [c["path"] for c in data["cines"]]
        assert all(n.startswith("hmac-") and n.endswith(".dcm") for n in names)
        assert len(set(names)) == 3
        keyed = PathNamer.create("hash", key="k")
        assert keyed(patient_folder / "DOE_JOHN_echo.dcm") in names  # joinable with the key
        for c in data["failed"]:
            assert c["error"].startswith(c["path"] + ": ")
    else:
        names = sorted(c["path"] for c in data["cines"])
        assert names == ["DOE_JOHN_bad.dcm", "DOE_JOHN_echo.dcm", "DOE_JOHN_missing.dcm"]
    assert cli("classify", patient_folder, "--paths", "initials").exit_code == 2


def test_probe_paths_option(patient_folder) -> None:
    good, missing = patient_folder / "DOE_JOHN_echo.dcm", patient_folder / "nope.dcm"
    res = cli("probe", good, missing, "--json", "--speed-frames", "0", "--paths", "hash")
    assert res.exit_code == 1
    assert "DOE" not in res.stdout + res.stderr
    ok, bad = json.loads(res.stdout)
    assert ok["source"].startswith("hmac-") and ok["name"] == ok["source"]
    assert bad["source"].startswith("hmac-") and bad["error"] == "no such file"


def test_live_paths_option(patient_folder, stream_model, tmp_path) -> None:
    out_dir = tmp_path / "DOE_JOHN_out"
    out_dir.mkdir()
    report = tmp_path / "r.json"
    res = cli("live", patient_folder / "DOE_JOHN_echo.dcm", "--out", out_dir / "DOE_JOHN.mp4",
              "--model", stream_model, "--fast", "-q", "--json", report, "--paths", "basename",
              "--show", "--port", "0")  # fmt: skip
    assert res.exit_code == 0, res.output
    text = report.read_text()
    data = json.loads(text)
    assert data["source"]["name"] == "DOE_JOHN_echo.dcm" and data["out"] == "DOE_JOHN.mp4"
    assert str(patient_folder) not in text + res.stderr and str(out_dir) not in text


@pytest.mark.parametrize(
    ("url", "secrets", "kept"),
    [
        ("rtsp://admin:pa55word@10.0.0.5/live", ["pa55word"], "rtsp://admin:***@10.0.0.5/live"),
        ("srt://10.0.0.5:9000?mode=caller&passphrase=hunter22secret&latency=120",
         ["hunter22secret"], "srt://10.0.0.5:9000?mode=caller&passphrase=***&latency=120"),
        ("https://cam.example/s.ts?token=abc123&X-Amz-Signature=f00d&quality=hi",
         ["abc123", "f00d"], "https://cam.example/s.ts?token=***&X-Amz-Signature=***&quality=hi"),
        ("rtmp://u:p@h/app?key=K3Y&streamid=#!::u=doe,r=x", ["K3Y", "doe"], None),
        ("udp://127.0.0.1:5000?localaddr=127.0.0.1&pkt_size=1316", [],
         "udp://127.0.0.1:5000?localaddr=127.0.0.1&pkt_size=1316"),
        ("-", [], "-"),
        ("/dev/video0", [], "/dev/video0"),
        ("http://[broken/x?token=abc123", ["abc123"], None),
    ],
)  # fmt: skip
def test_redact(url: str, secrets: list[str], kept: str | None) -> None:
    shown = redact(url)
    assert not any(s in shown for s in secrets), shown
    if kept is not None:
        assert shown == kept


def test_live_source_errors_name_the_redacted_url() -> None:
    url = "rtsp://admin:pa55word@127.0.0.1:1/live?token=abc123"
    with pytest.raises(SourceError) as err:
        LiveSource(url, reconnect=ReconnectPolicy(max_retries=0), open_timeout=2.0)
    assert "pa55word" not in str(err.value) and "abc123" not in str(err.value)
    assert str(err.value).startswith("rtsp://admin:***@127.0.0.1:1/live?token=***: ")
