"""--target-rps: an open loop on the real MariaDB; a stall shows up as latency, not as a lower rate."""

import threading
import time

import pytest

from conftest import mysql_conn, why
from servers import free_port

# Rates and outage windows within tight bounds: `make test` runs these alone, after the rest.
pytestmark = pytest.mark.serial

TARGET = 40.0
USERS = "10"
TX = "oltp_read_only"  # no row locks between users: no deadlock can add a failure


def _args(db, seconds):
    return ("-f", "locustfiles/oltp.py", "--headless", "-u", USERS, "-r", "100", "-t", f"{seconds}s",
            "--db-engine", "mysql", "--db-name", db, "--db-init", "--oltp-table-size", "1000", "--oltp-mode", "read_only",
            "--target-rps", f"{TARGET:g}")


def _rate(entry, skip_first=2, skip_last=2):
    """Starts per second over the steady middle of the run (per-second counts from the JSON stats)."""
    per_second = {int(t): n for t, n in entry["num_reqs_per_sec"].items()}
    first, last = min(per_second) + skip_first, max(per_second) - skip_last
    return sum(per_second.get(t, 0) for t in range(first, last + 1)) / (last - first + 1)


def _at_least(entry, ms):
    return sum(n for t, n in entry["response_times"].items() if float(t) >= ms)


def test_rate_below_capacity_is_met_within_2_percent(locust, mysql_db):
    run = locust(*_args(mysql_db, 14), timeout=90)
    assert run.returncode == 0, why(run.output)
    lag = run.entry(f"{TX} (schedule lag)")
    assert run.failures() == 0
    assert abs(_rate(lag) - TARGET) <= 0.02 * TARGET, _rate(lag)
    assert abs(_rate(run.entry(TX)) - TARGET) <= 0.02 * TARGET
    assert run.count(f"{TX} (from schedule)") == run.count(TX) == lag["num_requests"]
    assert "Arrival rate" in run.stdout and "target: 40/s" in run.stdout and "shortfall" not in run.stdout


def test_stall_shows_as_latency_and_the_rate_recovers(locust, mysql_db):
    result = []
    runner = threading.Thread(target=lambda: result.append(locust(*_args(mysql_db, 16), timeout=90)))
    runner.start()
    time.sleep(7)  # startup + --db-init + a few seconds of steady load
    conn = mysql_conn(mysql_db)
    cur = conn.cursor()
    cur.execute("LOCK TABLES sbtest1 WRITE")  # every transaction touches sbtest1: the database stalls
    time.sleep(2)
    cur.execute("UNLOCK TABLES")
    conn.close()
    runner.join()
    run = result[0]
    assert run.returncode == 0, why(run.output)
    assert run.failures() == 0
    service = run.entry(TX)
    intended = run.entry(f"{TX} (from schedule)")
    # Closed loop: only the transactions caught in the lock (one per user) look slow.
    assert _at_least(service, 1000) <= int(USERS)
    # From the schedule: every transaction due during the stall waited (about 80 due in 2 s at 40/s).
    assert intended["max_response_time"] >= 1800
    assert _at_least(intended, 1000) >= 25, intended["response_times"]
    # Overdue transactions ran back to back: the rate over the run, stall included, is still the target.
    assert abs(_rate(run.entry(f"{TX} (schedule lag)")) - TARGET) <= 0.03 * TARGET


def _own_master_port():
    port = str(free_port())
    return ("--master-bind-port", port, "--master-port", port)


def test_rate_is_divided_among_worker_processes(locust, mysql_db):
    # A port of its own: workers of other concurrent runs must not join this master (default 5557).
    run = locust(*_args(mysql_db, 12), "--processes", "2", *_own_master_port(), timeout=90)
    assert run.returncode == 0, why(run.output)
    assert run.failures() == 0
    lag = run.entry(f"{TX} (schedule lag)")
    assert abs(_rate(lag) - TARGET) <= 0.02 * TARGET, sorted(lag["num_reqs_per_sec"].items())


def test_shortfall_above_capacity_is_reported(locust, mysql_db):
    args = list(_args(mysql_db, 3))
    args[args.index("--target-rps") + 1] = "100000"
    args[args.index("-u") + 1] = "2"
    run = locust(*args, timeout=60)
    assert run.returncode == 0, why(run.output)
    shortfall = [line for line in run.stdout.splitlines() if line.strip().startswith("shortfall: ")]
    assert len(shortfall) == 1 and "below --target-rps" in shortfall[0]
