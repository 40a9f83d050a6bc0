"""Make psycopg2 cooperative under gevent.

libpq blocks the whole process while it waits for the server unless psycopg2
is given a wait callback; with one, every query yields to the gevent hub and
300 users really run concurrently.

psycogreen's callback calls ``gevent.socket.wait_read``, which creates a libev
io watcher, starts it, stops it and closes it on every wait: a watcher object,
an epoll registration change and its teardown per query. Here a connection
made by ``PostgresDriver`` (``CooperativeConnection``) keeps one read and one
write watcher for its socket and parks on them with ``hub.wait``, the way
gevent's own sockets do. Other connections fall back to psycogreen's path.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg2
from gevent import get_hub
from gevent.socket import wait_read, wait_write
from psycopg2 import extensions

_POLL_OK = extensions.POLL_OK
_POLL_READ = extensions.POLL_READ
_POLL_WRITE = extensions.POLL_WRITE


class CooperativeConnection(extensions.connection):
    """A psycopg2 connection that owns the hub watchers of its socket."""

    _watchers = None  # (fileno, read watcher, write watcher, hub), made on the first wait

    def _watch(self):
        fd = self.fileno()
        hub = get_hub()
        loop = hub.loop
        watchers = self._watchers = (fd, loop.io(fd, 1), loop.io(fd, 2), hub)
        return watchers

    def close(self):
        watchers, self._watchers = self._watchers, None
        super().close()
        if watchers is not None:
            watchers[1].close()
            watchers[2].close()


def gevent_wait_callback(conn, timeout=None):
    """Poll the connection, parking the greenlet until its socket is ready."""
    poll = conn.poll
    watchers = getattr(conn, "_watchers", False)
    while True:
        state = poll()
        if state == _POLL_OK:
            return
        if watchers is False or timeout is not None:  # not ours: psycogreen's way
            if state == _POLL_READ:
                wait_read(conn.fileno(), timeout=timeout)
            elif state == _POLL_WRITE:
                wait_write(conn.fileno(), timeout=timeout)
            else:  # pragma: no cover - libpq contract
                raise psycopg2.OperationalError(f"bad result from poll: {state!r}")
            continue
        if watchers is None or watchers[0] != conn.fileno():
            watchers = conn._watch()
        if state == _POLL_READ:
            watchers[3].wait(watchers[1])
        elif state == _POLL_WRITE:
            watchers[3].wait(watchers[2])
        else:  # pragma: no cover - libpq contract
            raise psycopg2.OperationalError(f"bad result from poll: {state!r}")


def make_cooperative() -> None:
    """Install the callback once per process (idempotent)."""
    if extensions.get_wait_callback() is not gevent_wait_callback:
        extensions.set_wait_callback(gevent_wait_callback)


@contextmanager
def blocking():
    """Run libpq without the wait callback inside the block: COPY refuses to run under one.

    The whole process waits on the server meanwhile, so only for work nothing
    else runs beside (a scenario's ``--db-init`` load).
    """
    callback = extensions.get_wait_callback()
    extensions.set_wait_callback(None)
    try:
        yield
    finally:
        extensions.set_wait_callback(callback)
