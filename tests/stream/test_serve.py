"""``echostream serve`` with pynetdicom's own SCU (in process): C-ECHO, C-STORE into the spool
and the database, duplicates, refusal when the spool is full (0xA700), resume after a stop,
forwarding, ``echostream results``; and the spool and database on their own."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest
import typer
from typer.testing import CliRunner

from echostream.stream import cli_serve
from echostream.stream.defaults import default_model_path, load_stream_config
from echostream.stream.pipeline import Engine
from echostream.stream.results_db import ResultsDB, hash_key, patient_hash
from echostream.stream.serve import STATUS_OUT_OF_RESOURCES, Receiver, ServeOptions
from echostream.stream.serve_forward import Forwarder
from echostream.stream.serve_spool import Admission, Spool

from .serve_cines import PATIENT_NAME, PATIENT_PREFIX, write_cines

pynetdicom = pytest.importorskip("pynetdicom")
pytestmark = pytest.mark.timeout(120)
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


@pytest.fixture(scope="module")
def engine() -> Engine:
    if not default_model_path().is_file():
        pytest.skip("the shipped model is missing")
    return Engine.load(default_model_path(), "onnxruntime", threads=1, spin=False)


@pytest.fixture(scope="module")
def cines(tmp_path_factory: pytest.TempPathFactory) -> list:
    return write_cines(tmp_path_factory.mktemp("cines"), 6, per_series=3)


def _receiver(tmp_path, engine, rows: list, **options) -> Receiver:
    opts = ServeOptions(spool=tmp_path / "spool", db=tmp_path / "r.sqlite", port=0, **options)
    return Receiver(opts, engine, load_stream_config(), emit=rows.append)


def _associate(port: int, *contexts: str):  # noqa: ANN202
    ae = pynetdicom.AE(ae_title="SCANNER")
    for sop_class in contexts:
        ae.add_requested_context(sop_class, ["1.2.840.10008.1.2.4.50"])
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="ECHOSTREAM")
    assert assoc.is_established
    return assoc


def _store(assoc, paths) -> list[int]:  # noqa: ANN001
    return [int(assoc.send_c_store(str(p)).Status) for p in paths]


def test_spool_limits_duplicates_and_resume(tmp_path) -> None:
    spool = Spool(tmp_path, max_instances=2, max_bytes=100)
    (tmp_path / ".1.2.3.dcm.abc.tmp").write_bytes(b"half")  # a write cut by a crash
    spool = Spool(tmp_path, max_instances=2, max_bytes=100)
    assert not list(tmp_path.glob("*.tmp"))
    assert spool.admit("1.2.3", b"x" * 40) is Admission.STORED
    assert spool.admit("1.2.3", b"x" * 40) is Admission.DUPLICATE
    assert spool.admit("1.2.4", b"x" * 70) is Admission.FULL  # bytes
    assert spool.admit("../../etc", b"x" * 10) is Admission.STORED
    assert spool.admit("1.2.5", b"x") is Admission.FULL  # count
    assert sorted(p.name[:2] for p in tmp_path.iterdir()) == ["1.", "x-"]
    again = Spool(tmp_path, max_instances=2, max_bytes=100)
    assert len(again.resume()) == 2 and again.bytes == 50
    again.remove(again.path_of("1.2.3"))
    assert again.pending == 1 and again.admit("1.2.5", b"x") is Admission.STORED


def test_results_db_one_row_per_instance_and_keyed_hash(tmp_path) -> None:
    with ResultsDB(tmp_path / "r.sqlite") as db:
        assert db.insert({"sop_instance_uid": "1.2", "series_instance_uid": "9", "status": "ok",
                          "view": "A4C"})  # fmt: skip
        assert not db.insert({"sop_instance_uid": "1.2", "status": "error"})
        assert db.count() == 1 and db.has("1.2") and not db.has("1.3")
        assert db.series_summary() == [
            {"series_instance_uid": "9", "instances": 1, "classified": 1, "views": {"A4C": 1}}
        ]
    key = hash_key(tmp_path / "r.sqlite", environ={})
    assert stat.S_IMODE(os.stat(tmp_path / "r.sqlite.key").st_mode) == 0o600
    assert hash_key(tmp_path / "r.sqlite", environ={}) == key  # the same file next time
    assert hash_key(tmp_path / "r.sqlite", environ={"ECHOSTREAM_PATH_KEY": "k"}) == b"k"
    assert patient_hash(key, "P1") != patient_hash(b"k", "P1")
    assert patient_hash(key, "") is None


def test_forward_target_parsing() -> None:
    assert Forwarder.parse("PACS@10.0.0.5:104").port == 104
    for bad in ("PACS", "PACS@host", "@h:1", "A@h:99999", "A@h:x"):
        with pytest.raises(ValueError, match="AE@host:port"):
            Forwarder.parse(bad)


def test_pynetdicom_scu_stores_echoes_and_duplicates(tmp_path, engine, cines) -> None:
    rows: list = []
    receiver = _receiver(tmp_path, engine, rows, workers=2)
    receiver.start()
    try:
        assoc = _associate(receiver.port, US_MULTIFRAME)
        assert int(assoc.send_c_echo().Status) == 0
        assert _store(assoc, cines) == [0] * len(cines)
        assert _store(assoc, cines[:2]) == [0, 0]  # a sender's retry: "stored", no new row
        assoc.release()
        receiver.pool.stop(drain=True)
    finally:
        receiver.stop()
    assert len(rows) == len(cines) and {r["status"] for r in rows} == {"ok"}
    assert receiver.counts.duplicates == 2 and receiver.spool.pending == 0
    with ResultsDB(tmp_path / "r.sqlite") as db:
        assert db.count() == len(cines)
        series = db.series_summary()
    assert [s["instances"] for s in series] == [3, 3]
    assert len({r["patient_hash"] for r in rows}) == 1  # 2 series of one patient
    for data in (json.dumps(rows).encode(), (tmp_path / "r.sqlite").read_bytes()):
        assert PATIENT_PREFIX.encode() not in data and PATIENT_NAME.encode() not in data


def test_full_spool_refuses_then_resumes_after_restart(tmp_path, engine, cines) -> None:
    rows: list = []
    receiver = _receiver(tmp_path, engine, rows, max_pending=2)
    receiver.pool.start = lambda: None  # workers never start: the spool fills
    receiver.start()
    try:
        assoc = _associate(receiver.port, US_MULTIFRAME)
        assert _store(assoc, cines[:3]) == [0, 0, STATUS_OUT_OF_RESOURCES]
        assoc.release()
    finally:
        receiver.stop()
    assert receiver.counts.refused == 1 and not rows
    assert len(list((tmp_path / "spool").glob("*.dcm"))) == 2
    again = _receiver(tmp_path, engine, rows)
    again.start()  # what the first run left is classified first
    again.pool.stop(drain=True)
    again.stop()
    assert again.counts.resumed == 2 and len(rows) == 2
    assert not list((tmp_path / "spool").glob("*.dcm"))


def test_stop_refuses_new_stores_and_waits_for_open_associations(tmp_path, engine, cines):
    rows: list = []
    receiver = _receiver(tmp_path, engine, rows, grace_s=20.0)
    receiver.start()
    assoc = _associate(receiver.port, US_MULTIFRAME)
    assert _store(assoc, cines[:1]) == [0]
    stopper = threading.Thread(target=receiver.stop)
    stopper.start()  # as on SIGTERM
    time.sleep(0.3)
    assert _store(assoc, cines[1:2]) == [STATUS_OUT_OF_RESOURCES]  # refused, not left hanging
    assert stopper.is_alive()  # waits for the open association
    assoc.release()
    stopper.join(10)
    assert not stopper.is_alive()
    spooled = len(list((tmp_path / "spool").glob("*.dcm")))
    assert len(rows) + spooled == 1  # the stored instance: classified, or waiting for next run


def test_forward_sends_the_instance_on(tmp_path, engine, cines) -> None:
    received: list[str] = []

    def on_store(event) -> int:  # noqa: ANN001
        received.append(str(event.request.AffectedSOPInstanceUID))
        return 0

    pacs = pynetdicom.AE(ae_title="PACS")
    pacs.add_supported_context(US_MULTIFRAME, ["1.2.840.10008.1.2.4.50"])
    server = pacs.start_server(("127.0.0.1", 0), block=False,
                               evt_handlers=[(pynetdicom.evt.EVT_C_STORE, on_store)])  # fmt: skip
    rows: list = []
    receiver = _receiver(
        tmp_path, engine, rows, forward=f"PACS@127.0.0.1:{server.server_address[1]}"
    )
    receiver.start()
    try:
        assoc = _associate(receiver.port, US_MULTIFRAME)
        assert _store(assoc, cines[:2]) == [0, 0]
        assoc.release()
        receiver.pool.stop(drain=True)
    finally:
        receiver.stop()
        server.shutdown()
    assert sorted(received) == sorted(r["sop_instance_uid"] for r in rows)
    assert {r["forwarded"] for r in rows} == {"ok"}


def test_results_command_exports(tmp_path) -> None:
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.insert({"sop_instance_uid": "1.2", "series_instance_uid": "9", "status": "ok",
                   "view": "PLAX", "confidence": 0.9})  # fmt: skip
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    cli_serve.register(app, bench)
    runner = CliRunner()
    out = runner.invoke(app, ["results", str(tmp_path / "r.sqlite"), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)[0]["view"] == "PLAX"
    out = runner.invoke(app, ["results", str(tmp_path / "r.sqlite"), "--csv"])
    assert out.stdout.splitlines()[1].startswith("1.2,9,,,ok,PLAX,0.9")
    out = runner.invoke(app, ["results", str(tmp_path / "r.sqlite")])
    assert "PLAX 1" in out.stdout and "1 series, 1 instance(s)" in out.stdout
    out = runner.invoke(app, ["results", str(tmp_path / "none.sqlite")])
    assert out.exit_code == 1 and "no such results database" in out.output
    assert not (tmp_path / "none.sqlite").exists()


def test_serve_doctests() -> None:
    import doctest

    from echostream.stream import results_db, serve_forward, serve_spool

    for module in (results_db, serve_forward, serve_spool):
        assert doctest.testmod(module).failed == 0, module.__name__
