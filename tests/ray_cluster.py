"""A real Ray cluster on 127.0.0.1 for tests: a head and one worker node, 1 CPU each.

Both nodes are ``ray start --block`` child processes of the test, each in its own process
group, with their own ``--temp-dir``: stopping them signals only these processes (never
``ray stop``, which would end every Ray process of the user on the machine, other people's
included). Start and stop are bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START_TIMEOUT_S = 90.0
AUTH_ENV = "RAY_AUTH_MODE"
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class LocalRayCluster:
    """``with LocalRayCluster() as cluster: ...`` (``cluster.address``: ``127.0.0.1:PORT``)."""

    def __init__(self, cpus_per_node: int = 1) -> None:
        self.cpus = cpus_per_node
        self.port = free_port()
        # short: Ray's unix sockets live under it (a socket path has ~107 characters at most)
        self.temp = Path(tempfile.mkdtemp(prefix="esray-", dir="/tmp"))
        self.procs: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _node(self, name: str, *args: str) -> None:
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}", "--num-gpus=0",
               f"--temp-dir={self.temp}", "--disable-usage-stats", *args]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.setdefault(AUTH_ENV, "token")  # both nodes alike (Ray's defaults differ)
        env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "3"  # the head never drains: no 30 s wait
        with (self.temp / f"{name}.log").open("wb") as log:
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                               env=env, start_new_session=True))  # fmt: skip

    def _wait(self, ready, what: str) -> None:  # noqa: ANN001
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"local Ray cluster: {what} did not start ({self.temp})")
            time.sleep(0.3)

    def start(self) -> str:
        """Start both nodes. Ray listens on every interface: the nodes take token
        authentication (``$RAY_AUTH_MODE``, token by default; the token in ~/.ray/auth_token, or
        ``$RAY_AUTH_TOKEN``, which tests/conftest.py makes for the session when there is none:
        ``ray start`` makes none), which this process must have had set before it first
        imported ray (tests/conftest.py sets both)."""
        try:
            self._node("head", "--head", f"--port={self.port}", "--include-dashboard=false")
            self._wait(lambda: _listening(self.port), "the head node")
            self._node("worker", f"--address={self.address}")
            self._wait(lambda: self.alive_nodes() >= 2, "the worker node")
        except BaseException:
            self.stop()
            raise
        return self.address

    def alive_nodes(self) -> int:
        import ray

        ray.init(address=self.address, logging_level="ERROR", log_to_driver=False)
        try:
            return sum(bool(n["Alive"]) for n in ray.nodes())
        finally:
            ray.shutdown()

    def stop(self) -> None:
        """Worker first, then head: SIGTERM to each ``ray start`` (it stops its node's
        processes), then SIGKILL to whatever is left in that process group."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        self.procs = []
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
