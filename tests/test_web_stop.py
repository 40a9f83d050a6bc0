"""After STOP the web page reaches STOPPED with the run's final figures, however long the stop takes.

Locust's page stops polling once it has seen CLEANUP or STOPPING and then
stays there (plugins/run/web_stop.py). Here each user's 6 s statement makes
the graceful stop last seconds and an end-of-test listener adds 3 s; the page
is reloaded during the cleanup, so its one poll sees CLEANUP for certain.
"""

from __future__ import annotations

import json
import re
import time

from test_web_ui import _get, header, locust as web_ui, page_of, start

from playwright.sync_api import expect


def _state(base: str) -> str:
    return json.loads(_get(base + "/stats/requests"))["state"]


def test_stop_seen_in_cleanup_ends_on_stopped_with_the_final_figures(tmp_path):
    mark = tmp_path / "test_stop.mark"
    with web_ui("-f", "tests/locustfiles/slow_stop.py", env={"DBSWARM_TEST_STOP_MARK": str(mark)},
                log_path=tmp_path / "locust.log") as (base, _proc), page_of(base, tmp_path, "slow_stop") as page:
        start(page, 2, 2)
        expect(page.locator("header")).to_contain_text(re.compile("running", re.I), timeout=20_000)
        time.sleep(1)  # both users are in their 6 s statement
        page.get_by_role("button", name="Stop").click()
        expect(page.locator("header")).to_contain_text(re.compile("cleanup", re.I), timeout=5_000)
        page.reload()  # its first (and, in Locust's page, last) poll sees CLEANUP
        assert header(page, "Status").strip().lower() == "cleanup"
        # Locust says stopped before the end-of-test listener is done; until then the run is stopping.
        seen, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline and not mark.exists():
            seen.append(_state(base))
            time.sleep(0.2)
        assert mark.exists()
        assert "stopping" in seen and "stopped" not in seen, seen
        deadline = time.monotonic() + 5  # Locust serves one stats snapshot for 2 s
        while time.monotonic() < deadline and _state(base) != "stopped":
            time.sleep(0.2)
        assert _state(base) == "stopped"
        # The page left CLEANUP by itself, and its figures are the final ones.
        expect(page.locator("header")).to_contain_text(re.compile("stopped", re.I), timeout=10_000)
        page.get_by_role("tab", name="Statistics").click()
        row = page.locator("tr", has=page.locator("td", has_text=re.compile("^slow_statement$"))).first
        expect(row).to_be_visible()
        assert row.locator("td").all_inner_texts()[2] == "2"  # both statements finished and were counted
