"""A live source's connection bookkeeping: the reconnect policy, its statistics, what a lost
connection was (and whether retrying can help), bounded reads from a pipe, and URLs made safe to
show (no password or secret query values).

Example::

    policy = ReconnectPolicy(max_retries=3, initial_backoff=0.5)
    policy.delay(2)                                      # seconds before the third try
    redact("rtsp://admin:secret@10.0.0.5/live")          # 'rtsp://admin:***@10.0.0.5/live'
"""

from __future__ import annotations

import io
import os
import re
import select
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class ReconnectPolicy:
    """How often and how patiently to (re)connect.

    Opening makes ``1 + max_retries`` tries; a stream lost later gets ``max_retries`` tries to
    come back (0: never reconnect). Retry ``k`` waits ``initial_backoff * multiplier**k``
    seconds, at most ``max_backoff``. The count starts afresh after every connection.

    >>> [ReconnectPolicy(3, 0.5, 1.5, 2.0).delay(k) for k in range(3)]
    [0.5, 1.0, 1.5]
    """

    max_retries: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_backoff < 0 or self.multiplier < 1:
            raise ValueError(f"invalid reconnect policy: {self}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        return float(min(self.max_backoff, self.initial_backoff * self.multiplier**retry))


@dataclass
class LiveStats:
    """What happened on a live source, for later stages to report.

    ``dropped`` counts frames missing from the stream: gaps in PTS beyond the expected frame
    interval, plus frames estimated lost while reconnecting. ``corrupt`` counts packets that
    failed to decode and frames FFmpeg flagged corrupt (those are not handed out).
    """

    frames: int = 0
    reconnects: int = 0
    failed_tries: int = 0
    dropped: int = 0
    corrupt: int = 0
    last_error: str | None = None
    ended: str | None = None


#: Query keys whose values are secrets (or identify someone): their values are never shown.
_SECRET_QUERY = re.compile(
    r"pass|pwd|secret|token|key|auth|sig|cred|session|streamid|user|login", re.IGNORECASE
)


def redact(url: str) -> str:
    """A URL without its password or secret query values, safe for logs, errors and pages.

    >>> redact("rtsp://admin:secret@10.0.0.5/live")
    'rtsp://admin:***@10.0.0.5/live'
    >>> redact("srt://10.0.0.5:9000?mode=caller&passphrase=hunter2&latency=120")
    'srt://10.0.0.5:9000?mode=caller&passphrase=***&latency=120'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # not parseable: keep only what comes before any query or userinfo
        return re.sub(r"^([a-zA-Z][\w+.-]*://)[^/?#]*@", r"\1***@", url.split("?", 1)[0])
    netloc = parts.netloc
    user, at, host = netloc.rpartition("@")
    if at and ":" in user:
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    fields = [
        f"{k}=***" if _SECRET_QUERY.search(k) and sep else f"{k}{sep}{v}"
        for k, sep, v in (field.partition("=") for field in parts.query.split("&"))
    ]
    query = "&".join(fields) if parts.query else ""
    fragment = "***" if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


class PipeReader(io.RawIOBase):
    """stdin (or any fd) as a readable file whose reads give up after ``timeout`` seconds."""

    def __init__(self, fd: int, timeout: float) -> None:
        super().__init__()
        self.fd = fd
        self.timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            raise TimeoutError(f"no data on the pipe for {self.timeout:g} s")
        data = os.read(self.fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)


class ConnectionLost(Exception):
    """The current connection is gone (error, timeout or end of stream).

    ``fatal`` means trying again cannot help (unknown protocol or format, bad option).
    """

    def __init__(self, reason: str, fatal: bool = False) -> None:
        super().__init__(reason)
        self.fatal = fatal


def is_fatal_open_error(err: BaseException, first: bool) -> bool:
    """Whether an open error cannot go away by trying again: an unknown protocol, format or
    option; a device or file that does not exist (when first opened, not after a loss)."""
    import av

    if isinstance(
        err,
        av.error.ProtocolNotFoundError
        | av.error.DemuxerNotFoundError
        | av.error.OptionNotFoundError,
    ):
        return True
    if isinstance(err, FileNotFoundError):
        return first
    return isinstance(err, ValueError) and not isinstance(err, av.error.FFmpegError)
