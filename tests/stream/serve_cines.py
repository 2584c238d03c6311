"""Helpers for the ``echostream serve`` tests: small simulated cines with fake patients, the
server as a child process (for kill -9), and finding DCMTK's tools (pynetdicom installs
console scripts of the same names: ``storescu``, ``echoscu``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from echostream.stream.dicom_writer import Identity, UltrasoundRegion, write_cine

from .conftest import synthetic_frames

PATIENT_NAME = "DOE^JANE"
PATIENT_PREFIX = "PID-SECRET-"
#: The server launched as ``python -c LAUNCH serve ...`` (cli_serve registered on a typer app).
LAUNCH = (
    "import typer; from echostream.stream import cli_serve; app = typer.Typer(); "
    "bench = typer.Typer(); app.add_typer(bench, name='bench'); "
    "cli_serve.register(app, bench); app()"
)


def write_cines(folder: Path, n: int, per_series: int = 8) -> list[Path]:
    """``n`` JPEG cines (4 frames of 48×64), ``per_series`` to a series, 3 series a patient."""
    paths = []
    for i in range(n):
        series = i // per_series
        identity = Identity(
            patient_name=PATIENT_NAME,
            patient_id=f"{PATIENT_PREFIX}{series // 3:03d}",
            series_uid=f"1.2.826.0.1.3680043.10.1496.9.{series}",
            sop_uid=f"1.2.826.0.1.3680043.10.1496.8.{i}",
        )
        paths.append(
            write_cine(folder / f"c{i:04d}.dcm", synthetic_frames(4, 48, 64, seed=i % 7),
                       fps=25, regions=[UltrasoundRegion(2, 2, 62, 46)], identity=identity)
        )  # fmt: skip
    return paths


def dcmtk_tool(name: str) -> str | None:
    """The path of DCMTK's ``name`` on PATH (skipping pynetdicom's look-alikes), or None."""
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
        candidate = shutil.which(name, path=folder)
        if candidate is None:
            continue
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True,
                                 timeout=10, check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        if "dcmtk" in (out.stdout + out.stderr).lower():
            return candidate
    return None


class ServerProcess:
    """``echostream serve --port 0`` in a child process; stdout (JSON lines) and stderr go to
    files in ``folder``; :attr:`port` once it listens."""

    def __init__(self, folder: Path, name: str, *extra: str) -> None:
        self.stdout = folder / f"{name}.jsonl"
        self.stderr = folder / f"{name}.err"
        args = ["serve", "--port", "0", "--db", str(folder / "results.sqlite"),
                "--spool", str(folder / "spool"), "--threads", "1", *extra]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "ECHOSTREAM_PATH_KEY"}
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *args], stdout=out,
                                         stderr=err, env=env)  # fmt: skip
        self.port = self._wait_ready(timeout=60.0)

    def _wait_ready(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stderr.read_text(errors="replace").splitlines():
                if line.startswith("listening:"):
                    return int(line.split(" on ")[1].split(";")[0].rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.stderr.read_text()}")
            time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError("server did not start listening")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then its exit status."""
        self.proc.terminate()
        return self.proc.wait(timeout)
