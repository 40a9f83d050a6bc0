"""HDR interval logs merged from workers, and ``python -m plugins.observe.compare`` on two real runs.

Run A has two worker processes; run B is the same load on one process with
every point_select slowed on the server (SELECT SLEEP). The .hlog of A is
read back with hdrhistogram's own log reader and holds exactly the run's
counts; compare must flag point_select's latency as beyond noise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, why
from servers import free_port

SLEEP_MS = 4


def _run(locust, tmp_path, db, name, *extra):
    reports = tmp_path / name
    run = locust("-f", "tests/locustfiles/compare_probe.py", "--headless", "-u", "4", "-r", "4", "-t", "12s",
                 "--db-init", "--db-name", db, "--report-dir", str(reports), "--hdr-log-interval", "3",
                 "--web-port", str(free_port()), "--only-summary", "--no-db-stats-console", *extra, timeout=90)
    assert run.returncode == 0, why(run.output)
    return run, str(reports)


def _compare(*args):
    return subprocess.run([sys.executable, "-m", "plugins.observe.compare", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def _hlog_counts(path: str) -> dict[str, int]:
    from hdrh.histogram import HdrHistogram
    from hdrh.log import HistogramLogReader

    reader = HistogramLogReader(path, HdrHistogram(1, 60_000_000, 3))
    counts: dict[str, int] = {}
    for _ in range(100_000):
        hist = reader.get_next_interval_histogram()
        if hist is None:
            break
        counts[hist.get_tag()] = counts.get(hist.get_tag(), 0) + hist.get_total_count()
    return counts


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from conftest import mysql_conn, run_locust, unique_name

    tmp = tmp_path_factory.mktemp("compare")
    db = unique_name()
    with mysql_conn() as conn:
        conn.cursor().execute(f"CREATE DATABASE `{db}`")

    def locust(*args, timeout=90):
        return run_locust(list(args), tmp, timeout=timeout)

    try:
        a = _run(locust, tmp, db, "a", "--processes", "2", "--hdr-log", str(tmp / "a" / "latency.hlog"))
        b = _run(locust, tmp, db, "b", "--probe-sleep-ms", str(SLEEP_MS))
        yield a, b, tmp
    finally:
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_hlog_from_two_workers_reads_back_with_the_runs_counts(two_runs):
    (run_a, reports_a), _b, _tmp = two_runs
    with open(os.path.join(reports_a, "latency_us.json")) as f:
        own = {r["name"].replace(" ", "_"): r["count"] for r in json.load(f)}
    counts = _hlog_counts(os.path.join(reports_a, "latency.hlog"))
    assert counts == own
    assert counts["point_select"] == run_a.count("point_select") > 100
    assert counts["range_select"] == run_a.count("range_select") > 50
    with open(os.path.join(reports_a, "latency.hlog")) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("#[") and any(line.startswith("#[StartTime: ") for line in lines[:5])
    interval = re.compile(r"^Tag=[^\s,]+,\d+\.\d+,\d+\.\d+,\d+\.\d+,HISTF\S+$")
    body = [line for line in lines if not line.startswith(("#", '"'))]
    assert body and all(interval.match(line) for line in body), body[:3]
    assert len({line.split(",")[1] for line in body if line.startswith("Tag=point_select,")}) >= 3


def test_compare_prints_a_readable_table_and_flags_the_slowed_run(two_runs):
    (_run_a, reports_a), (_run_b, reports_b), tmp = two_runs
    page = tmp / "compare.html"
    proc = _compare(reports_a, reports_b, "--html", str(page))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    block = out[out.index("point_select (MySQL)"):out.index("range_select (MySQL)")]
    p50 = re.search(r"^  p50 µs\s+(\d+)\s+(\d+)\s+([+-]\d+\.\d) %\s+(\d+)\s+(.*)$", block, re.M)
    assert p50, block
    a, b = int(p50.group(1)), int(p50.group(2))
    assert b >= a + SLEEP_MS * 1000 * 0.8, (a, b)
    assert p50.group(5) == "BEYOND NOISE: worse"
    assert re.search(r"^  point_select p50: \+\d+\.\d % \(worse\)$", out, re.M)
    for metric in ("requests/s", "p99 µs", "p99.9 µs", "failures %"):
        assert re.search(rf"^  {re.escape(metric)}\s", block, re.M), metric
    text = page.read_text()
    assert "BEYOND NOISE: worse" in text and text.count("data:image/png;base64,") >= 2


def test_compare_refuses_what_is_not_a_report(two_runs, tmp_path):
    (_run_a, reports_a), _b, _tmp = two_runs
    proc = _compare(reports_a, str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"dbswarm: {tmp_path / 'missing'}: no such directory"
    proc = _compare(reports_a, str(tmp_path))
    assert proc.returncode == 2
    assert "no latency_us.json" in proc.stderr and not (tmp_path / "compare.html").exists()
