"""Retryable errors produced by real contention: retried, counted, and visible.

Every committed transaction adds 1 to the rows it touched, so the table tells
how many committed; that must equal what Locust counted as successes.
"""

import csv

from conftest import mysql_conn, pg_conn, why

LOCUSTFILE = "tests/locustfiles/contention.py"


def _ok(run, name):
    e = run.entry(name)
    return e["num_requests"] - e["num_failures"] if e else 0


def _scalar(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    (value,) = cur.fetchone()
    conn.close()
    return int(value)


def _mysql_sum(db):
    return _scalar(mysql_conn(db), "SELECT SUM(v) FROM t")


def _pg_value(db):
    return _scalar(pg_conn(db), "SELECT v FROM t WHERE id = 1")


def failures_table(prefix) -> str:
    """Locust's failures table (--csv) as text: what a user sees under Failures."""
    with open(f"{prefix}_failures.csv") as f:
        return "\n".join(",".join(row) for row in csv.reader(f))


def _run(locust, db, engine, *extra):
    return locust(
        "-f", LOCUSTFILE, "--headless", "-u", "12", "-r", "12", "-t", "6s", "--db-engine", engine,
        "--db-name", db, "--db-init", "--db-retry-backoff", "0.01", "--db-retry-backoff-max", "0.05", *extra,
        timeout=90,
    )


def test_mysql_deadlocks_are_retried_and_counted(locust, mysql_db, tmp_path):
    run = _run(locust, mysql_db, "mysql", "--db-retries", "5", "--csv", str(tmp_path / "r"))
    assert "Traceback" not in run.output
    committed = _mysql_sum(mysql_db) // 2
    assert _ok(run, "swap") == committed > 0
    retried = run.entry("swap (retried)")
    assert retried and retried["num_requests"] > 0 and retried["num_failures"] == 0, why(run.output)
    assert run.entry("swap")["num_failures"] > 0  # each failed attempt is visible...
    assert "swap,DatabaseError('MySQL 1213 deadlock: Deadlock found" in failures_table(tmp_path / "r")  # ...under its class and code
    assert run.returncode == 1  # failed attempts are failures: --exit-code-on-error applies


def test_mysql_deadlocks_without_retries_are_failures(locust, mysql_db, tmp_path):
    run = _run(locust, mysql_db, "mysql", "--db-retries", "0", "--exit-code-on-error", "3", "--csv", str(tmp_path / "r"))
    assert run.returncode == 3
    assert run.entry("swap (retried)") is None
    assert run.entry("swap")["num_failures"] > 0
    assert "swap,DatabaseError('MySQL 1213 deadlock: Deadlock found" in failures_table(tmp_path / "r")
    assert _ok(run, "swap") == _mysql_sum(mysql_db) // 2


def test_pg_serialization_failures_are_retried(locust, pg_db, tmp_path):
    run = _run(locust, pg_db, "postgres", "--db-retries", "10", "--csv", str(tmp_path / "r"))
    assert "Traceback" not in run.output
    assert _ok(run, "increment") == _pg_value(pg_db) > 0
    assert run.entry("increment")["num_failures"] > 0
    assert "increment,DatabaseError('PostgreSQL 40001 serialization-failure: could not serialize" in failures_table(tmp_path / "r")
    assert run.count("increment (retried)") > 0
