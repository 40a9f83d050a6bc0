"""Network faults on the path to real servers: users notice them, recover, and the accounting stays exact.

20 flash-sale users (or PostgreSQL buyers, tests/locustfiles/pg_orders.py) run
through tests/fault_proxy.py; a few seconds into the run the proxy goes silent
(open connections neither answer nor close, new ones work), resets every
connection, adds latency, refuses connections, or leads to another server. A
true blackhole is an nftables DROP rule on a throwaway server's port. Each
case asserts the failures by class (Locust's --csv failures file), that users
succeed again at their rate after the fault, that order rows = orders counted
+ commits of unknown outcome found committed, and the exit code.

--db-query-timeout 3 keeps the runs short. Timing figures are printed (run
with -s) and asserted only with wide margins: the machine is shared.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import pytest

from conftest import REPO, LocustRun, copy_flash_sale, mysql_conn, pg_conn, why
from fault_proxy import FaultProxy
from servers import MariaDBServer, PostgresServer

USERS = 20
TIMEOUT = 3.0
FLASH = "locustfiles/flash_sale.py"
PG_ORDERS = "tests/locustfiles/pg_orders.py"
TIMELINE = "tests/locustfiles/timeline.py"
NOT_SUCCESS = {"connect", "find_order"}  # not the users' own work


class FaultRun:
    """A Locust run with a fault injected while it is running."""

    def __init__(self, tmp_path, scenario: str, port: int, db: str, duration: int = 20, extra=()):
        self.prefix = str(tmp_path / f"run-{uuid.uuid4().hex[:6]}")
        self.timeline_path = self.prefix + "_timeline.json"
        args = [sys.executable, "-m", "locust", "-f", f"{scenario},{TIMELINE}", "--headless",
                "-u", str(USERS), "-r", str(USERS), "-t", f"{duration}s", "--db-port", str(port),
                "--db-name", db, "--db-init", "--db-query-timeout", f"{TIMEOUT:g}", "--db-stats-interval", "0",
                "--csv", self.prefix, "--json-file", self.prefix, *extra]
        if scenario == FLASH:
            args += ["--flash-products", "200", "--flash-stock", "100000"]  # few lock waits between buyers
        if "--db-query-timeout" in extra:
            i = args.index("--db-query-timeout")
            del args[i:i + 2]
        self.duration = duration
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, env={**os.environ, "DBSWARM_TIMELINE": self.timeline_path})
        self.fault_at = None

    def wait_connected(self, count_connections, settle: float = 4.0) -> None:
        """Until every user has its connection (bounded), then ``settle`` seconds of steady load."""
        deadline = time.monotonic() + 30
        while count_connections() < USERS and time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()[1][-3000:]
            time.sleep(0.1)
        assert count_connections() >= USERS, "the users never connected"
        time.sleep(settle)
        self.fault_at = time.time()

    def finish(self) -> LocustRun:
        out, err = self.proc.communicate(timeout=self.duration + 60)
        run = LocustRun(subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err), self.prefix + ".json")
        with open(self.prefix + "_failures.csv") as f:
            run.failure_rows = list(csv.DictReader(f))
        with open(self.timeline_path) as f:
            run.timeline = json.load(f)
        run.fault_at = self.fault_at
        return run


def failures_by_class(run) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in run.failure_rows:
        m = re.match(r"\S+ \S+ ([a-z-]+):", row["Error"])
        cls = m.group(1) if m else row["Error"][:40]
        out[cls] = out.get(cls, 0) + int(row["Occurrences"])
    return out


def figures(run, fault_end: float | None = None) -> dict:
    """When failures were counted and when the users were back at their pre-fault rate."""
    t0 = run.fault_at
    fault_end = fault_end or t0
    work = [(t, cls) for t, name, cls in run.timeline if name not in NOT_SUCCESS]
    before = [t for t, cls in work if cls is None and t0 - 3 <= t < t0]
    rate = len(before) / 3.0
    failed_after = [t - t0 for t, _, cls in run.timeline if cls is not None and t >= t0]
    failed_before = [t for t, _, cls in run.timeline if cls is not None and t < t0]
    ok = sorted(t for t, cls in work if cls is None and t >= fault_end)
    back = None
    for i, t in enumerate(ok):  # the first 1 s window after the fault with >= 80% of the rate before it
        j = i
        while j < len(ok) and ok[j] < t + 1.0:
            j += 1
        if j - i >= 0.8 * rate:
            back = t - fault_end
            break
    return {"rate_before": rate, "failures_before": len(failed_before),
            "first_failure_s": min(failed_after) if failed_after else None,
            "last_failure_s": max(failed_after) if failed_after else None,
            "back_at_rate_s": back}


def accounting(run) -> dict:
    text = run.stdout
    counted = int(re.search(r"orders placed \(this run\):\s+(\d+)", text).group(1))
    rows = int(re.search(r"order rows in database:\s+(\d+)", text).group(1))
    m = re.search(r"commits of unknown outcome: (\d+) \((\d+) found committed, (\d+) not committed", text)
    seen, found, not_found = (int(v) for v in m.groups())
    return {"counted": counted, "rows": rows, "unknown": seen, "found": found, "not_found": not_found,
            "verdict": re.search(r"accounting: .*: (\S+)", text).group(1)}


def assert_recovered_and_exact(run, fig, db_rows: int, fault_end: float | None = None, within: float = TIMEOUT + 6):
    acc = accounting(run)
    print(f"figures: {fig}; accounting: {acc}; db rows {db_rows}")
    assert fig["failures_before"] == 0, fig
    assert fig["back_at_rate_s"] is not None and fig["back_at_rate_s"] <= within, fig
    assert acc["unknown"] == acc["found"] + acc["not_found"], acc  # every unknown commit was looked up
    assert acc["rows"] == db_rows == acc["counted"] + acc["found"], acc
    assert acc["verdict"] == "exact", run.stdout[-2000:]


def mysql_rows(db: str, port: int = 3306) -> int:
    with mysql_conn(db, port=port) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM orders")
        return int(cur.fetchone()[0])


def pg_rows(db: str, port: int = 5432) -> int:
    conn = pg_conn(db, port=port)
    try:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM orders")
        return int(cur.fetchone()[0])
    finally:
        conn.close()


# -- silent: the headline -------------------------------------------------------------------

def test_silent_connections_mysql(mysql_db, tmp_path):
    with FaultProxy(3306) as proxy:
        run = FaultRun(tmp_path, FLASH, proxy.port, mysql_db)
        run.wait_connected(lambda: proxy.open_connections)
        proxy.silence(drop_backend=True)  # a fenced old writer: no answer, no close; new connections work
        result = run.finish()
    classes = failures_by_class(result)
    fig = figures(result)
    print(f"silent (MySQL): failures {classes}")
    assert result.returncode == 1, result.stderr[-3000:]  # failures counted: not a success
    assert classes.get("query-timeout", 0) + classes.get("commit-unknown", 0) >= USERS // 2, classes
    assert set(classes) <= {"query-timeout", "commit-unknown"}, classes
    # counted within the deadline: a user's last statement started at most one think time (0.5 s) after the fault
    assert fig["first_failure_s"] >= TIMEOUT - 1.0, fig
    assert fig["last_failure_s"] <= TIMEOUT + 0.5 + 3.0, fig
    assert_recovered_and_exact(result, fig, mysql_rows(mysql_db))


def test_silent_connections_postgres(pg_db, tmp_path):
    with FaultProxy(5432) as proxy:
        run = FaultRun(tmp_path, PG_ORDERS, proxy.port, pg_db)
        run.wait_connected(lambda: proxy.open_connections)
        proxy.silence(drop_backend=True)
        result = run.finish()
    classes = failures_by_class(result)
    fig = figures(result)
    print(f"silent (PostgreSQL): failures {classes}")
    assert result.returncode == 1, result.stderr[-3000:]
    assert classes.get("query-timeout", 0) + classes.get("commit-unknown", 0) >= USERS // 2, classes
    assert set(classes) <= {"query-timeout", "commit-unknown"}, classes
    assert fig["first_failure_s"] >= TIMEOUT - 1.0 and fig["last_failure_s"] <= TIMEOUT + 0.5 + 3.0, fig
    assert_recovered_and_exact(result, fig, pg_rows(pg_db))


# -- reset every connection -------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_every_connection_reset(engine, mysql_db, pg_db, tmp_path):
    db, port = (mysql_db, 3306) if engine == "mysql" else (pg_db, 5432)
    with FaultProxy(port) as proxy:
        run = FaultRun(tmp_path, FLASH if engine == "mysql" else PG_ORDERS, proxy.port, db, duration=16)
        run.wait_connected(lambda: proxy.open_connections)
        proxy.reset_all()
        result = run.finish()
    classes = failures_by_class(result)
    fig = figures(result)
    print(f"reset ({engine}): failures {classes}")
    assert result.returncode == 1, result.stderr[-3000:]
    assert classes.get("connection-lost", 0) + classes.get("commit-unknown", 0) >= 1, classes
    assert "query-timeout" not in classes, classes  # a reset is noticed at once, not at the deadline
    assert fig["last_failure_s"] <= 2.0, fig
    rows = mysql_rows(db) if engine == "mysql" else pg_rows(db)
    assert_recovered_and_exact(result, fig, rows, within=3.0)


# -- latency, refused connections, another backend ----------------------------------------------------

def test_latency_beyond_the_transaction_deadline(mysql_db, tmp_path):
    """0.45 s each way: a statement (one 0.9 s round trip) still answers; a transaction (four) overruns its
    3 s deadline with its COMMIT on the wire, which the server then applies: commits of unknown outcome,
    looked up after reconnecting and found committed."""
    with FaultProxy(3306) as proxy:
        run = FaultRun(tmp_path, FLASH, proxy.port, mysql_db, extra=("--db-query-mode", "simple"))
        run.wait_connected(lambda: proxy.open_connections)
        proxy.delay(0.45)
        time.sleep(6)
        proxy.heal()
        healed = time.time()
        result = run.finish()
    classes = failures_by_class(result)
    fig = figures(result, fault_end=healed)
    acc = accounting(result)
    print(f"latency: failures {classes}")
    assert result.returncode == 1
    assert set(classes) <= {"query-timeout", "commit-unknown"}, classes
    assert classes.get("commit-unknown", 0) >= 1 and acc["found"] >= 1, (classes, acc)
    unknown = sum(int(r["Occurrences"]) for r in result.failure_rows if " commit-unknown:" in r["Error"])
    assert acc["unknown"] == unknown, (acc, unknown)  # each one reported as a failure, none counted as an order
    during = [name for t, name, cls in result.timeline if cls is None and result.fault_at + 1 < t < healed
              and name == "browse_category"]
    assert during, "slow but alive: single statements still answered during the latency"
    assert_recovered_and_exact(result, fig, mysql_rows(mysql_db), fault_end=healed, within=TIMEOUT + 3)


def test_connections_refused_for_a_while(mysql_db, tmp_path):
    with FaultProxy(3306) as proxy:
        run = FaultRun(tmp_path, FLASH, proxy.port, mysql_db)
        run.wait_connected(lambda: proxy.open_connections)
        proxy.refuse(4.0)
        proxy.reset_all()
        time.sleep(4.0)
        ended = time.time()
        result = run.finish()
    classes = failures_by_class(result)
    fig = figures(result, fault_end=ended)
    refused = sum(int(r["Occurrences"]) for r in result.failure_rows
                  if r["Name"] == "connect" and " connection-refused:" in r["Error"])
    print(f"refused: failures {classes}")
    assert result.returncode == 1
    assert refused >= USERS, result.failure_rows  # each user kept trying, paced by the backoff
    assert refused <= USERS * 4.0 / 0.5 + USERS, refused  # backoff cap 1 s: about one attempt per user per 0.5-1 s
    assert_recovered_and_exact(result, fig, mysql_rows(mysql_db), fault_end=ended, within=3.0)


def test_backend_swapped(mysql_db, tmp_path):
    other = MariaDBServer(max_connections=60).start()
    try:
        with FaultProxy(3306) as proxy:
            run = FaultRun(tmp_path, FLASH, proxy.port, mysql_db)
            run.wait_connected(lambda: proxy.open_connections, settle=1.0)
            copy_flash_sale(mysql_db, other.port)
            time.sleep(2.0)
            run.fault_at = time.time()
            proxy.swap(other.port)  # the endpoint now leads to another server; open connections reset
            result = run.finish()
        classes = failures_by_class(result)
        fig = figures(result)
        print(f"swap: failures {classes}")
        rows_a, rows_b = mysql_rows(mysql_db), mysql_rows(mysql_db, port=other.port)
        acc = accounting(result)
        print(f"figures: {fig}; accounting: {acc}; rows on A {rows_a}, on B {rows_b}")
        assert result.returncode == 1
        assert rows_b > 0 and fig["back_at_rate_s"] is not None and fig["back_at_rate_s"] <= 3.0, fig
        assert acc["rows"] == rows_b  # the outcome block reads the endpoint, now B
        # An unknown commit from A is looked up on B: "not committed" there even if A has it.
        assert 0 <= rows_a + rows_b - acc["counted"] - acc["found"] <= acc["not_found"], acc
    finally:
        other.cleanup()


# -- a true blackhole: packets dropped, nothing answers, not even for new connections -----------------

@contextmanager
def blackhole(port: int):
    """nftables in this (root) namespace drops every packet to and from ``port`` on loopback."""
    table = f"dbswarm_blackhole_{port}"
    subprocess.run(["nft", "add", "table", "inet", table], check=True)
    try:
        subprocess.run(["nft", "add", "chain", "inet", table, "in",
                        "{ type filter hook input priority -10; policy accept; }"], check=True)
        for direction in ("dport", "sport"):
            subprocess.run(["nft", "add", "rule", "inet", table, "in", "iif", "lo", "tcp", direction, str(port),
                            "drop"], check=True)
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)


def _nft_usable() -> bool:
    try:
        return subprocess.run(["nft", "list", "tables"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_nft = pytest.mark.skipif(not _nft_usable(), reason="nftables not usable here (needs root)")


@pytest.fixture
def mariadb():
    server = MariaDBServer(max_connections=80).start()
    yield server
    server.cleanup()


def _connections(port: int) -> int:
    with mysql_conn(port=port) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID() "
                    "AND command <> 'Daemon'")
        return int(cur.fetchone()[0])


@needs_nft
def test_blackhole_mysql(mariadb, tmp_path):
    run = FaultRun(tmp_path, FLASH, mariadb.port, "myshop", extra=("--db-connect-timeout", "2"))
    run.wait_connected(lambda: _connections(mariadb.port))
    with blackhole(mariadb.port):
        time.sleep(5.0)
    ended = time.time()
    result = run.finish()
    classes = failures_by_class(result)
    fig = figures(result, fault_end=ended)
    print(f"blackhole: failures {classes}")
    assert result.returncode == 1
    assert classes.get("query-timeout", 0) + classes.get("commit-unknown", 0) >= USERS // 2, classes
    assert set(classes) <= {"query-timeout", "commit-unknown", "connect-timeout", "connection-lost"}, classes
    assert_recovered_and_exact(result, fig, mysql_rows("myshop", port=mariadb.port), fault_end=ended,
                               within=TIMEOUT + 4)


@needs_nft
@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_idle_connection_on_a_dead_host_is_dropped_by_the_kernel(engine, tmp_path):
    """TCP keepalive (3 s idle, 1 s probes, 3 of them) and TCP_USER_TIMEOUT 6 s on dbswarm's sockets."""
    server = (MariaDBServer(max_connections=20) if engine == "mysql" else PostgresServer(max_connections=20)).start()
    try:
        probe = subprocess.Popen([sys.executable, "tests/probes/idle_probe.py", engine, str(server.port), "8"],
                                 cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        settings = json.loads(probe.stdout.readline() or "{}")
        assert settings == {"keepalive": 1, "TCP_KEEPIDLE": 3, "TCP_KEEPINTVL": 1, "TCP_KEEPCNT": 3,
                            "TCP_USER_TIMEOUT": 6000}, (settings, probe.stderr.read() if not settings else "")
        with blackhole(server.port):
            probe.stdin.write("go\n")
            probe.stdin.flush()
            out, err = probe.communicate(timeout=30)
        result = json.loads(out.strip().splitlines()[-1])
        print(f"idle {engine} connection after 8 s on a dead host: {result}")
        assert result["outcome"] == "connection-lost", (result, err[-2000:])
        assert result["seconds"] < 1.0, result  # dropped already: no wait for any deadline
    finally:
        server.cleanup()


# -- a run that measured nothing --------------------------------------------------------------------

def test_a_run_whose_every_operation_failed_measured_nothing(mysql_db, tmp_path):
    """Users connect, then every statement overruns its deadline (0.3 s round trips, 0.01 s deadline): exit 4.

    The margin is wide because an answer that has arrived by the time a stalled
    process runs again is read before the deadline's timer fires, and counts
    as the success it is (on the shared machine a 0.1 s round trip against a
    0.05 s deadline let 2 of 130 statements through).
    """
    with FaultProxy(3306) as proxy:
        proxy.delay(0.15)
        run = FaultRun(tmp_path, FLASH, proxy.port, mysql_db, duration=5, extra=("--db-query-timeout", "0.01"))
        run.fault_at = time.time()
        result = run.finish()
    assert result.returncode == 4, result.stderr[-3000:]
    assert re.search(r"dbswarm: no request succeeded: all \d+ failed \(most: .*query-timeout", result.stdout), \
        result.stdout[-2000:]
    # The failures by class, with the operations they hit, ahead of Locust's own report.
    assert re.search(r"dbswarm: failed: \d+ query-timeout \((browse_category|place_order|lookup_order) \d+.*\); "
                     r"e\.g\. (statement|transaction): no answer within 0\.01s", result.stdout), result.stdout[-2000:]


def test_a_run_without_users_measured_nothing(locust, mysql_db):
    run = locust("-f", FLASH, "--headless", "-u", "0", "-t", "3s", "--db-name", mysql_db, "--db-init", timeout=60)
    assert run.returncode == 4, why(run.output)
    assert "dbswarm: no request completed: nothing was measured" in run.stdout
