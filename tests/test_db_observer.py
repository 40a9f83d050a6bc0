"""The observer, µs percentiles and run report on the shared MariaDB and PostgreSQL.

One short point-select run per engine (MariaDB with --processes 2, so the HDR
histograms are merged from workers); the tests read what it left behind.
"""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest

import browser
from conftest import mysql_conn, pg_conn, run_locust, unique_name, why

USERS = 10


def _server_max_connections(engine: str) -> int:
    if engine == "mysql":
        with mysql_conn() as conn:
            cur = conn.cursor()
            cur.execute("SELECT @@max_connections")
            return int(cur.fetchone()[0])
    conn = pg_conn()
    try:
        cur = conn.cursor()
        cur.execute("SHOW max_connections")
        return int(cur.fetchone()[0])
    finally:
        conn.close()


@pytest.fixture(scope="module", params=["mysql", "postgres"])
def observed(request, tmp_path_factory):
    engine = request.param
    db = unique_name()
    work = tmp_path_factory.mktemp(f"observed-{engine}")
    reports = work / "reports"
    extra = ["--processes", "2"] if engine == "mysql" else []
    run = run_locust(
        ["-f", "tests/locustfiles/point_selects.py", "--headless", "-u", str(USERS), "-r", str(USERS), "-t", "10s",
         "--db-engine", engine, "--db-name", db, "--db-init", "--db-stats-interval", "1",
         "--report-dir", str(reports), *extra],
        work, timeout=120,
    )
    yield engine, run, reports
    if engine == "mysql":
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
    else:
        conn = pg_conn()
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.close()


def _samples(reports) -> list[dict]:
    with open(reports / "db_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_samples_are_plausible(observed):
    engine, run, reports = observed
    assert run.returncode == 0, why(run.output)
    rows = [r for r in _samples(reports) if not r["error"]]
    assert len(rows) >= 6, rows  # 10 s at one per second, minus start-up
    expected_max = _server_max_connections(engine)
    assert {int(r["max_connections"]) for r in rows} == {expected_max}
    # All users hold a connection while the load runs; the observer adds its own.
    assert max(int(r["connections"]) for r in rows) >= USERS + 1
    assert all(r["host"] for r in rows)
    uptimes = [float(r["uptime_s"]) for r in rows]
    assert uptimes == sorted(uptimes)
    assert any(r["commits_per_s"] for r in rows)
    events = json.loads((reports / "db_events.json").read_text())
    assert events["scaling_events"] == [] and events["gaps"] == []
    assert events["samples"] == len(rows)
    # The headless console table: a header and one row per sample.
    assert "max_conn" in run.stdout and "buf_GiB" in run.stdout
    assert sum(1 for line in run.stdout.splitlines() if f"  {expected_max}  " in line) >= len(rows) - 1


def test_microsecond_percentiles_for_sub_millisecond_selects(observed):
    engine, run, reports = observed
    rows = {r["name"]: r for r in json.loads((reports / "latency_us.json").read_text())}
    point = rows["point_select"]
    # Merged from every process: exactly the requests Locust counted.
    assert point["count"] == run.count("point_select") > 100
    assert 0 < point["p50"] < 1000, point
    values = [point[k] for k in ("p50", "p90", "p99", "p99.9", "max")]
    assert values == sorted(values) and len(set(values)) > 1, point
    assert "Latency in µs" in run.stdout and "point_select" in run.stdout


def test_report_embeds_plots_and_opens_in_chromium(observed, tmp_path):
    engine, run, reports = observed
    page = reports / "run_report.html"
    assert page.exists(), why(run.output)
    text = page.read_text()
    assert text.count("src='data:image/png;base64,") == 4
    for png in ("throughput.png", "latency.png", "users.png", "connections.png"):
        assert (reports / png).stat().st_size > 5000
    result = browser.dom(page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'data-plots-loaded="4/4"' in result.stdout, result.stdout[:500]
    assert browser.page_errors(result.stderr) == []
    shot = os.path.join(browser.screenshot_dir(tmp_path), f"run_report_{engine}.png")
    result = browser.screenshot(page.as_uri(), shot)
    assert result.returncode == 0 and os.path.getsize(shot) > 20000, result.stderr[-2000:]
    if os.environ.get("DBSWARM_SCREENSHOTS"):
        shutil.copy(page, os.path.join(browser.screenshot_dir(tmp_path), f"run_report_{engine}.html"))


def test_bad_interval_stops_before_load(locust):
    run = locust("-f", "tests/locustfiles/point_selects.py", "--headless", "-u", "1", "-t", "2s",
                 "--db-engine", "mysql", "--db-stats-interval", "-1", timeout=60)
    assert run.returncode == 2
    assert "dbswarm: --db-stats-interval -1.0: must be 0 (off) or more" in run.stderr
    assert "Traceback" not in run.output
