"""Before any user spawns: one line naming host:port and the cause, exit 2, no traceback, no password."""

import socket

import pytest

from servers import free_port
from conftest import why

SECRET = "Wr0ng-S3cret-P4ss"
FLASH = ("-f", "locustfiles/flash_sale.py", "--headless", "-u", "5", "-t", "5s")
TX = ("-f", "locustfiles/transactions.py", "--headless", "-u", "5", "-t", "5s")


def assert_refused(run, *needles):
    assert run.returncode == 2, why(run.output)
    lines = [line for line in run.stderr.splitlines() if line.startswith("dbswarm:")]
    assert len(lines) == 1, run.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in run.output
    assert SECRET not in run.output
    assert run.requests() == 0  # no user ever ran a query
    return lines[0]


def test_wrong_port_mysql(locust):
    port = free_port()
    assert_refused(locust(*FLASH, "--db-port", str(port), "--db-password", SECRET),
                   f"127.0.0.1:{port}", "connection refused")


def test_wrong_port_postgres(locust):
    port = free_port()
    assert_refused(locust(*TX, "--db-port", str(port), "--db-password", SECRET),
                   f"127.0.0.1:{port}", "connection refused")


def test_wrong_password(locust):
    assert_refused(locust(*FLASH, "--db-password", SECRET), "127.0.0.1:3306", "authentication failed")


@pytest.mark.parametrize("args", [FLASH, TX], ids=["mysql", "postgres"])
def test_unknown_database(locust, args):
    assert_refused(locust(*args, "--db-name", "dbswarm_no_such_db"),
                   "unknown database 'dbswarm_no_such_db'")


def test_schema_missing(locust, mysql_db):
    assert_refused(locust(*FLASH, "--db-name", mysql_db), "schema missing", "products, orders", "--db-init")


def test_timeout(locust):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts TCP but never speaks MySQL
    try:
        port = silent.getsockname()[1]
        assert_refused(locust(*FLASH, "--db-port", str(port), "--db-connect-timeout", "1", "--db-resume-wait", "0"),
                       f"127.0.0.1:{port}", "no answer within 1s")
    finally:
        silent.close()


def test_refused_with_processes(locust):
    port = free_port()
    # The forked workers are stopped with the master; left alone they would wait 60 s
    # for its heartbeat and hold the output open, past this timeout.
    run = locust(*FLASH, "--processes", "2", "--db-port", str(port), "--db-password", SECRET, timeout=30)
    assert_refused(run, f"127.0.0.1:{port}", "connection refused")


def test_bad_option_value(locust):
    assert_refused(locust(*FLASH, "--flash-stock", "0"), "--flash-stock 0")
    assert_refused(locust(*FLASH, "--db-port", "70000"), "--db-port 70000")
