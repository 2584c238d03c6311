"""Is anyone sending to a ``udp://`` URL? One cheap look before FFmpeg opens it.

FFmpeg says "timed out" both when nothing arrives and when datagrams arrive that it cannot
make a stream of; :func:`udp_heard` tells the two apart by listening for one datagram on the
same address first (unicast only; the socket is closed before FFmpeg binds it).

>>> udp_heard("rtsp://10.0.0.5/live", 0.1) is None   # not a UDP listen URL: cannot tell
True
"""

from __future__ import annotations

import ipaddress
import select
import socket
from urllib.parse import parse_qs, urlsplit


def udp_heard(url: str, timeout: float) -> bool | None:
    """Whether a datagram arrives on ``url``'s port within ``timeout`` seconds; None when the
    URL is not a unicast IPv4 ``udp://`` listen address or the port cannot be bound here."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "udp" or port is None:
        return None
    local = parse_qs(parts.query).get("localaddr", [""])[0]
    try:
        group = ipaddress.ip_address(parts.hostname or "0.0.0.0")
        bind_ip = ipaddress.ip_address(local or "0.0.0.0")
    except ValueError:
        return None  # a host name: leave it to FFmpeg
    if group.version != 4 or bind_ip.version != 4 or group.is_multicast:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((str(bind_ip), port))
        except OSError:
            return None
        ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
    return bool(ready)
