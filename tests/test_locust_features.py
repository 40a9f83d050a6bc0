"""Locust's own features with dbswarm users, each checked in what Locust writes and in the database.

The ledger (tests/locustfiles/ledger.py) writes one row per task naming its user
class, user and task, so tags, fixed_count and --config-users are counted where
they take effect. locust-plugins' -i/--iterations is in tests/test_locust_plugins.py.
"""

from __future__ import annotations

import csv
import datetime
import json
import os

import pytest

from conftest import mysql_conn, pg_conn, why

LEDGER = ("-f", "tests/locustfiles/ledger.py", "--headless", "--db-init")


def _ledger(db, engine="mysql"):
    conn = mysql_conn(db) if engine == "mysql" else pg_conn(db)
    cur = conn.cursor()
    cur.execute("SELECT user_class, task, COUNT(*), COUNT(DISTINCT user_id) FROM entries"
                " WHERE user_class <> 'seed' GROUP BY user_class, task")
    rows = {(c, t): (int(n), int(u)) for c, t, n, u in cur.fetchall()}
    conn.close()
    return rows


def _stdout_json(stdout: str) -> list[dict]:
    """--json prints the stats as a JSON array at the end of stdout."""
    lines = stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "[")
    return json.loads("\n".join(lines[start:]))


def test_fixed_count_json_csv_full_history_and_html(locust, mysql_db, tmp_path):
    prefix, html = tmp_path / "ledger", tmp_path / "ledger.html"
    run = locust(*LEDGER, "--db-engine", "mysql", "--db-name", mysql_db, "Clerk", "Auditor", "-u", "4", "-r", "4",
                 "-t", "5s", "--json", "--csv", str(prefix), "--csv-full-history", "--html", str(html), timeout=60)
    assert run.returncode == 0, why(run.output)
    rows = _ledger(mysql_db)
    # fixed_count = 1: one Auditor, the other three users Clerks.
    assert rows[("Auditor", "audit")][1] == 1 and rows[("Clerk", "write")][1] == 3
    writes = rows[("Auditor", "audit")][0] + rows[("Clerk", "write")][0]
    # --json on stdout: dbswarm's operations under their names, as many as the database has.
    printed = {e["name"]: e for e in _stdout_json(run.stdout)}
    assert printed["write_entry"]["num_requests"] == writes
    assert printed["read_entries"]["num_requests"] > 0 and printed["connect"]["num_requests"] == 4
    # --csv-full-history: a row per second per operation, the last one the run's total.
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        history = [r for r in csv.DictReader(f) if r["Name"] == "write_entry"]
    totals = [int(r["Total Request Count"]) for r in history]
    assert len(totals) >= 2 and totals == sorted(totals) and 0 < totals[-1] <= writes
    with open(f"{prefix}_stats.csv", newline="") as f:
        assert {r["Name"] for r in csv.DictReader(f)} >= {"write_entry", "read_entries", "connect", "Aggregated"}
    text = html.read_text()
    assert "write_entry" in text and "read_entries" in text


def test_tags_select_and_exclude_dbswarm_tasks(locust, mysql_db):
    base = (*LEDGER, "--db-engine", "mysql", "--db-name", mysql_db, "Clerk", "-u", "2", "-r", "2", "-t", "2s")
    run = locust(*base, "--tags", "write", timeout=60)
    assert run.returncode == 0, why(run.output)
    assert run.count("read_entries") == 0 and run.count("write_entry") > 0
    assert set(_ledger(mysql_db)) == {("Clerk", "write")}
    run = locust(*base, "--exclude-tags", "write", timeout=60)  # --db-init clears the ledger
    assert run.returncode == 0, why(run.output)
    assert run.count("write_entry") == 0 and run.count("read_entries") > 0
    assert _ledger(mysql_db) == {}


def test_config_users_overrides_fixed_count(locust, pg_db):
    run = locust(*LEDGER, "--db-engine", "postgres", "--db-name", pg_db, "Clerk", "Auditor", "-u", "4", "-r", "4",
                 "-t", "2s", "--config-users", '{"user_class_name": "Auditor", "fixed_count": 3}', timeout=60)
    assert run.returncode == 0, why(run.output)
    rows = _ledger(pg_db, "postgres")
    assert rows[("Auditor", "audit")][1] == 3 and rows[("Clerk", "write")][1] == 1


def test_reset_stats_drops_the_ramp_from_locusts_stats(locust, mysql_db):
    run = locust(*LEDGER, "--db-engine", "mysql", "--db-name", mysql_db, "Clerk", "--tags", "write",
                 "-u", "3", "-r", "1", "-t", "5s", "--reset-stats", timeout=60)
    assert run.returncode == 0, why(run.output)
    written = _ledger(mysql_db)[("Clerk", "write")][0]
    # Rows written while users were spawning are in the database, not in the stats.
    assert 0 < run.count("write_entry") < written
    assert run.count("connect") < 3


def _otel_points(stdout: str) -> dict[str, int]:
    """The latest count of locust.client.duration per request name, from the console metrics exporter."""
    decoder, counts, i = json.JSONDecoder(), {}, 0
    while (i := stdout.find("{", i)) != -1:
        try:
            doc, end = decoder.raw_decode(stdout, i)
        except json.JSONDecodeError:
            i += 1
            continue
        i = end
        for rm in doc.get("resource_metrics", []) if isinstance(doc, dict) else []:
            for sm in rm["scope_metrics"]:
                for metric in sm["metrics"]:
                    if metric["name"] == "locust.client.duration":
                        for point in metric["data"]["data_points"]:
                            counts[point["attributes"]["name"]] = point["count"]
    return counts


def test_otel_records_dbswarm_operations_under_their_names(locust, pg_db):
    pytest.importorskip("opentelemetry.sdk", reason="pip install -r requirements-dev.txt (Locust's otel extras)")
    env = {"OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "console",
           "OTEL_METRIC_EXPORT_INTERVAL": "1000", "OTEL_SERVICE_NAME": "dbswarm-test"}
    run = locust(*LEDGER, "--db-engine", "postgres", "--db-name", pg_db, "Clerk", "-u", "2", "-r", "2", "-t", "3s",
                 "--otel", env=env, timeout=60)
    assert run.returncode == 0, why(run.output)
    assert "OpenTelemetry enabled" in run.output
    counts = _otel_points(run.stdout)
    # The exporter's last (cumulative) point per operation equals Locust's count.
    for name in ("connect", "write_entry", "read_entries"):
        assert counts.get(name) == run.count(name) > 0, (name, counts)
    assert "dbswarm-test" in run.stdout
    assert os.environ.get("OTEL_METRICS_EXPORTER") is None  # nothing leaked into this process


def _logged_at(output: str, text: str) -> float:
    line = next(line for line in output.splitlines() if text in line)
    stamp = datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


def test_run_time_counts_from_the_start_of_the_load(locust, mysql_db):
    """-t 2s lasts 2 s after the locustfile's own 1.5 s setup (it ended 0.5 s after it was set)."""
    run = locust("-f", "tests/locustfiles/slow_init.py", "--headless", "-u", "1", "-t", "2s", "--db-engine", "mysql",
                 "--db-name", mysql_db, "--db-init", timeout=60)
    assert run.returncode == 0, why(run.output)
    lasted = _logged_at(run.stderr, "--run-time limit reached") - _logged_at(run.stderr, "Run time limit set to 2")
    assert 1.95 <= lasted <= 3.0, lasted
    assert run.count("point_select") > 0
