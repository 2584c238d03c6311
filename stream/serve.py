"""``echostream serve``: a DICOM Storage SCP that classifies each cine as it arrives.

Scanners and PACS push instances over the DICOM network (C-STORE); each accepted instance is
spooled to disk (:mod:`.serve_spool`) *before* the sender is told "stored", then classified
from the spool by a worker pool (:mod:`.serve_worker`, the same code as ``classify``) into an
SQLite database (:mod:`.results_db`) and one JSON line on stdout. On start, what a previous run
left in the spool is classified first. C-ECHO (Verification) is answered.

Accepted: US Image and US Multi-frame Image Storage (and their retired forms), Secondary
Capture single and multi-frame (byte grayscale, true colour), Video Endoscopic / Microscopic /
Photographic Image Storage, in the transfer syntaxes the readers decode (native, deflated,
JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE, and the MPEG-2 / H.264 / HEVC video
syntaxes, whose one bitstream :mod:`.sources.dicom_video` decodes).

Bounded: when the spool holds ``max_pending`` instances or ``max_spool_bytes``, a C-STORE is
refused with status 0xA700 (out of resources), never left hanging; so is one arriving during
shutdown. Shutdown (SIGTERM, SIGINT) stops listening, lets open associations finish (for up to
``grace_s``), lets each worker finish the instance in hand, and leaves the rest spooled.

Example::

    receiver = Receiver(ServeOptions(port=11112, spool="spool", db="results.sqlite"),
                        engine, cfg, emit=print)
    receiver.run_until_signal()
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pipeline import Engine
from .results_db import ResultsDB
from .serve_spool import Admission, Spool
from .serve_worker import WorkerPool
from .sources.dicom_video import VIDEO_SYNTAXES

log = logging.getLogger(__name__)

VERIFICATION = "1.2.840.10008.1.1"
#: SOP classes whose pixel data the readers classify.
STORAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "US Image Storage",
    "1.2.840.10008.5.1.4.1.1.3.1": "US Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.6": "US Image Storage (retired)",
    "1.2.840.10008.5.1.4.1.1.3": "US Multi-frame Image Storage (retired)",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.1.1": "Video Endoscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.2.1": "Video Microscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.4.1": "Video Photographic Image Storage",
}
#: Transfer syntaxes the readers decode (pydicom + pylibjpeg, see stream/sources/dicom.py).
TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2",  # implicit VR little endian
    "1.2.840.10008.1.2.1",  # explicit VR little endian
    "1.2.840.10008.1.2.1.99",  # deflated explicit VR little endian
    "1.2.840.10008.1.2.2",  # explicit VR big endian (retired)
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE lossless
    *sorted(VIDEO_SYNTAXES),  # MPEG-2 MP@ML/MP@HL, H.264 (4.1, BD, 4.2 2D/3D/stereo), HEVC
]
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000


@dataclass
class ServeOptions:
    """Where and how the receiver listens, spools and stores (see ``echostream serve --help``)."""

    spool: str | Path
    db: str | Path
    ae_title: str = "ECHOSTREAM"
    host: str = "127.0.0.1"
    port: int = 11112
    workers: int = 1
    max_pending: int = 1000
    max_spool_bytes: int = 2 << 30
    max_associations: int = 16
    forward: str | None = None
    require_called_ae: bool = False
    grace_s: float = 30.0


@dataclass
class Counts:
    """What the receiver did since it started."""

    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    resumed: int = 0


def json_line_writer() -> Any:
    """A thread-safe ``emit``: each row as one compact JSON line on stdout."""
    lock = threading.Lock()

    def emit(row: dict[str, Any]) -> None:
        line = json.dumps(row, separators=(",", ":"), allow_nan=False)
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    return emit


class Receiver:
    """The Storage SCP with its spool, database and workers."""

    def __init__(
        self, options: ServeOptions, engine: Engine, cfg: dict[str, Any], *, emit: Any
    ) -> None:
        from .serve_forward import Forwarder

        self.options = options
        self.spool = Spool(
            options.spool,
            max_instances=options.max_pending,
            max_bytes=options.max_spool_bytes,
        )
        self.db = ResultsDB(options.db)
        forward = Forwarder.parse(options.forward, options.ae_title) if options.forward else None
        self.pool = WorkerPool(
            engine, cfg, self.spool, self.db, emit=emit, workers=options.workers, forward=forward
        )
        self.counts = Counts()
        self._count_lock = threading.Lock()
        self._closing = threading.Event()
        self._stop = threading.Event()
        self._server: Any = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when asked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Queue what the spool holds from before, start the workers, start listening."""
        from pynetdicom import AE, evt

        logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # no dumps of requests
        for path in self.spool.resume():
            self.pool.submit(path)
            self.counts.resumed += 1
        self.pool.start()
        ae = AE(ae_title=self.options.ae_title)
        ae.maximum_associations = self.options.max_associations
        ae.require_called_aet = self.options.require_called_ae
        ae.maximum_pdu_size = 0  # no limit on what the peer sends per PDU
        ae.add_supported_context(VERIFICATION)
        for sop_class in STORAGE_CLASSES:
            ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda _: STATUS_SUCCESS),
        ]
        self._server = ae.start_server(
            (self.options.host, self.options.port), block=False, evt_handlers=handlers
        )

    def _count(self, name: str) -> None:
        with self._count_lock:
            setattr(self.counts, name, getattr(self.counts, name) + 1)

    def _on_store(self, event: Any) -> int:
        """Spool one instance, then answer: stored, duplicate (also "stored"), or refused."""
        if self._closing.is_set():
            self._count("refused")
            return STATUS_OUT_OF_RESOURCES
        uid = str(event.request.AffectedSOPInstanceUID or "")
        if not uid:
            return STATUS_CANNOT_UNDERSTAND
        if self.db.has(uid):
            self._count("duplicates")
            return STATUS_SUCCESS
        try:
            admission = self.spool.admit(uid, event.encoded_dataset(include_meta=True))
        except OSError as err:  # disk full, spool folder gone: refuse, say why (no names)
            log.error("spool write failed (%s): instance refused", type(err).__name__)
            self._count("refused")
            return STATUS_OUT_OF_RESOURCES
        if admission is Admission.FULL:
            self._count("refused")
            return STATUS_OUT_OF_RESOURCES
        if admission is Admission.DUPLICATE:
            self._count("duplicates")
        else:
            self._count("stored")
            self.pool.submit(self.spool.path_of(uid))
        return STATUS_SUCCESS

    def stop(self) -> None:
        """Stop listening, let open associations finish (up to ``grace_s``, then abort them),
        let each worker finish the instance in hand; the rest stays spooled."""
        self._closing.set()
        if self._server is not None:
            server, self._server = self._server, None
            deadline = time.monotonic() + self.options.grace_s
            server.shutdown()  # no new connections from here on
            active = server.active_associations
            while any(a.is_alive() for a in active) and time.monotonic() < deadline:
                time.sleep(0.05)
            for assoc in active:
                if assoc.is_alive():
                    assoc.abort()
        self.pool.stop()
        self.db.close()

    def request_stop(self, *_: Any) -> None:
        """Ask :meth:`run_until_signal` to stop (a signal handler)."""
        self._stop.set()

    def run_until_signal(self, on_ready: Any = None) -> Counts:
        """Start, call ``on_ready(self)``, serve until SIGTERM or SIGINT, then :meth:`stop`."""
        stops = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self.request_stop) for sig in stops}
        try:
            self.start()
            if on_ready is not None:
                on_ready(self)
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.counts
