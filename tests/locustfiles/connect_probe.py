"""Test workload: point selects, recording when each connect ran.

A listener on ``events.request`` notes every ``connect`` request's start and
end (perf_counter, end minus the reported time) and writes them to
``$CONNECT_PROBE_OUT`` when the run stops, so a test can count how many
handshakes were in flight at once.
"""

import json
import os
from time import perf_counter

from locust import events
from point_selects import PointReader  # noqa: F401  (the user class Locust runs)

intervals = []


@events.request.add_listener
def _note_connect(name, response_time, **_kwargs):
    if name.startswith("connect"):
        end = perf_counter()
        intervals.append((end - response_time / 1000.0, end))


@events.quitting.add_listener
def _write(environment, **_kwargs):
    with open(os.environ["CONNECT_PROBE_OUT"], "w") as f:
        json.dump(intervals, f)
