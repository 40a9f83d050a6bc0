"""Faults during a run: database restarted, too many users, stop signals.

Restarts and connection limits happen on throwaway servers; the stop-signal
tests use fresh databases on the shared servers and only signal the locust
process they started.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import REPO, LocustRun, mysql_conn, pg_conn, tracebacks, why
from servers import MariaDBServer

FLASH = ("-f", "locustfiles/flash_sale.py")


def start_locust(args, tmp_path):
    prefix = str(tmp_path / f"run-{uuid.uuid4().hex[:6]}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", *args, "--json-file", prefix, "--csv", prefix],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    proc.prefix = prefix
    return proc


def finish(proc, timeout=90) -> LocustRun:
    out, err = proc.communicate(timeout=timeout)
    run = LocustRun(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.prefix + ".json")
    with open(proc.prefix + "_failures.csv") as f:
        run.failure_rows = list(csv.DictReader(f))
    return run


def failures_of(run, name, cls) -> int:
    return sum(int(r["Occurrences"]) for r in run.failure_rows if r["Name"] == name and f" {cls}:" in r["Error"])


def _others(port) -> int:
    """Client connections on the server other than this one."""
    with mysql_conn(port=port) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND command <> 'Daemon'")
        return int(cur.fetchone()[0])


@pytest.fixture
def mariadb():
    server = MariaDBServer(max_connections=10).start()
    yield server
    server.cleanup()


def test_database_restarted_mid_run(mariadb, tmp_path):
    users = 8
    reports = tmp_path / "reports"
    proc = start_locust([*FLASH, "--headless", "-u", str(users), "-r", str(users), "-t", "16s",
                         "--db-port", str(mariadb.port), "--db-init", "--report-dir", str(reports)], tmp_path)
    deadline = time.monotonic() + 20
    while _others(mariadb.port) < users and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    stopped_at = time.time()
    mariadb.stop()
    time.sleep(3)
    mariadb.start()
    back_at = time.time()
    back = time.monotonic()
    while _others(mariadb.port) < users and time.monotonic() - back < 10:
        time.sleep(0.05)
    reconnect_delay = time.monotonic() - back
    run = finish(proc)
    print(f"all {users} users reconnected {reconnect_delay:.2f}s after the database was back")
    assert reconnect_delay <= 2.0
    assert not tracebacks(run.output), tracebacks(run.output)
    assert run.returncode == 1  # the gap's failures are failures
    lost = sum(failures_of(run, n, "connection-lost") for n in ("browse_category", "place_order", "lookup_order"))
    refused = failures_of(run, "connect", "connection-refused")
    assert lost > 0 and refused > 0, run.failure_rows
    # Everything that failed is classified: no bare "error" class.
    assert not [r for r in run.failure_rows if " error:" in r["Error"]], run.failure_rows
    # Orders kept flowing after the restart.
    assert run.count("place_order") > 0
    # The writer's outage window, from the users' side, is the restart (outages.py).
    windows = [w for w in json.loads((reports / "db_events.json").read_text())["outages"] if w["endpoint"] == "writer"]
    print(f"restart from {stopped_at:.2f} to {back_at:.2f} ({back_at - stopped_at:.2f} s); windows {windows}")
    assert len(windows) == 1, windows
    assert abs(windows[0]["start"] - stopped_at) < 1.0 and abs(windows[0]["end"] - back_at) < 1.0
    assert windows[0]["users_hit"] == users


def _connections_status(port) -> int:
    """Connection attempts the server saw: accepted ones plus those refused at max_connections."""
    with mysql_conn(port=port) as conn:
        cur = conn.cursor()
        cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Connection_errors_max_connections')")
        return sum(int(v) for _, v in cur.fetchall())


def test_twice_max_connections_paced(mariadb, tmp_path):
    users, seconds, cap = 22, 8, 1.0  # max_connections 10 (+1 for root's SUPER)
    before = _connections_status(mariadb.port)
    run = finish(start_locust([*FLASH, "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                               "--db-port", str(mariadb.port), "--db-init", "--db-retry-backoff", "0.25",
                               "--db-retry-backoff-max", str(cap)], tmp_path))
    attempts = _connections_status(mariadb.port) - before
    too_many = failures_of(run, "connect", "too-many-connections")
    connected = run.count("connect") - run.entry("connect")["num_failures"]
    print(f"{users} users, max_connections 10: {attempts} connection attempts at the server in ~{seconds}s, "
          f"{too_many} too-many-connections, {connected} connected")
    assert not tracebacks(run.output), tracebacks(run.output)
    assert too_many > 0 and connected >= 8
    assert run.count("place_order") > 0 and run.entry("browse_category")["num_failures"] == 0
    # Each refused user tries about once per backoff period (jitter: 0.5..1 x cap), not in a hot loop.
    refused_users = users - 11
    ceiling = refused_users * (seconds + 3) / (0.5 * cap) + users + 10  # + preflight, report, margin
    assert too_many <= attempts <= ceiling, (too_many, attempts, ceiling)


def _pg_dbswarm_sessions(db) -> int:
    conn = pg_conn()
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'dbswarm' AND datname = %s", (db,))
    n = cur.fetchone()[0]
    conn.close()
    return n


def _mysql_sessions(db) -> int:
    with mysql_conn() as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE db = %s", (db,))
        return int(cur.fetchone()[0])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_closes_every_connection(sig, mysql_db, pg_db, tmp_path):
    engine, db, sessions = ("postgres", pg_db, _pg_dbswarm_sessions) if sig == signal.SIGTERM else (
        "mysql", mysql_db, _mysql_sessions)
    html = tmp_path / "report.html"
    proc = start_locust(["-f", "tests/locustfiles/contention.py", "--db-engine", engine, "--headless", "-u", "6",
                         "-r", "6", "-t", "60s", "--db-name", db, "--db-init", "--html", str(html)], tmp_path)
    deadline = time.monotonic() + 30
    while sessions(db) < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sessions(db) >= 6
    time.sleep(1)
    proc.send_signal(sig)
    run = finish(proc, timeout=60)
    assert run.returncode in (0, 1), why(run.output)  # Locust's exit code: 1 when failures were recorded
    assert not tracebacks(run.output), tracebacks(run.output)
    assert run.requests() > 0  # stats were flushed to --json-file
    assert os.path.exists(proc.prefix + "_stats.csv")
    if sig == signal.SIGINT:
        assert html.exists()
    time.sleep(0.5)
    assert sessions(db) == 0  # every connection closed, open transactions rolled back
