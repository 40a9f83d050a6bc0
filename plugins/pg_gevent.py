"""Make psycopg2 cooperative under gevent.

libpq blocks the whole process while it waits for the server unless psycopg2
is given a wait callback; with one, every query yields to the gevent hub and
300 users really run concurrently. This is the callback psycogreen installs,
kept here so the hot path has no extra dependency and can be tuned.
"""

from __future__ import annotations

import psycopg2
from gevent.socket import wait_read, wait_write
from psycopg2 import extensions

_POLL_OK = extensions.POLL_OK
_POLL_READ = extensions.POLL_READ
_POLL_WRITE = extensions.POLL_WRITE


def gevent_wait_callback(conn, timeout=None):
    """Poll the connection, parking the greenlet until its socket is ready."""
    poll = conn.poll
    while True:
        state = poll()
        if state == _POLL_OK:
            return
        if state == _POLL_READ:
            wait_read(conn.fileno(), timeout=timeout)
        elif state == _POLL_WRITE:
            wait_write(conn.fileno(), timeout=timeout)
        else:  # pragma: no cover - libpq contract
            raise psycopg2.OperationalError(f"bad result from poll: {state!r}")


def make_cooperative() -> None:
    """Install the callback once per process (idempotent)."""
    if extensions.get_wait_callback() is not gevent_wait_callback:
        extensions.set_wait_callback(gevent_wait_callback)
