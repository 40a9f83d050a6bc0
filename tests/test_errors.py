"""Error classification, checked against errors the real servers raise.

Every case provokes the error on MariaDB or PostgreSQL (the shared servers in a
fresh database, or a throwaway server for what needs a broken server) and
checks the class and code dbswarm reports for it.
"""

from __future__ import annotations

import threading

import psycopg2
import pymysql
import pytest

from conftest import MYSQL, PG, mysql_conn, pg_conn
from plugins import errors
from plugins.errors import classify_mysql, classify_postgres
from servers import MariaDBServer, PostgresServer, free_port


def _mysql_error(fn):
    try:
        fn()
    except (pymysql.err.Error, OSError) as exc:
        return classify_mysql(exc)
    raise AssertionError("no error raised")


def _pg_error(fn):
    try:
        fn()
    except (psycopg2.Error, OSError) as exc:
        return classify_postgres(exc)
    raise AssertionError("no error raised")


def _both_lock(first, second, lock_a, lock_b):
    """Two sessions lock a then b / b then a; return the error the loser gets."""
    found = []
    barrier = threading.Barrier(2)

    def worker(cur, mine, theirs):
        try:
            cur.execute(mine)
            barrier.wait()
            cur.execute(theirs)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            found.append(exc)

    threads = [threading.Thread(target=worker, args=(first, lock_a, lock_b)),
               threading.Thread(target=worker, args=(second, lock_b, lock_a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert found, "no session lost the deadlock"
    return found[0]


# --------------------------------------------------------------------------- MySQL / MariaDB


def test_mysql_wrong_password_and_unknown_database(mysql_db):
    err = _mysql_error(lambda: pymysql.connect(**{**MYSQL, "password": "wrong-pw"}))
    assert (err.code, err.error_class) == (1045, errors.AUTH_FAILED)
    assert "wrong-pw" not in str(err)
    err = _mysql_error(lambda: pymysql.connect(**MYSQL, database=mysql_db + "_missing"))
    assert (err.code, err.error_class) == (1049, errors.UNKNOWN_DATABASE)


def test_mysql_refused_and_unknown_host():
    err = _mysql_error(lambda: pymysql.connect(**{**MYSQL, "port": free_port()}, connect_timeout=2))
    assert (err.code, err.error_class) == (2003, errors.CONNECT_REFUSED)
    err = _mysql_error(lambda: pymysql.connect(**{**MYSQL, "host": "no-such-host.invalid"}, connect_timeout=2))
    assert (err.code, err.error_class) == (2003, errors.UNKNOWN_HOST)
    assert not err.retryable and err.reconnect


def test_mysql_deadlock_lock_wait_statement_timeout_read_only(mysql_db):
    setup = mysql_conn(mysql_db)
    setup.cursor().execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    setup.cursor().execute("INSERT INTO t VALUES (1, 0), (2, 0)")
    a, b = mysql_conn(mysql_db), mysql_conn(mysql_db)
    ca, cb = a.cursor(), b.cursor()
    ca.execute("BEGIN")
    cb.execute("BEGIN")
    exc = _both_lock(ca, cb, "UPDATE t SET v = 1 WHERE id = 1", "UPDATE t SET v = 1 WHERE id = 2")
    err = classify_mysql(exc)
    assert (err.code, err.error_class) == (1213, errors.DEADLOCK) and err.retryable and not err.reconnect
    assert str(err).startswith("MySQL 1213 deadlock: ")
    ca.execute("ROLLBACK")
    cb.execute("ROLLBACK")

    ca.execute("BEGIN")
    ca.execute("UPDATE t SET v = 2 WHERE id = 1")
    cb.execute("SET SESSION innodb_lock_wait_timeout = 1")
    err = _mysql_error(lambda: cb.execute("UPDATE t SET v = 3 WHERE id = 1"))
    assert (err.code, err.error_class) == (1205, errors.LOCK_WAIT_TIMEOUT) and err.retryable
    ca.execute("ROLLBACK")

    cb.execute("SET SESSION max_statement_time = 0.05")
    err = _mysql_error(lambda: cb.execute("SELECT COUNT(*) FROM information_schema.columns a, information_schema.columns b"))
    assert (err.code, err.error_class) == (1969, errors.STATEMENT_TIMEOUT) and not err.retryable

    ca.execute("SET SESSION TRANSACTION READ ONLY")
    ca.execute("START TRANSACTION")
    err = _mysql_error(lambda: ca.execute("UPDATE t SET v = 4 WHERE id = 2"))
    assert (err.code, err.error_class) == (1792, errors.READ_ONLY)
    for c in (a, b, setup):
        c.close()


def test_mysql_killed_connection_is_lost(mysql_db):
    victim, killer = mysql_conn(mysql_db), mysql_conn()
    killer.cursor().execute(f"KILL CONNECTION {victim.thread_id()}")
    err = _mysql_error(lambda: victim.cursor().execute("SELECT 1"))
    assert err.error_class is errors.CONNECTION_LOST and err.reconnect and err.retryable
    assert err.code in (2013, 2006, 1927, "client")
    killer.close()


@pytest.fixture(scope="module")
def small_mariadb():
    server = MariaDBServer(max_connections=10).start()  # 10 is MariaDB's minimum
    yield server
    server.cleanup()


def test_mysql_too_many_connections_and_shutdown(small_mariadb):
    held = []
    err = None
    try:
        for _ in range(15):  # root may use one connection beyond max_connections
            held.append(mysql_conn(port=small_mariadb.port))
    except pymysql.err.Error as exc:
        err = classify_mysql(exc)
    assert err is not None, "max_connections was not enforced"
    assert (err.code, err.error_class) == (1040, errors.TOO_MANY_CONNECTIONS) and err.retryable
    for c in held:
        c.close()
    conn = mysql_conn(port=small_mariadb.port)
    small_mariadb.restart()
    err = _mysql_error(lambda: conn.cursor().execute("SELECT 1"))
    assert err.error_class is errors.CONNECTION_LOST, err


def test_mysql_1105_only_scaling_abort_when_it_says_so():
    aurora = pymysql.err.OperationalError(1105, "The last transaction was aborted due to Seamless Scaling. Please retry.")
    assert classify_mysql(aurora).error_class is errors.SCALING_ABORT
    assert classify_mysql(pymysql.err.InternalError(1105, "Unknown error")).error_class is errors.OTHER


# --------------------------------------------------------------------------- PostgreSQL


def test_pg_unknown_role_database_refused_host(pg_db):
    err = _pg_error(lambda: psycopg2.connect(**{**PG, "user": "dbswarm_no_such_role"}))
    assert err.error_class is errors.AUTH_FAILED, err
    err = _pg_error(lambda: psycopg2.connect(**{**PG, "dbname": pg_db + "_missing"}))
    assert err.error_class is errors.UNKNOWN_DATABASE, err
    err = _pg_error(lambda: psycopg2.connect(**{**PG, "port": free_port()}, connect_timeout=2))
    assert err.error_class is errors.CONNECT_REFUSED, err
    err = _pg_error(lambda: psycopg2.connect(**{**PG, "host": "no-such-host.invalid"}, connect_timeout=2))
    assert err.error_class is errors.UNKNOWN_HOST, err


def test_pg_server_errors_that_say_does_not_exist_keep_the_connection(pg_db):
    """A SQLSTATE from the server is not read as a connection problem, whatever its text says."""
    conn = pg_conn(pg_db)
    cur = conn.cursor()
    cur.execute("CREATE TABLE t (id INT)")
    err = _pg_error(lambda: cur.execute("SELECT no_such_column FROM t"))  # 42703: column ... does not exist
    assert (err.code, err.error_class, err.reconnect) == ("42703", errors.OTHER, False), err
    err = _pg_error(lambda: cur.execute("EXECUTE no_such_statement"))  # 26000: prepared statement ... does not exist
    assert (err.code, err.error_class, err.reconnect) == ("26000", errors.OTHER, False), err
    err = _pg_error(lambda: cur.execute("SELECT * FROM no_such_table"))
    assert err.error_class is errors.SCHEMA_MISSING, err
    conn.close()


def test_pg_deadlock_serialization_lock_and_statement_timeout(pg_db):
    setup = pg_conn(pg_db)
    setup.cursor().execute("CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 0), (2, 0)")
    a, b = pg_conn(pg_db), pg_conn(pg_db)
    ca, cb = a.cursor(), b.cursor()
    ca.execute("BEGIN")
    cb.execute("BEGIN")
    exc = _both_lock(ca, cb, "UPDATE t SET v = 1 WHERE id = 1", "UPDATE t SET v = 1 WHERE id = 2")
    err = classify_postgres(exc)
    assert (err.code, err.error_class) == ("40P01", errors.DEADLOCK) and err.retryable
    assert str(err).startswith("PostgreSQL 40P01 deadlock: ")
    ca.execute("ROLLBACK")
    cb.execute("ROLLBACK")

    # Serialization failure: two SERIALIZABLE transactions update the same row.
    ca.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
    cb.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
    ca.execute("SELECT v FROM t WHERE id = 1")
    cb.execute("SELECT v FROM t WHERE id = 1")
    ca.execute("UPDATE t SET v = v + 1 WHERE id = 1")
    ca.execute("COMMIT")
    err = _pg_error(lambda: cb.execute("UPDATE t SET v = v + 1 WHERE id = 1"))
    assert (err.code, err.error_class) == ("40001", errors.SERIALIZATION_FAILURE) and err.retryable
    cb.execute("ROLLBACK")

    ca.execute("BEGIN")
    ca.execute("UPDATE t SET v = 5 WHERE id = 2")
    cb.execute("SET lock_timeout = '200ms'")
    err = _pg_error(lambda: cb.execute("UPDATE t SET v = 6 WHERE id = 2"))
    assert (err.code, err.error_class) == ("55P03", errors.LOCK_WAIT_TIMEOUT)
    ca.execute("ROLLBACK")

    cb.execute("SET statement_timeout = '50ms'")
    err = _pg_error(lambda: cb.execute("SELECT pg_sleep(2)"))
    assert (err.code, err.error_class) == ("57014", errors.STATEMENT_TIMEOUT) and not err.retryable
    cb.execute("SET statement_timeout = 0")

    cb.execute("BEGIN READ ONLY")
    err = _pg_error(lambda: cb.execute("UPDATE t SET v = 7 WHERE id = 2"))
    assert (err.code, err.error_class) == ("25006", errors.READ_ONLY)
    cb.execute("ROLLBACK")

    # Admin shutdown of a backend (what a failover does to every session).
    setup.cursor().execute("SELECT pg_terminate_backend(%s)", (b.get_backend_pid(),))
    err = _pg_error(lambda: cb.execute("SELECT 1"))
    assert err.error_class is errors.CONNECTION_LOST and err.reconnect, err
    for c in (a, setup):
        c.close()


@pytest.fixture(scope="module")
def small_pg():
    server = PostgresServer(max_connections=5).start()
    yield server
    server.cleanup()


def test_pg_too_many_connections_and_fast_shutdown(small_pg):
    held, err = [], None
    try:
        for _ in range(10):
            held.append(pg_conn(port=small_pg.port))
    except psycopg2.Error as exc:
        err = classify_postgres(exc)
    assert err is not None
    assert err.error_class is errors.TOO_MANY_CONNECTIONS and err.retryable, err
    for c in held:
        c.close()
    conn = pg_conn(port=small_pg.port)
    small_pg.stop()
    err = _pg_error(lambda: conn.cursor().execute("SELECT 1"))
    assert err.error_class is errors.CONNECTION_LOST, err
    err = _pg_error(lambda: pg_conn(port=small_pg.port))
    assert err.error_class is errors.CONNECT_REFUSED, err
    small_pg.start()
