"""Feeds plugins/run/outages.py request events on a fake clock and prints the windows it computes, as JSON.

Run in a subprocess (it imports locust). Two "processes" are simulated the way
Locust merges them: each one's events are drained into a report batch with
its own process tag, and the batches are merged as the master merges worker
reports.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from plugins import errors  # noqa: E402
from plugins.run import outages  # noqa: E402


class Clock:
    now = 0.0

    def time(self):
        return self.now


clock = Clock()
outages.time = clock  # the module's wall clock, only in this probe process

REFUSED = errors.DatabaseError("MySQL", 2003, errors.CONNECT_REFUSED, "refused")
LOST = errors.DatabaseError("MySQL", 2013, errors.CONNECTION_LOST, "lost")
DEADLOCK = errors.DatabaseError("MySQL", 1213, errors.DEADLOCK, "deadlock")


def op(at, user, ok=True, exc=None, took_ms=1.0, endpoint="writer", connect=False):
    clock.now = at
    context = {"endpoint": endpoint, "user": user, **({"connect": True} if connect else {})}
    outages._on_request(response_time=took_ms, exception=None if ok else exc, context=context)


def steady(start, end, user, every=0.05, **kw):
    t = start
    while t < end:
        op(t, user, **kw)
        t = round(t + every, 6)


def as_process(tag, body):
    outages._tag = tag
    body()
    return outages._drain()


def scenario(name):
    outages.reset()
    outages._is_worker = True  # merge only what the "workers" ship
    batches = SCENARIOS[name]()
    for batch in batches:
        outages._merge(batch)
    outages._stopped = True
    return outages.windows(now=clock.now)


def _two_processes_down_together():
    def p1():
        steady(0.0, 10.0, user=1)
        steady(10.0, 13.0, user=1, ok=False, exc=REFUSED, every=0.3)
        steady(13.4, 15.0, user=1)

    def p2():
        steady(0.02, 10.5, user=1)
        steady(10.5, 13.0, user=1, ok=False, exc=REFUSED, every=0.25)
        op(13.1, 1, connect=True)  # a connect is not a success
        steady(13.2, 15.0, user=1)

    return [as_process("p1", p1), as_process("p2", p2)]


def _other_process_keeps_writing():
    def p1():
        steady(0.0, 5.0, user=1)
        steady(5.0, 8.0, user=1, ok=False, exc=LOST, every=0.3)
        steady(8.0, 9.0, user=1)

    def p2():
        steady(0.01, 9.0, user=1)

    return [as_process("p1", p1), as_process("p2", p2)]


def _deadlocks_are_not_outages():
    def p1():
        steady(0.0, 5.0, user=1)
        steady(5.0, 8.0, user=1, ok=False, exc=DEADLOCK, every=0.3)
        steady(8.0, 9.0, user=1)

    return [as_process("p1", p1)]


def _hung_operation():
    def p1():
        steady(0.0, 12.0, user=1)
        op(12.0, 2)  # ends at 12.0: the last success
        op(22.0, 1, ok=False, exc=LOST, took_ms=10_000.0)  # started at 12.0, failed at 22.0
        op(22.4, 1)

    return [as_process("p1", p1)]


def _never_recovered():
    def p1():
        steady(0.0, 3.0, user=1)
        steady(3.0, 6.0, user=1, ok=False, exc=REFUSED, every=0.5)

    return [as_process("p1", p1)]


SCENARIOS = {
    "two_processes_down_together": _two_processes_down_together,
    "other_process_keeps_writing": _other_process_keeps_writing,
    "deadlocks_are_not_outages": _deadlocks_are_not_outages,
    "hung_operation": _hung_operation,
    "never_recovered": _never_recovered,
}

if __name__ == "__main__":
    print(json.dumps({name: scenario(name) for name in (sys.argv[1:] or SCENARIOS)}))
