"""Scale probe: many dbswarm users in one process, one point select per second each.

Measures what a user costs the process: RSS growth per user, time to spawn and
connect all users, and event-loop stalls (a greenlet that asks to wake every
1 ms notes how late it wakes) while the first 100 users spawn and over the
whole spawn. Writes ``$BENCH_OUT/scale.json`` once every user is connected.
"""

import json
import os
import random
import sys
import time
from time import perf_counter

import gevent
import psutil
from locust import constant, events, task

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import db  # noqa: E402
from plugins import DatabaseUser, Scenario, read  # noqa: E402

POINT_SELECT = read("point_select", db.SQL)
SCALE = Scenario(name="bench_scale", database=db.DATABASE, tables=(db.TABLE,), wait=(1.0, 1.0))
STALL_MS = 2.0  # a wake-up later than this past its 1 ms tick counts as a stall
state = {"connected": 0, "target": 0, "marks": {}}


class Ticker:
    def __init__(self):
        self.longest = self.total = 0.0
        self.stalls = 0

    def note(self, late_ms: float) -> None:
        if late_ms > STALL_MS:
            self.stalls += 1
            self.total += late_ms
            self.longest = max(self.longest, late_ms)

    def as_dict(self) -> dict:
        return {"longest_ms": round(self.longest, 2), "total_ms": round(self.total, 2), "stalls": self.stalls}


first100, whole = Ticker(), Ticker()


def tick():
    last = perf_counter()
    while True:
        gevent.sleep(0.001)
        now = perf_counter()
        late = (now - last) * 1000.0 - 1.0
        last = now
        whole.note(late)
        if state["connected"] < 100:
            first100.note(late)


class ScaleUser(DatabaseUser):
    scenario = SCALE
    wait_time = constant(1.0)

    def on_start(self):
        super().on_start()
        state["connected"] += 1
        if state["connected"] == min(100, state["target"]):
            state["marks"]["first100_connected"] = time.time()
        if state["connected"] == state["target"]:
            finish()

    @task
    def point_select(self):
        self.db.run(POINT_SELECT, (random.randint(1, db.ROWS),))


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    state["target"] = environment.parsed_options.num_users
    state["marks"]["start"] = time.time()
    state["rss_start"] = psutil.Process().memory_info().rss
    state["ticker"] = gevent.spawn(tick)


@events.spawning_complete.add_listener
def _on_spawned(user_count, **_kwargs):
    state["marks"]["spawned"] = time.time()


def finish():
    gevent.sleep(1.0)  # let every user run its first query
    m = state["marks"]
    rss = psutil.Process().memory_info().rss
    result = {
        "users": state["target"],
        "spawn_s": round(m.get("spawned", time.time()) - m["start"], 3),
        "connected_s": round(time.time() - 1.0 - m["start"], 3),
        "first100_connected_s": round(m.get("first100_connected", 0) - m["start"], 3),
        "rss_start_mb": round(state["rss_start"] / 2**20, 1),
        "rss_mb": round(rss / 2**20, 1),
        "kib_per_user": round((rss - state["rss_start"]) / 1024 / state["target"], 1),
        "stall_first100": first100.as_dict(),
        "stall_whole_spawn": whole.as_dict(),
        "stall_threshold_ms": STALL_MS,
    }
    state["ticker"].kill(block=False)
    with open(os.path.join(os.environ["BENCH_OUT"], "scale.json"), "w") as f:
        json.dump(result, f)
