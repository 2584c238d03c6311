"""Forward a classified instance, unchanged, to another DICOM node (``--forward AE@host:port``).

One association per instance, with the instance's own SOP class and transfer syntax. The
outcome is ``"ok"`` or a one-line reason (never a patient field), recorded in the instance's
row; a node that is down costs that instance's forwarding, not its verdict.

Example::

    forward = Forwarder.parse("PACS@10.0.0.5:104", calling_ae="ECHOSTREAM")
    forward(Path("spool/1.2.3.dcm"))   # 'ok'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_TARGET = re.compile(r"(?P<ae>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>[0-9]{1,5})")


@dataclass(frozen=True)
class Forwarder:
    """Sends files to ``ae_title`` at ``host:port`` as ``calling_ae``."""

    ae_title: str
    host: str
    port: int
    calling_ae: str = "ECHOSTREAM"
    timeout_s: float = 30.0

    @classmethod
    def parse(cls, target: str, calling_ae: str = "ECHOSTREAM") -> Forwarder:
        """``AE@host:port`` → a forwarder; ValueError naming the expected form.

        >>> Forwarder.parse("PACS@pacs.local:104").port
        104
        """
        match = _TARGET.fullmatch(target.strip())
        if match is None or not 0 < int(match["port"]) < 65536:
            raise ValueError(f"--forward must look like AE@host:port, not {target!r}")
        return cls(match["ae"], match["host"], int(match["port"]), calling_ae)

    def __call__(self, path: Path) -> str:
        """Send ``path``; ``"ok"`` or the one-line reason it was not stored."""
        from pydicom.filereader import read_file_meta_info
        from pynetdicom import AE

        try:
            meta = read_file_meta_info(path)
            ae = AE(ae_title=self.calling_ae)
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
            ae.add_requested_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
            assoc = ae.associate(self.host, self.port, ae_title=self.ae_title)
        except Exception as err:  # noqa: BLE001 - one line, whatever went wrong
            return f"error: {type(err).__name__}"
        if not assoc.is_established:
            return "error: association refused or failed"
        try:
            status = assoc.send_c_store(path)
        except Exception as err:  # noqa: BLE001
            return f"error: {type(err).__name__}"
        finally:
            assoc.release()
        code = getattr(status, "Status", None)
        if code is None:
            return "error: no response"
        return "ok" if code in (0x0000, 0xB000, 0xB007, 0xB006) else f"error: status 0x{code:04X}"
