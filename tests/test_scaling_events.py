"""An instance swap mid-run, on a throwaway server: one scaling event, the run goes on.

The test restarts its own server with a different max_connections while the
load runs, as Aurora does when a bigger instance takes over the endpoint:
uptime starts again and max_connections changes at once, which must be
reported as exactly one event with the old and new values.
"""

from __future__ import annotations

import csv
import json
import threading
import time

import pytest

from conftest import run_locust, why
from servers import MariaDBServer, PostgresServer

USERS = 12
RUN_S = 20
SWAP_AFTER_S = 7
DOWN_S = 3


@pytest.fixture(params=["mysql", "postgres"])
def server(request):
    cls = MariaDBServer if request.param == "mysql" else PostgresServer
    srv = cls(max_connections=60).start()
    yield request.param, srv
    srv.cleanup()


def test_instance_swap_is_one_event_and_the_run_goes_on(server, tmp_path):
    engine, srv = server
    reports = tmp_path / "reports"
    swapped = {}

    def swap():
        time.sleep(SWAP_AFTER_S)
        swapped["at"] = time.time()
        srv.stop()
        time.sleep(DOWN_S)  # several failed samples: the observer must keep trying
        srv.start(max_connections=90)
        swapped["up"] = time.time()

    thread = threading.Thread(target=swap)
    thread.start()
    try:
        run = run_locust(
            ["-f", "tests/locustfiles/point_selects.py", "--headless", "-u", str(USERS), "-r", str(USERS),
             "-t", f"{RUN_S}s", "--db-engine", engine, "--db-port", str(srv.port), "--db-init",
             "--db-stats-interval", "1", "--report-dir", str(reports)],
            tmp_path, timeout=120,
        )
    finally:
        thread.join(timeout=90)
    assert "up" in swapped, "the server did not come back"
    assert "Traceback" not in run.output, why(run.output)
    assert "--run-time limit reached" in run.output

    data = json.loads((reports / "db_events.json").read_text())
    events = data["scaling_events"]
    assert len(events) == 1, events
    event = events[0]
    assert event["changes"]["max_connections"] == {"old": 60, "new": 90}
    assert event["changes"]["uptime_s"]["new"] < event["changes"]["uptime_s"]["old"]
    assert "max_connections changed" in event["reasons"] and "uptime went back" in event["reasons"]
    assert swapped["at"] - 1 <= event["time"] <= swapped["up"] + 5
    gaps = data["gaps"]
    assert len(gaps) == 1 and gaps[0]["end"] is not None
    assert DOWN_S - 0.5 <= gaps[0]["end"] - gaps[0]["start"] <= DOWN_S + 15
    assert event["gap_s"] == round(gaps[0]["end"] - gaps[0]["start"], 3)
    assert run.stdout.count("*** scaling event") == 1
    assert "max_connections 60 -> 90" in run.stdout
    assert "Scaling events: 1" in run.stdout  # the scaling_events counter (CloudWatch metric)

    # The run went on: samples on the new instance see the users back, and requests kept succeeding.
    with open(reports / "db_stats.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    failed = [r for r in rows if r["error"]]
    assert len(failed) >= 2 and all(gaps[0]["start"] <= float(r["time"]) < gaps[0]["end"] for r in failed)
    after = [r for r in rows if not r["error"] and float(r["time"]) > event["time"]]
    assert len(after) >= 4
    assert {int(r["max_connections"]) for r in after} == {90}
    assert max(int(r["connections"]) for r in after) >= USERS
    ok = run.count("point_select") - (run.entry("point_select") or {}).get("num_failures", 0)
    assert ok > 1000
