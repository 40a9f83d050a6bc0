"""TPC-C (locustfiles/tpcc.py) on the real MariaDB and PostgreSQL: load, run, NOPM/TPM, consistency checks.

The data is scaled down with the test-only --tpcc-scale-down 10 (10 000 items,
300 customers per district) so a load takes about a second; the default is the
specification's cardinalities.
"""

import csv
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import REPO, mysql_conn, pg_conn, unique_name, why
from servers import MariaDBServer

# Test scale; and the longest query deadline: a TPC-C lock wait on a loaded 2-core machine can pass 10 s.
SCALE = ("--tpcc-scale-down", "10", "--db-query-timeout", "30")
CUSTOMERS = 300  # per district at --tpcc-scale-down 10


@pytest.fixture(scope="module")
def mariadb():
    """A MariaDB of this module's own: the shared one is busy with other suites (and its Com_commit is theirs too)."""
    server = MariaDBServer(max_connections=100).start()
    yield server
    server.cleanup()


@pytest.fixture
def my_db(mariadb):
    """(port, database) of a new database on the module's MariaDB."""
    name = unique_name()
    with mysql_conn(port=mariadb.port) as conn:
        conn.cursor().execute(f"CREATE DATABASE `{name}`")
    return mariadb.port, name


def _conn(engine, db, port=None):
    if engine == "mysql":
        return mysql_conn(db, port=port or 3306)
    return pg_conn(db)


def _query(engine, db, sql, port=None):
    conn = _conn(engine, db, port)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


def _new_orders_in_db(engine, db, warehouses=1, port=None):
    """New-Orders committed since the load: D_NEXT_O_ID starts at customers + 1 in every district."""
    total = _query(engine, db, "SELECT SUM(d_next_o_id) FROM district1", port)[0][0]
    return int(total) - warehouses * 10 * (CUSTOMERS + 1)


def _result(output):
    nopm = int(re.search(r"NOPM: ([\d,]+)", output).group(1).replace(",", ""))
    client, server = re.search(r"TPM:\s+([\d,]+) client\s+([\d,]+) server", output).groups()
    committed = int(re.search(r"new_order: ([\d,]+) committed", output).group(1).replace(",", ""))
    seconds = float(re.search(r"users, ([\d.]+)s", output).group(1))
    return nopm, int(client.replace(",", "")), int(server.replace(",", "")), committed, seconds


def _only_retryable_failures(run, csv_prefix):
    """Deadlocks (and lock waits) between terminals are retried; the failed attempts are Locust failures (exit 1)."""
    if not run.failures():
        assert run.returncode == 0, why(run.output)
        return
    assert run.returncode == 1, why(run.output)
    with open(f"{csv_prefix}_failures.csv") as f:
        errors = [row["Error"] for row in csv.DictReader(f)]
    # A lock wait longer than --db-query-timeout (10 s, under InnoDB's 50 s) ends as query-timeout on a loaded
    # machine: the connection is closed, so the transaction rolled back (a COMMIT cut so would be commit-unknown).
    assert errors and all(re.search(r"deadlock|lock-wait-timeout|serialization-failure|query-timeout", e)
                          for e in errors), errors


def _check(engine, db, port=None):
    args = [sys.executable, "-m", "plugins.workloads.tpcc.check", "--db-engine", engine, "--db-name", db]
    if port:
        args += ["--db-port", str(port)]
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60)


def _assert_result_matches_database(run, engine, db, warehouses=1, port=None):
    nopm, tpm_client, tpm_server, committed, seconds = _result(run.stdout)
    in_db = _new_orders_in_db(engine, db, warehouses, port)
    assert committed == in_db > 0  # every committed New-Order counted once, none twice
    assert abs(nopm - committed / (seconds / 60)) <= 0.01 * nopm + 1  # seconds are printed rounded
    assert tpm_client > nopm  # the other four transactions
    # The server's counters also count retried deadlocks and the observer's queries: at least
    # what the users ended.
    assert tpm_server >= 0.95 * tpm_client, run.stdout[-2000:]
    assert run.count("new_order") - run.entry("new_order")["num_failures"] == committed
    return committed


def _target(engine, request):
    """(locust args, database, port) for a new database on the engine's server."""
    if engine == "mysql":
        port, db = request.getfixturevalue("my_db")
        return ["--db-engine", "mysql", "--db-port", str(port), "--db-name", db], db, port
    db = request.getfixturevalue("pg_db")
    return ["--db-engine", "postgres", "--db-name", db], db, None


def test_nurand_constants_follow_the_delta_rule():
    from plugins.workloads.tpcc import rand

    for c_load in (0, 50, 128, 200, 255):
        for _ in range(20):
            c_run = rand.c_last_for_run(c_load)
            assert 65 <= abs(c_run - c_load) <= 119 and abs(c_run - c_load) not in (96, 112)
    draws = [rand.nurand(1023, 1, 3000, 259) for _ in range(5000)]
    assert min(draws) >= 1 and max(draws) <= 3000
    assert rand.last_name(371) == "PRICALLYOUGHT"
    assert all(rand.other_warehouse(3, 5) != 3 for _ in range(200))


def test_bad_options_refused_before_load(locust, my_db):
    port, db = my_db
    target = ("-f", "locustfiles/tpcc.py", "--headless", "-u", "1", "-t", "2s", "--db-port", str(port), "--db-name", db)
    run = locust(*target, "--db-init", "--tpcc-warehouses", "0", timeout=60)
    assert run.returncode == 2, why(run.output)
    assert "dbswarm: --tpcc-warehouses 0: must be between 1 and 32767" in run.stderr
    assert not _query("mysql", db, "SHOW TABLES", port)  # nothing loaded
    run = locust(*target, "--db-init", *SCALE, timeout=60)
    assert run.returncode == 0, why(run.output)
    run = locust(*target, "-u", "11", "-r", "11", timeout=60)
    assert "dbswarm: tpcc: 11 users on 1 warehouse: more than 10 per warehouse" in run.stderr, why(run.output)
    run = locust(*target, "--tpcc-warehouses", "3", timeout=60)
    assert run.returncode == 2
    assert "dbswarm: --tpcc-warehouses 3: the database holds warehouses 1..1 (load them with --db-init)" in run.stderr


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_load_run_nopm_and_checks(locust, engine, request, tmp_path):
    target, db, port = _target(engine, request)
    run = locust("-f", "locustfiles/tpcc.py", *target, "--db-init", *SCALE,
                 "--headless", "-u", "4", "-r", "4", "-t", "15s", "--tpcc-check", "--statement-stats",
                 "--csv", str(tmp_path / "run"), "--report-dir", str(tmp_path / "reports"), timeout=120)
    _only_retryable_failures(run, tmp_path / "run")
    page = (tmp_path / "reports" / "run_report.html").read_text()
    assert "<h2>TPC-C result (NOPM, TPM)</h2>" in page and "<td>nopm</td>" in page
    assert "tpcc load: item: 10,000 rows" in run.stderr and "rows/s" in run.stderr
    assert "TPC-C result (TPROC-C-like): 1 warehouse, 4 users" in run.stdout
    _assert_result_matches_database(run, engine, db, port=port)
    for name in ("payment", "order_status", "delivery", "stock_level", "new_order.stock", "payment.customer_by_name"):
        assert run.count(name) > 0, name
    assert run.entry("new_order: rollback") is None or run.entry("new_order: rollback")["num_failures"] == 0
    for condition in (1, 2, 3, 4):
        assert f"tpcc check PASS: condition {condition} warehouse 1" in run.stdout
    assert "tpcc check FAIL" not in run.stdout
    assert _query(engine, db, "SELECT COUNT(*) FROM item1", port)[0][0] == 10_000
    assert _query(engine, db, "SELECT COUNT(*) FROM stock1", port)[0][0] == 10_000

    # an inconsistency the checks must find: condition 1 fails, exit code 3, alone and at the end of a run
    conn = _conn(engine, db, port)
    conn.cursor().execute("UPDATE warehouse1 SET w_ytd = w_ytd + 1 WHERE w_id = 1")
    if engine == "mysql":
        conn.commit()
    conn.close()
    alone = _check(engine, db, port)
    assert alone.returncode == 3, alone.stdout + alone.stderr
    assert "tpcc check FAIL: condition 1 warehouse 1" in alone.stdout
    assert "tpcc check PASS: condition 4 warehouse 1" in alone.stdout

    # --db-init again keeps the loaded warehouse (and its orders)
    orders = _query(engine, db, "SELECT COUNT(*) FROM orders1", port)[0][0]
    run = locust("-f", "locustfiles/tpcc.py", *target, "--db-init", *SCALE, "--headless", "-u", "1", "-t", "2s",
                 "--tpcc-check", "--tpcc-new-order-weight", "0", timeout=60)
    assert "tpcc load: kept warehouses 1 (already loaded)" in run.stderr, why(run.output)
    assert "item:" not in run.stderr
    assert _query(engine, db, "SELECT COUNT(*) FROM orders1", port)[0][0] == orders
    assert run.returncode == 3 and "tpcc check FAIL: condition 1 warehouse 1" in run.stdout


def test_distributed_run_counts_every_new_order_once(locust, pg_db, tmp_path, cloudwatch_endpoint):
    from moto_server import DUMMY_CREDENTIALS

    proxy, moto = cloudwatch_endpoint
    run = locust("-f", "locustfiles/tpcc.py", "--db-engine", "postgres", "--db-name", pg_db, "--db-init", *SCALE,
                 "--tpcc-warehouses", "2", "--processes", "2", "--headless", "-u", "4", "-r", "4", "-t", "12s",
                 "--tpcc-check", "--csv", str(tmp_path / "run"), "--cloudwatch", "--cloudwatch-endpoint", proxy.url,
                 "--cloudwatch-run-id", "tpcc", timeout=120, env=DUMMY_CREDENTIALS)
    _only_retryable_failures(run, tmp_path / "run")
    assert "TPC-C result (TPROC-C-like): 2 warehouses, 4 users" in run.stdout
    committed = _assert_result_matches_database(run, "postgres", pg_db, warehouses=2)
    # CloudWatch's NOPM metric holds each second's New-Orders: its Sum is every committed one
    now = datetime.now(timezone.utc)
    answer = moto.client().get_metric_statistics(
        Namespace="dbswarm", MetricName="NOPM", Dimensions=[{"Name": "RunId", "Value": "tpcc"}],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=2), Period=60, Statistics=["Sum"])
    assert sum(p["Sum"] for p in answer["Datapoints"]) == committed
    # home warehouses spread over both warehouses (HammerDB's virtual users)
    per_w = dict(_query("postgres", pg_db, "SELECT d_w_id, SUM(d_next_o_id) FROM district1 GROUP BY d_w_id"))
    assert all(int(per_w[w]) > 10 * (CUSTOMERS + 1) for w in (1, 2)), per_w
    assert run.stdout.count("tpcc check PASS") == 8 and "FAIL" not in run.stdout


def test_run_killed_mid_transaction_leaves_a_consistent_database(locust, my_db):
    port, db = my_db
    target = ("-f", "locustfiles/tpcc.py", "--db-port", str(port), "--db-name", db, "--headless")
    run = locust(*target, "--db-init", *SCALE, "-u", "1", "-t", "1s", timeout=60)
    assert "rows/s" in run.stderr, why(run.output)
    proc = subprocess.Popen([sys.executable, "-m", "locust", *target, "-u", "6", "-r", "6", "-t", "60s"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and _new_orders_in_db("mysql", db, port=port) < 200:
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # mid-transaction: the server rolls the open ones back
        proc.wait(timeout=10)
    assert _new_orders_in_db("mysql", db, port=port) >= 200
    checked = _check("mysql", db, port)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASS") == 4


def test_database_restarted_during_the_load_then_init_completes(locust):
    server = MariaDBServer(max_connections=50).start()
    try:
        with mysql_conn(port=server.port) as conn:
            conn.cursor().execute("CREATE DATABASE tpcc")
        args = ("-f", "locustfiles/tpcc.py", "--db-port", str(server.port), "--db-init", "--tpcc-warehouses", "4",
                "--tpcc-scale-down", "3", "--tpcc-load-workers", "1", "--headless", "-u", "1", "-t", "1s")
        proc = subprocess.Popen([sys.executable, "-m", "locust", *args], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:  # kill the server once a warehouse is in
            try:
                if _query("mysql", "tpcc", "SELECT COUNT(*) FROM warehouse1", server.port)[0][0] >= 1:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        server.stop(kill=True)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, out[-2000:]
        assert "dbswarm: a TPC-C loader process failed" in out
        server.start()
        loaded = _query("mysql", "tpcc", "SELECT w_id FROM warehouse1", server.port)
        assert 1 <= len(loaded) < 4
        run = locust(*args, "--tpcc-check", timeout=120)
        assert run.returncode == 0, why(run.output)
        assert "tpcc load: kept warehouses" in run.stderr
        assert _query("mysql", "tpcc", "SELECT COUNT(*) FROM stock1", server.port)[0][0] == 4 * 33_333
        assert run.stdout.count("tpcc check PASS") == 16
    finally:
        server.cleanup()
