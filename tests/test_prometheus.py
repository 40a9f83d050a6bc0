"""--prometheus-port scraped by a real Prometheus every second, and the Grafana dashboard's queries.

One flash-sale run at a fixed arrival rate (so its rate is steady) on the
local runner; the test then asks Prometheus over its HTTP API and holds the
answers against Locust's own stats, dbswarm's latency_us.json and the order
rows in the database.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time

import pytest

from conftest import REPO, order_rows, why
from prometheus_server import BINARY, PrometheusServer
from request_log import warmup_ends
from servers import free_port

DASHBOARD = os.path.join(REPO, "deploy", "grafana", "dbswarm.json")
RATE = 120
# What the dashboard's Grafana variables stand for when the test runs its queries.
GRAFANA_VARS = {"$__rate_interval": "10s", "$__interval": "1s", "$__range": "30s"}
LABELS = {"__name__", "instance", "job", "operation", "engine", "error_class", "le", "counter", "endpoint"}  # endpoint: writer or reader


def _prometheus_or_skip():
    if shutil.which(BINARY) is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("prometheus is not installed (make test-tools)")
        pytest.skip("prometheus is not installed (make test-tools)")


def _value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def _final(prom, expr: str, end: float) -> float:
    """The last scraped value (the target is gone now: staleness markers hide a plain instant query)."""
    return _value(prom.query(f"last_over_time({expr}[3m])", end))


def _bucket_index(bounds: list[float], seconds: float) -> int:
    return next(i for i, b in enumerate(bounds) if seconds <= b)


def dashboard_expressions() -> list[tuple[str, str]]:
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = [(f"panel '{p['title']}' {t['refId']}", t["expr"]) for p in dash["panels"] for t in p["targets"]]
    exprs += [(f"annotation '{a['name']}'", a["expr"]) for a in dash["annotations"]["list"]]
    return exprs


@pytest.fixture(scope="module")
def scraped_run(tmp_path_factory):
    """(prometheus, the run, report dir, database, start, end); one run for every test here."""
    _prometheus_or_skip()
    from conftest import mysql_conn, run_locust, unique_name

    tmp = tmp_path_factory.mktemp("prom")
    db = unique_name()
    with mysql_conn() as conn:
        conn.cursor().execute(f"CREATE DATABASE `{db}`")
    port = free_port()
    prom = PrometheusServer([f"127.0.0.1:{port}"]).start()
    reports = tmp / "reports"
    start = time.time()
    try:
        run = run_locust(
            ["-f", "locustfiles/flash_sale.py", "--headless", "-u", "8", "-r", "8", "-t", "24s", "--db-init",
             "--db-name", db, "--target-rps", str(RATE), "--db-stats-interval", "1", "--no-db-stats-console",
             "--prometheus-port", str(port), "--prometheus-final-scrape", "10", "--report-dir", str(reports),
             "--web-port", str(free_port()), "--only-summary"],
            tmp, timeout=120,
        )
        assert run.returncode == 0, why(run.output)
        yield prom, run, str(reports), db, start, time.time()
    finally:
        prom.stop()
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_counts_are_locusts_and_the_histogram_count_equals_them(scraped_run):
    prom, run, _reports, _db, _start, end = scraped_run
    entries = [e for e in run.stats if e["method"] == "MySQL"]
    assert {e["name"] for e in entries} >= {"browse_category", "place_order", "lookup_order"}
    for e in entries:
        labels = f'operation="{e["name"]}",engine="MySQL"'
        assert _final(prom, f"dbswarm_requests_total{{{labels}}}", end) == e["num_requests"], e["name"]
        assert _final(prom, f"dbswarm_request_duration_seconds_count{{{labels}}}", end) == e["num_requests"]


def test_rate_matches_locusts_requests_per_second(scraped_run):
    prom, run, _reports, _db, _start, _end = scraped_run
    entries = [e for e in run.stats if e["method"] == "MySQL" and e["name"] != "connect"]
    last = int(max(e["last_request_timestamp"] for e in entries))
    at, window = last - 3, 12
    locust_rps = sum(n for e in entries for t, n in e["num_reqs_per_sec"].items()
                     if at - window <= int(t) < at) / window
    prom_rps = _value(prom.query(
        f'sum(rate(dbswarm_requests_total{{engine="MySQL",operation!="connect"}}[{window}s]))', at))
    assert locust_rps > RATE * 0.5, locust_rps
    assert abs(prom_rps - locust_rps) <= 0.05 * locust_rps, (prom_rps, locust_rps)


def _hlog_totals(path: str) -> dict:
    """Whole-run histogram per tag, read back with hdrhistogram's own log reader."""
    from hdrh.histogram import HdrHistogram
    from hdrh.log import HistogramLogReader

    reader = HistogramLogReader(path, HdrHistogram(1, 60_000_000, 3))
    totals: dict = {}
    for _ in range(100_000):
        hist = reader.get_next_interval_histogram()
        if hist is None:
            break
        tag = hist.get_tag()
        if tag not in totals:
            totals[tag] = HdrHistogram(1, 60_000_000, 3)
        totals[tag].add(hist)
    return totals


def test_p99_from_the_histogram_is_dbswarms_own_within_one_bucket(scraped_run):
    prom, _run, reports, _db, _start, end = scraped_run
    with open(os.path.join(reports, "latency_us.json")) as f:
        rows = [r for r in json.load(f) if r["type"] == "MySQL" and r["count"] >= 200]
    whole = _hlog_totals(os.path.join(reports, "latency.hlog"))  # the headless default .hlog
    assert rows
    for row in rows:
        hist = whole[row["name"]]
        assert hist.get_total_count() == row["count"] and hist.get_value_at_percentile(99.0) == row["p99"]
        labels = f'operation="{row["name"]}",engine="MySQL"'
        series = prom.query(f"last_over_time(dbswarm_request_duration_seconds_bucket{{{labels}}}[3m])", end)
        bounds = sorted(float(s["metric"]["le"]) for s in series)
        assert bounds[0] == 0.00005 and bounds[-2] == 60.0 and math.isinf(bounds[-1])
        quantile = _value(prom.query(
            f"histogram_quantile(0.99, last_over_time(dbswarm_request_duration_seconds_bucket{{{labels}}}[3m]))", end))
        # HDR takes the value at rank round(0.99 n), Prometheus interpolates at rank 0.99 n: allow the
        # requests next to that rank (a gap between two of them may span buckets).
        step = 100.0 / row["count"]
        low = hist.get_value_at_percentile(99.0 - step) / 1e6
        high = hist.get_value_at_percentile(min(100.0, 99.0 + step)) / 1e6
        found = _bucket_index(bounds, quantile)
        assert _bucket_index(bounds, low) - 1 <= found <= _bucket_index(bounds, high) + 1, \
            (row["name"], quantile, row["p99"], low, high)


def test_orders_match_the_order_rows(scraped_run):
    prom, _run, _reports, db, _start, end = scraped_run
    orders = _final(prom, 'dbswarm_scenario_events_total{counter="orders"}', end)
    assert orders > 0
    assert orders == order_rows(db)


def test_database_and_runner_figures_are_served(scraped_run):
    prom, _run, _reports, _db, start, end = scraped_run
    assert _value(prom.query("max_over_time(dbswarm_users[3m])", end)) == 8
    assert _final(prom, "dbswarm_target_arrival_rate", end) == RATE
    assert _final(prom, 'dbswarm_db_max_connections{engine="MySQL"}', end) > 0
    assert _value(prom.query('max_over_time(dbswarm_db_connections{engine="MySQL"}[3m])', end)) >= 8
    assert _final(prom, 'dbswarm_scaling_events_total{engine="MySQL"}', end) == 0
    series = prom.api("series", **{"match[]": '{__name__=~"dbswarm_.+"}', "start": f"{start:.0f}", "end": f"{end:.0f}"})
    used = {label for s in series for label in s}
    assert used <= LABELS, used - LABELS  # bounded labels only: no user, query or host label


@pytest.mark.parametrize("where,expr", dashboard_expressions(), ids=[w for w, _ in dashboard_expressions()])
def test_every_dashboard_query_returns_data(scraped_run, where, expr):
    prom, _run, _reports, _db, start, end = scraped_run
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"{where}: unknown Grafana variable in {expr}"
    result = prom.query_range(expr, start, end, step="1s")
    values = [float(v) for s in result for _t, v in s["values"]]
    assert any(not math.isnan(v) for v in values), f"{where}: no data for {expr}"


def test_warmup_gauge_is_1_in_the_warm_up_and_0_after(locust, mysql_db, tmp_path):
    """The warm-up is tagged by its own series; the request log's W line says when it ended."""
    _prometheus_or_skip()
    port, log = free_port(), tmp_path / "req"
    prom = PrometheusServer([f"127.0.0.1:{port}"]).start()
    try:
        prom.wait_for_targets()
        start = time.time()
        run = locust("-f", "tests/locustfiles/point_selects.py", "--headless", "-u", "2", "-r", "2", "-t", "6s",
                     "--db-engine", "mysql", "--db-name", mysql_db, "--db-init", "--target-rps", "20",
                     "--warmup", "3s", "--request-log", str(log), "--prometheus-port", str(port),
                     "--only-summary", timeout=90)
        end = time.time()
        assert run.returncode == 0, why(run.output)
        (warm_end,) = warmup_ends(log)
        # Scrapes every second: the last one 1.2 s before the end was inside the 3 s warm-up, the last
        # one 2 s after it outside.
        assert _value(prom.query("dbswarm_warmup", warm_end - 1.2)) == 1
        assert _value(prom.query("dbswarm_warmup", warm_end + 2)) == 0
        values = [float(v) for t, v in prom.query_range("dbswarm_warmup", start, end)[0]["values"]]
        ones = [i for i, v in enumerate(values) if v == 1]
        assert 2 <= len(ones) <= 4 and ones == list(range(ones[0], ones[-1] + 1)), values  # one stretch of ~3 s
        assert values[ones[-1] + 1:] and set(values[ones[-1] + 1:]) == {0}, values  # 0 for the rest of the run
        assert _final(prom, "dbswarm_warmup", end) == 0
    finally:
        prom.stop()


def _scrape_until_exit(port: int, proc) -> list[str]:
    """GET /metrics every 0.5 s while ``proc`` runs (bounded); the pages served, last one last."""
    import urllib.request

    pages = []
    for _ in range(240):
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                pages.append(r.read().decode())
        except OSError:
            pass
        time.sleep(0.5)
    return pages


def test_a_master_with_two_workers_serves_merged_counts_and_failures_by_class(mysql_db, tmp_path):
    import subprocess
    import sys

    from prometheus_client.parser import text_string_to_metric_families

    port, master, stats = free_port(), free_port(), tmp_path / "stats"
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "tests/locustfiles/compare_probe.py", "--headless", "-u", "4",
         "-r", "4", "-t", "8s", "--db-init", "--db-name", mysql_db, "--probe-duplicates", "--processes", "2",
         "--master-port", str(master), "--master-bind-port", str(master), "--prometheus-port", str(port),
         "--prometheus-final-scrape", "5", "--report-dir", str(tmp_path / "reports"), "--json-file", str(stats),
         "--web-port", str(free_port()), "--only-summary", "--no-db-stats-console"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        pages = _scrape_until_exit(port, proc)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, output[-3000:]  # requests failed: Locust's exit code
    with open(f"{stats}.json") as f:
        entries = {e["name"]: e for e in json.load(f) if e["method"] == "MySQL"}
    assert pages, output[-3000:]
    workers = [m for page in pages for m in re.findall(r"^dbswarm_workers (\S+)$", page, re.M)]
    assert max(float(w) for w in workers) == 2  # the last pages come after the workers left
    samples = {}
    for family in text_string_to_metric_families(pages[-1]):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    dup = entries["insert_duplicate"]
    assert dup["num_failures"] == dup["num_requests"] > 0
    for name, e in entries.items():
        labels = (("engine", "MySQL"), ("operation", name))
        assert samples[("dbswarm_requests_total", labels)] == e["num_requests"], name
        assert samples[("dbswarm_request_duration_seconds_count", labels)] == e["num_requests"], name
    failures = {k[1]: v for k, v in samples.items() if k[0] == "dbswarm_failures_total"}
    assert failures == {(("engine", "MySQL"), ("error_class", "duplicate-key"), ("operation", "insert_duplicate")):
                        dup["num_failures"]}


@pytest.mark.parametrize("args,message", [
    (["--prometheus-port", "70000"], "--prometheus-port 70000: must be between 1 and 65535"),
    (["--prometheus-final-scrape", "-1"], "--prometheus-final-scrape -1: must be between 0 and 600 seconds"),
    (["--hdr-log-interval", "0.1"], "--hdr-log-interval 0.1: must be between 0.5 and 3600 seconds"),
    (["--hdr-log", "tests"], "--hdr-log tests: is a directory, give a file name"),
], ids=["port", "final-scrape", "hdr-interval", "hdr-log-dir"])
def test_bad_options_are_refused_before_the_run(locust, mysql_db, args, message):
    run = locust("-f", "locustfiles/flash_sale.py", "--headless", "-u", "1", "-t", "2s", "--db-init",
                 "--db-name", mysql_db, *args, timeout=60)
    assert run.returncode == 2, why(run.output)
    assert re.search(rf"^dbswarm: {re.escape(message)}$", run.stderr, re.M), run.stderr[-2000:]
    assert run.requests() == 0


def test_a_port_in_use_is_refused(locust, mysql_db):
    import socket

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        run = locust("-f", "locustfiles/flash_sale.py", "--headless", "-u", "1", "-t", "2s", "--db-init",
                     "--db-name", mysql_db, "--prometheus-port", str(port), timeout=60)
    assert run.returncode == 2, why(run.output)
    assert re.search(rf"^dbswarm: --prometheus-port {port}: cannot listen: ", run.stderr, re.M), run.stderr[-2000:]
    assert run.requests() == 0
