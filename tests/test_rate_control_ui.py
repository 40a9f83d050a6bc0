"""Load control started from the web UI's start form, in a real Chromium (Playwright), on the real servers.

The form's fields are the command line's options (plugins/run/web_form.py):
rate stages with Poisson arrivals, a warm-up and a latency limit, run by a
master with two workers on PostgreSQL; --find-max-rps on MariaDB; a bad value
refused in the page with the command line's reason. The page is checked (the
run runs by itself to its end, the Load control tab follows the stages and
shows the verdict), then what the run left: the block printed at its stop
and the per-request log (``--request-log``, tests/request_log.py).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from conftest import mysql_conn, pg_conn, unique_name
from request_log import after_warmup, cv, merged_starts, warmup_ends
from servers import free_port
from test_web_ui import header, locust as web_ui, log_text, page_of, start, _get

from playwright.sync_api import expect

from plugins.run.rate_plan import parse_slo, parse_stages

# Rates held to tight bounds: `make test` runs these alone, after the rest.
pytestmark = pytest.mark.serial

LOCUSTFILE = "tests/locustfiles/point_selects.py"


def _tab_rows(page, first: str) -> dict[str, str]:
    """The Load control tab's rows (what -> figures), read once the row ``first`` shows."""
    page.get_by_role("tab", name="Load control").click()
    expect(page.get_by_role("cell", name=first, exact=True)).to_be_visible()
    rows = {}
    for row in page.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def _stopped(page, timeout_s: float) -> None:
    """The run ended by itself (its last stage, or the search's verdict): nobody pressed STOP."""
    expect(page.locator("header")).to_contain_text(re.compile("stopped", re.I), timeout=timeout_s * 1000)


def _printed(log, text: str, timeout_s: float = 15) -> str:
    """The run's output once it holds ``text`` (a web UI run prints its block when it stops)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and text not in log_text(log):
        time.sleep(0.3)
    output = log_text(log)
    assert text in output, output[-3000:]
    return output


def _reason(text: str, parse) -> str:
    try:
        parse(text)
    except ValueError as exc:
        return str(exc)
    raise AssertionError(f"{text!r} parsed")


def test_stages_poisson_warmup_and_latency_limit_from_the_form_with_two_workers(tmp_path):
    db, log, requests = unique_name(), tmp_path / "locust.log", tmp_path / "req"
    master = str(free_port())
    try:
        with web_ui("-f", LOCUSTFILE, "--processes", "2", "--master-bind-port", master, "--master-port", master,
                    "--db-engine", "postgres", "--db-name", db, "--db-init", "--request-log", str(requests),
                    log_path=log) as (base, _proc), page_of(base, tmp_path, "rate_stages") as page:
            expect(page.locator("header")).to_contain_text(db)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and header(page, "Workers").strip() != "2":
                time.sleep(0.3)
            start(page, 6, 100, **{"Rate stages": "2s:80,5s:80", "Arrival": "poisson", "Warmup": "2s",
                                   "Latency limit (ms)": "50"})
            expect(page.locator("header")).to_contain_text(re.compile("running", re.I))
            page.get_by_role("tab", name="Load control").click()
            expect(page.get_by_role("cell", name="poisson, latency limit 50 ms")).to_be_visible()  # live, as typed
            _stopped(page, 25)  # after the last stage
            _printed(log, "Rate stages (from the schedule")
            page.reload()  # the tab as the page shows it after the stop
            rows = _tab_rows(page, "stage 2")
            assert "in the warm-up" in rows["stage 1"], rows  # the 2 s ramp is the warm-up
            achieved = float(re.search(r"achieved ([\d.]+)/s", rows["stage 2"]).group(1))
            # The stage's 80/s, merged from both workers: Poisson starts in the 4 s after the last warm-up vary by
            # sqrt(320) = 17.9 (5.6 %); 20 % is more than 3 of those. (The workers' warm-ups end up to 1 s after the
            # master's: their runs start when the spawn message reaches them, after the master's preflight.)
            assert abs(achieved - 80) <= 16, rows
            assert re.search(r"late \d+, skipped \d+", rows["stage 2"]), rows
            span = re.match(r"(\d\d):(\d\d):(\d\d)-(\d\d):(\d\d):(\d\d) \(ended", rows["warm-up"])
            assert span, rows
            h0, m0, s0, h1, m1, s1 = map(int, span.groups())
            assert (h1 * 3600 + m1 * 60 + s1 - h0 * 3600 - m0 * 60 - s0) % 86400 in (2, 3), rows  # the 2 s typed
            page.get_by_role("tab", name="Statistics").click()
            expect(page.get_by_role("cell", name="point_select (from schedule)", exact=True)).to_be_visible()
            stats = {e["name"]: e for e in json.loads(_get(base + "/stats/requests"))["stats"]}
        output = log_text(log)
        assert "Traceback" not in output, output[-4000:]
        # What the run left: the stage table printed at its stop, and the per-request log of both workers.
        assert re.search(r"point_select: late \d+, skipped \d+", output), output[-3000:]
        processes = [p for p in after_warmup(requests) if p]
        assert len(processes) == 2
        after = [f for p in processes for f in p]
        ended = [f for f in after if f[0] == "R" and f[6] == "point_select"]
        assert len(ended) > 250
        # The typed warm-up reached both workers (each wrote its end mark, the master too), and Locust's count is
        # the requests that ended after it.
        assert len(warmup_ends(requests)) == 3
        total = stats["point_select"]["num_requests"]
        assert total == len(ended), (total, len(ended))
        starts = merged_starts(processes)  # Poisson from the form, not the default uniform grid (CV near 0)
        assert len(starts) > 200 and 0.75 < cv(starts) < 1.25, (len(starts), cv(starts))
    finally:
        conn = pg_conn()
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.close()


def test_find_max_rps_from_the_form_and_bad_values_refused_in_the_page(tmp_path):
    db, log = unique_name(), tmp_path / "locust.log"
    try:
        with web_ui("-f", LOCUSTFILE, "--db-engine", "mysql", "--db-name", db, "--db-init",
                    log_path=log) as (base, _proc), page_of(base, tmp_path, "find_max_rps") as page:
            # Refused with the command line's one-line reason; nothing starts.
            for fields, reason in (
                ({"Rate stages": "30s:abc"}, f"--rate-stages 30s:abc: {_reason('30s:abc', parse_stages)}"),
                ({"Find max RPS": True, "SLO": "p99=soon"}, f"--slo p99=soon: {_reason('p99=soon', parse_slo)}"),
            ):
                page.goto(base + "/")
                start(page, 2, 10, **fields)
                expect(page.get_by_role("alert")).to_contain_text(reason)
                assert header(page, "Status") == "READY"
            page.goto(base + "/")
            start(page, 2, 10, **{"Find max RPS": True, "SLO": "p99=80ms,fail=1%", "Find max RPS start": "25",
                                  "Find max RPS limit": "50", "Find max RPS step": "1s", "Find max RPS settle": "0s",
                                  "Rate users max": "10"})
            expect(page.locator("header")).to_contain_text(re.compile("running", re.I))
            _stopped(page, 25)  # the search ends the run
            verdict = "max rate meeting p99<=80ms, fail<=1%: 50/s (--find-max-rps-limit reached)"
            rows = _tab_rows(page, "verdict")
            assert rows.get("verdict") == verdict, rows
            assert rows["step 25.0/s"].startswith("ok: ") and rows["step 50.0/s"].startswith("ok: "), rows
        output = log_text(log)
        assert "Traceback" not in output, output[-4000:]
        assert output.count("web UI start refused") == 2
        assert re.search(r"^ +50\.0 +[\d.]+ .* ok ", output, re.M) and f"\n{verdict}\n" in output  # printed at its stop
    finally:
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
