"""Notice a dead database host at the socket level: TCP keepalive and TCP_USER_TIMEOUT.

A host that vanished without a FIN or RST (a failed-over writer fenced off, a
NAT entry dropped, an instance gone) leaves its connections open on the client
for as long as the kernel's defaults allow: about two hours for an idle
connection (keepalive off, or probes after 7200 s) and about fifteen minutes
for one with unacknowledged data (tcp_retries2). --db-query-timeout ends an
operation that waits too long; these settings make the kernel itself drop a
connection whose peer is gone, including an idle one (a reader connection of
a user that only writes for a while, the observer's between samples, the
preflight's), so the next use fails at once with connection-lost instead of
waiting for the deadline.

Every database socket dbswarm opens gets them: users', the observer's and the
preflight's all connect through ``drivers``.
"""

from __future__ import annotations

import socket

KEEPALIVE_IDLE_S = 3       # an idle connection is probed after 3 s without traffic
KEEPALIVE_INTERVAL_S = 1   # then once a second
KEEPALIVE_COUNT = 3        # and dropped after 3 unanswered probes: ~6 s after its last sign of life
USER_TIMEOUT_MS = 6000     # data sent and not acknowledged for 6 s: the peer is gone

# The same for libpq (connection parameters, PostgreSQL 12+ for tcp_user_timeout).
LIBPQ_PARAMS = {
    "keepalives": 1,
    "keepalives_idle": KEEPALIVE_IDLE_S,
    "keepalives_interval": KEEPALIVE_INTERVAL_S,
    "keepalives_count": KEEPALIVE_COUNT,
    "tcp_user_timeout": USER_TIMEOUT_MS,
}


def tune(sock) -> None:
    """Set keepalive and TCP_USER_TIMEOUT on a connected TCP socket (a Unix socket is left alone)."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                        ("TCP_KEEPCNT", KEEPALIVE_COUNT), ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS)):
        option = getattr(socket, name, None)
        if option is not None:  # Linux has them all; other systems some
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def settings(sock) -> dict:
    """What a socket has (for tests and diagnostics)."""
    out = {"keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)}
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT"):
        option = getattr(socket, name, None)
        if option is not None:
            out[name] = sock.getsockopt(socket.IPPROTO_TCP, option)
    return out
