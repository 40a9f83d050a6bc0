"""Measure whether N users each running a 0.5 s server-side sleep overlap.

Run as a script (its own process, so gevent's monkey patching is Locust's):
    python tests/probes/coop_probe.py mysql|postgres USERS [--blocking]
Prints JSON: {"done": n, "span": seconds from the first sleep's start to the last one's end}.
--blocking removes psycopg2's wait callback: the control that shows a blocking
driver is detected.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import gevent  # noqa: E402
from locust import constant, events, task  # noqa: E402
from locust.argument_parser import parse_options  # noqa: E402
from locust.env import Environment  # noqa: E402

from plugins import MySQLUser, PostgresUser, Scenario, read  # noqa: E402

engine, users = sys.argv[1], int(sys.argv[2])
blocking = "--blocking" in sys.argv
SLEEP = read("sleep", "SELECT SLEEP(0.5)" if engine == "mysql" else "SELECT pg_sleep(0.5)")
base = MySQLUser if engine == "mysql" else PostgresUser
database = "test"


class Sleeper(base):
    scenario = Scenario(name="sleep", database=database)
    wait_time = constant(60)

    @task
    def sleep(self):
        if blocking:
            from psycopg2 import extensions

            extensions.set_wait_callback(None)
        self.db.run(SLEEP)


ends = []


@events.request.add_listener
def _record(name, response_time, exception, **_kw):
    if exception is not None:
        print("failure", name, exception, file=sys.stderr)
    if name == "sleep" and exception is None:
        end = time.perf_counter()
        ends.append((end - response_time / 1000.0, end))


opts = parse_options(args=["--headless"])
env = Environment(user_classes=[Sleeper], events=events, parsed_options=opts)
runner = env.create_local_runner()
runner.start(users, spawn_rate=100000)
deadline = time.monotonic() + 60
while len(ends) < users and time.monotonic() < deadline:
    gevent.sleep(0.05)
runner.quit()
span = max(e for _, e in ends) - min(s for s, _ in ends) if ends else None
print(json.dumps({"done": len(ends), "span": span}))
