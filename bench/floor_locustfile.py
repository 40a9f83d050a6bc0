"""Locust's own cost per request: a plain User that fires one request event per task and touches no database.

``make bench`` runs it beside the bare loop with dbswarm's client: the two
added up are about the least a Locust user driving the database the way
dbswarm does can spend per query (together they cost a few µs more than the
sum), and the dbswarm user's row shows how far above that it is.
"""

import os
import sys
from time import perf_counter

from locust import User, constant, events, task

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import probe  # noqa: E402

probe.locust_listener()

ENGINE = os.environ.get("BENCH_ENGINE", "mysql")


class NoQueryUser(User):
    wait_time = constant(0)

    @task
    def point_select(self):
        start = perf_counter()
        events.request.fire(request_type=ENGINE, name="point_select", response_time=(perf_counter() - start) * 1000,
                            response_length=1, exception=None, context={})
