"""TPC-C (locustfiles/tpcc.py) started, watched and stopped from the web UI, in a real Chromium (Playwright).

On each engine (PostgreSQL with a master and two workers): the start form's
users, rate and TPC-C fields (a weight set to 0, the consistency checks
ticked) reach the run; the Statistics table shows the transactions; the
TPC-C tab shows NOPM and TPM while the test runs, then the result and the
checks once STOP is pressed. What the page counted is what the database
holds, with the headless tests' accounting (tests/test_tpcc.py). On MariaDB a
second test (NEW) on a database made inconsistent shows the failed check in
the tab, and quitting the process exits 3.
"""

from __future__ import annotations

import os
import re
import time

import pytest

import browser
from conftest import mysql_conn, pg_conn, unique_name
from servers import free_port
from test_tpcc import SCALE, _conn, _new_orders_in_db
from test_web_ui import _get, header, locust as web_ui, log_text, page_of, start, stats_row, stop, wait_users

from playwright.sync_api import expect

RETRYABLE = re.compile(r"deadlock|lock-wait-timeout|serialization-failure|query-timeout")
CONDITIONS = 4  # consistency conditions per warehouse


def _tab(page) -> dict[str, tuple[str, str]]:
    """The TPC-C tab's rows: figure -> (value, what it counts); check rows keyed by their condition."""
    page.get_by_role("tab", name="TPC-C").click()
    expect(page.get_by_role("cell", name="NOPM", exact=True)).to_be_visible()
    rows = {}
    for row in page.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        if len(cells) == 3:
            key = cells[2].split(":")[0] if cells[0] == "consistency check" else cells[0]
            rows[key] = (cells[1], cells[2])
    return rows


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _tab_when(page, ready, timeout_s: float = 20) -> dict:
    """The TPC-C tab once ``ready(rows)`` holds (the UI refreshes it every 2 s)."""
    deadline = time.monotonic() + timeout_s
    rows = _tab(page)
    while not ready(rows) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = _tab(page)
    assert ready(rows), rows
    return rows


def _count(page, name: str) -> int:
    """Requests under ``name`` in the Statistics table (0 when it has no row)."""
    cells = stats_row(page, name)
    return _number(cells[2]) if cells else 0


def _wait_for_the_mix(page, timeout_s: float = 20) -> None:
    """Every transaction with a weight has run a few times (4 % of a few hundred)."""
    page.get_by_role("tab", name="Statistics").click()
    deadline = time.monotonic() + timeout_s
    names = ("new_order", "payment", "order_status", "delivery")
    while time.monotonic() < deadline and min(_count(page, n) for n in names) < 3:
        time.sleep(0.5)
    assert min(_count(page, n) for n in names) >= 3, {n: _count(page, n) for n in names}


def _failures(page) -> list[str]:
    """The Failures tab's messages (its columns: # Failures, Method, Name, Message, First Seen, Last Seen)."""
    page.get_by_role("tab", name="Failures").click()
    expect(page.get_by_role("columnheader", name="Message")).to_be_visible()
    return [row.locator("td").nth(3).inner_text() for row in page.locator("tbody tr").all()]


def _drop(engine: str, db: str) -> None:
    if engine == "mysql":
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
        return
    conn = pg_conn()
    conn.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    conn.close()


def _break_condition_1(engine: str, db: str) -> None:
    conn = _conn(engine, db)
    conn.cursor().execute("UPDATE warehouse1 SET w_ytd = w_ytd + 1 WHERE w_id = 1")
    if engine == "mysql":
        conn.commit()
    conn.close()


def _launch_args(engine: str, db: str, processes: bool) -> list[str]:
    args = ["-f", "locustfiles/tpcc.py", "--db-engine", engine, "--db-name", db, "--db-init", *SCALE]
    if processes:
        master = str(free_port())
        args += ["--processes", "2", "--master-bind-port", master, "--master-port", master]
    return args


def _run_and_stop(page, mix: bool = True, report_from: str | None = None) -> dict:
    """START with edited TPC-C fields, see NOPM live, STOP; the tab once its result and checks are in.

    ``report_from``: the web UI to ask for the run report while the test runs (its figures so far must not
    become the test's result).
    """
    start(page, 4, 4, **{"TPC-C stock level weight": "0", "TPC-C check": True})
    wait_users(page, 4)
    if mix:
        _wait_for_the_mix(page)
    if report_from:
        assert "<h2>TPC-C result (NOPM, TPM)</h2>" in _get(report_from + "/dbswarm/report", timeout=60).decode()
    live = _tab_when(page, lambda r: r["test"][0] == "running" and _number(r["NOPM"][0]) > 0)
    assert live["TPM (server)"][0] == "at the stop" and _number(live["TPM (client)"][0]) > _number(live["NOPM"][0])
    stop(page)
    return _tab_when(page, lambda r: r["test"][0] == "stopped" and len(r) >= 6 + CONDITIONS)


@pytest.mark.parametrize("engine,processes", [("mysql", False), ("postgres", True)])
def test_tpcc_started_watched_and_stopped_from_the_web_ui(tmp_path, engine, processes):
    db, log = unique_name(), tmp_path / "locust.log"
    try:
        with web_ui(*_launch_args(engine, db, processes), log_path=log) as (base, proc), \
                page_of(base, tmp_path, f"tpcc_{engine}") as page:
            expect(page.locator("header")).to_contain_text(db)
            if processes:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and header(page, "Workers").strip() != "2":
                    time.sleep(0.3)
            rows = _run_and_stop(page, report_from=base if processes else None)
            page.screenshot(path=os.path.join(browser.screenshot_dir(tmp_path), f"tpcc_tab_{engine}.png"))
            committed = _number(rows["New-Orders committed"][0])
            page.get_by_role("tab", name="Statistics").click()
            new_order = stats_row(page, "new_order")
            # The headless tests' accounting: every committed New-Order counted once, by the page and the tab.
            assert _number(new_order[2]) - _number(new_order[3]) == committed == _new_orders_in_db(engine, db) > 0
            assert _count(page, "stock_level") == 0  # the weight typed in the form reached every user
            rollback = stats_row(page, "new_order: rollback")
            assert not rollback or rollback[3] == "0"  # the 1 % by design are successes
            seconds = float(re.match(r"([\d.]+)s", rows["test"][1]).group(1))
            nopm, tpm = _number(rows["NOPM"][0]), _number(rows["TPM (client)"][0])
            # The seconds are shown rounded to 0.1 s.
            assert abs(nopm - committed / (seconds / 60)) <= nopm * 0.051 / seconds + 1 and tpm > nopm
            assert _number(rows["TPM (server)"][0]) >= 0.95 * tpm  # the server also counts retried attempts
            for condition in range(1, CONDITIONS + 1):
                assert rows[f"condition {condition} warehouse 1"][0] == "PASS", rows
            failures = _failures(page)
            assert all(RETRYABLE.search(m) for m in failures), failures
            print(f"{engine}: NOPM {nopm}, TPM client {tpm}, server {rows['TPM (server)'][0]}, "
                  f"{committed} New-Orders in {seconds}s")
            if engine == "mysql":
                # NEW on a database made inconsistent: the failed condition shows at the stop, and sets the exit code.
                _break_condition_1(engine, db)
                page.get_by_role("button", name="New").click()
                rows = _run_and_stop(page, mix=False)
                assert rows["condition 1 warehouse 1"][0] == "FAIL", rows
        output = log_text(log)
        assert "Traceback" not in output, output[-4000:]
        # Printed at the stop: the result and the checks, once per test.
        assert output.count("TPC-C result (TPROC-C-like): 1 warehouse, 4 users") == (2 if engine == "mysql" else 1)
        assert f"NOPM: {nopm:,}" in output
        assert output.count("tpcc check PASS: condition 4 warehouse 1") == (2 if engine == "mysql" else 1)
        if engine == "mysql":
            assert "tpcc check FAIL: condition 1 warehouse 1" in output
            assert proc.returncode == 3
    finally:
        _drop(engine, db)
