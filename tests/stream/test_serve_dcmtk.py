"""``echostream serve`` against a client nobody here wrote: DCMTK's ``storescu`` sends 208
simulated cines over 4 concurrent associations, the server is killed (SIGKILL) mid-run and
started again on the same spool and database, the senders retry what was not acknowledged
(and a few that were): every acknowledged instance ends up classified exactly once, none lost,
none duplicated. ``echoscu`` checks Verification. Skips when DCMTK is not installed
(``.ci/install-system.sh`` installs it)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from echostream.stream.defaults import default_model_path

from .serve_cines import PATIENT_NAME, PATIENT_PREFIX, ServerProcess, dcmtk_tool, write_cines

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
N_CINES, ASSOCIATIONS = 208, 4
STORESCU, ECHOSCU = dcmtk_tool("storescu"), dcmtk_tool("echoscu")
needs_dcmtk = pytest.mark.skipif(
    STORESCU is None or ECHOSCU is None,
    reason="DCMTK's storescu/echoscu not installed (Debian package dcmtk, .ci/install-system.sh)",
)


def _uid(path: str | Path) -> str:
    """The SOP Instance UID serve_cines.write_cines gave the file ``c<i>.dcm``."""
    return f"1.2.826.0.1.3680043.10.1496.8.{int(Path(path).stem[1:])}"


def _send(port: int, files: list[Path], logs: Path, tag: str) -> list[subprocess.Popen]:
    """One storescu per association, each with its share of ``files`` (JPEG proposed)."""
    procs = []
    for i in range(ASSOCIATIONS):
        share = [str(f) for f in files[i::ASSOCIATIONS]]
        with (logs / f"{tag}-{i}.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [str(STORESCU), "-v", "-xy", "-aet", "SCANNER", "-aec", "ECHOSTREAM",
                 "127.0.0.1", str(port), *share],
                stdout=log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
    return procs


def _acknowledged(logs: Path, tag: str) -> set[str]:
    """UIDs storescu heard "Success" for, from its verbose logs."""
    acked: set[str] = set()
    for log in logs.glob(f"{tag}-*.log"):
        current = None
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("I: Sending file: "):
                current = line.removeprefix("I: Sending file: ").strip()
            elif line.startswith("I: Received Store Response (Success)") and current:
                acked.add(_uid(current))
    return acked


def _db_uids(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return [r[0] for r in con.execute("SELECT sop_instance_uid FROM instances")]


def _printed(*outputs: Path) -> list[str]:
    """UIDs of the JSON lines the runs printed (a line cut by the kill is not counted)."""
    uids = []
    for out in outputs:
        for line in out.read_text().splitlines():
            try:
                uids.append(json.loads(line)["sop_instance_uid"])
            except json.JSONDecodeError:
                assert out.name.startswith("run1"), f"a bad JSON line from {out.name}"
    return uids


def _wait(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@needs_dcmtk
def test_storescu_load_kill9_restart_exactly_once(tmp_path) -> None:
    if not default_model_path().is_file():
        pytest.skip("the shipped model is missing")
    files = write_cines(tmp_path / "cines", N_CINES)
    logs = tmp_path / "logs"
    logs.mkdir()
    db = tmp_path / "results.sqlite"

    run1 = ServerProcess(tmp_path, "run1")
    t0 = time.monotonic()
    senders = _send(run1.port, files, logs, "send1")
    _wait(lambda: len(_acknowledged(logs, "send1")) >= 60, 60, "60 acknowledgements")
    rate1 = len(_acknowledged(logs, "send1")) / (time.monotonic() - t0)
    run1.proc.kill()  # SIGKILL mid-run: no shutdown code runs
    run1.proc.wait(10)
    for proc in senders:
        proc.wait(30)
    acked1 = _acknowledged(logs, "send1")
    assert 0 < len(acked1) < N_CINES, "the kill must come mid-run"

    run2 = ServerProcess(tmp_path, "run2")
    assert subprocess.run([str(ECHOSCU), "-aec", "ECHOSTREAM", "127.0.0.1", str(run2.port)],
                          timeout=30, check=False).returncode == 0  # fmt: skip
    retry = [f for f in files if _uid(f) not in acked1] + [f for f in files if _uid(f) in acked1][
        :8
    ]
    t1 = time.monotonic()
    senders = _send(run2.port, retry, logs, "send2")
    assert [proc.wait(60) for proc in senders] == [0] * ASSOCIATIONS
    sent_s = time.monotonic() - t1
    _wait(lambda: len(_db_uids(db)) >= N_CINES, 60, "every instance classified")
    done_s = time.monotonic() - t1
    assert run2.stop() == 0
    assert len(_acknowledged(logs, "send2")) == len(retry)

    rows = _db_uids(db)
    assert sorted(rows) == sorted(_uid(f) for f in files)  # none lost, one row each
    assert acked1 <= set(rows)
    printed = Counter(_printed(run1.stdout, run2.stdout))
    assert max(printed.values()) == 1, "an instance classified twice"
    assert len(set(rows) - set(printed)) <= 1  # at most the row committed as the kill came
    assert "0 left in the spool" in run2.stderr.read_text()
    assert not list((tmp_path / "spool").glob("*.dcm"))
    for path in (run1.stdout, run1.stderr, run2.stdout, run2.stderr, db):
        data = path.read_bytes()
        assert PATIENT_PREFIX.encode() not in data and PATIENT_NAME.encode() not in data
    print(
        f"\nserve: run 1 acknowledged {len(acked1)} of {N_CINES} before kill -9 "
        f"({rate1:.0f} instances/s acknowledged); run 2: {len(retry)} resent "
        f"({len(retry) / sent_s:.0f} instances/s acknowledged), all {N_CINES} classified "
        f"{done_s:.1f} s after the resend began"
    )
