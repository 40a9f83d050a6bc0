"""The web UI's Database and Latency µs tabs, live, and the report on demand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import browser
from conftest import REPO, mysql_conn, unique_name
from servers import free_port, stop_process, wait_port

USERS = 5


def _get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def test_database_tab_shows_samples_and_report_on_demand(tmp_path):
    db = unique_name()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "tests/locustfiles/point_selects.py", "--db-engine", "mysql",
         "--db-name", db, "--db-init", "--web-host", "127.0.0.1", "--web-port", str(port), "--autostart",
         "-u", str(USERS), "-r", str(USERS), "-t", "25s", "--db-stats-interval", "1",
         "--report-dir", str(tmp_path / "reports")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        wait_port(port, timeout=30)
        deadline = time.monotonic() + 20
        rows = {}
        while time.monotonic() < deadline:
            stats = json.loads(_get(f"http://127.0.0.1:{port}/stats/requests"))
            tabs = {t["key"]: t["data"] for t in stats.get("extended_stats", [])}
            rows = {r["metric"]: r for r in tabs.get("database", [])}
            latency = {r["name"]: r for r in tabs.get("latency-us", [])}
            if "connections" in rows and "point_select" in latency and len(rows["connections"]["trend"]) >= 3:
                break
            time.sleep(1)
        assert "connections" in rows, rows
        assert int(rows["connections"]["value"]) >= USERS + 1
        assert rows["max_connections"]["value"] > 0
        assert 0 < latency["point_select"]["p50"] <= latency["point_select"]["max"]

        index = _get(f"http://127.0.0.1:{port}/").decode()
        assert '"extended_tabs"' in index and "Database" in index

        page = _get(f"http://127.0.0.1:{port}/dbswarm/report", timeout=60).decode()
        assert page.count("data:image/png;base64,") == 4
        csv_text = _get(f"http://127.0.0.1:{port}/dbswarm/db_stats.csv").decode()
        assert csv_text.startswith("time,host,")

        url = f"http://127.0.0.1:{port}/?tab=database"
        result = browser.dom(url, wait_ms=6000)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "max_connections" in result.stdout and "history list length" in result.stdout
        shot = os.path.join(browser.screenshot_dir(tmp_path), "web_ui_database_tab.png")
        result = browser.screenshot(url, shot, size="1400,1100", wait_ms=6000)
        assert result.returncode == 0 and os.path.getsize(shot) > 20000, result.stderr[-2000:]
    finally:
        stop_process(proc, timeout=30)
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
