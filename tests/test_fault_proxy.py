"""The fault proxy itself does what the fault tests rely on (against the shared MariaDB)."""

from __future__ import annotations

import socket
import time

import pymysql
import pytest

from fault_proxy import FaultProxy


def _connect(port, timeout=3):
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="", connect_timeout=timeout,
                           read_timeout=timeout, write_timeout=timeout)


def _one(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        return cur.fetchone()[0]


def test_silence_hangs_open_connections_but_new_ones_work():
    with FaultProxy(3306) as proxy:
        old = _connect(proxy.port, timeout=1)
        assert _one(old) == 1 and proxy.open_connections == 1
        proxy.silence()
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError):
            _one(old)   # no answer, no close: only the client's own timeout ends it
        assert time.monotonic() - started >= 0.9
        new = _connect(proxy.port)
        assert _one(new) == 1
        new.close()


def test_reset_refuse_delay_swap():
    with FaultProxy(3306) as proxy:
        conn = _connect(proxy.port)
        proxy.reset_all()
        with pytest.raises(pymysql.err.OperationalError):
            _one(conn)
        proxy.refuse(1.0)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
        time.sleep(1.3)
        conn = _connect(proxy.port)
        assert _one(conn) == 1
        proxy.delay(0.3)
        started = time.monotonic()
        assert _one(conn) == 1
        assert time.monotonic() - started >= 0.55   # 0.3 s each way
        proxy.heal()
        proxy.swap(3306)   # same server, but the open connection is reset
        with pytest.raises(pymysql.err.OperationalError):
            _one(conn)
        assert _one(_connect(proxy.port)) == 1
    assert [what for _, what in proxy.events][-1] == "stop"


def test_backend_must_be_loopback():
    with pytest.raises(ValueError):
        FaultProxy(3306, backend_host="10.0.0.1")


def test_silence_with_drop_backend_ends_the_server_session():
    with FaultProxy(3306) as proxy:
        old = _connect(proxy.port, timeout=1)
        with old.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            old_id = cur.fetchone()[0]
        proxy.silence(drop_backend=True)
        with pytest.raises(pymysql.err.OperationalError):
            _one(old)
        probe = _connect(3306)
        with probe.cursor() as cur:
            for _ in range(50):   # bounded: the server notices the close within milliseconds
                cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s", (old_id,))
                if cur.fetchone()[0] == 0:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the server kept the silenced connection's session")
        probe.close()
