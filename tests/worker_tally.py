"""Loaded by the test workers only: what this one process did, written as JSON on exit.

Locust resets a worker's stats after every report to the master, so a worker
cannot tell its own totals afterwards; this listener counts every request
event the worker fires (the same events the master's stats are built from)
and the users it ran, and writes them to $DBSWARM_TEST_TALLY when it quits.
"""

import json
import os
from collections import Counter

from locust import events

_requests: Counter = Counter()
_failures: Counter = Counter()
_users = {"max": 0}
_runner = {}


@events.init.add_listener
def _on_init(environment, **_kwargs):
    _runner["runner"] = environment.runner


@events.request.add_listener
def _on_request(name, exception=None, **_kwargs):
    _requests[name] += 1
    if exception is not None:
        _failures[name] += 1
    _users["max"] = max(_users["max"], _runner["runner"].user_count)


@events.quit.add_listener
def _on_quit(**_kwargs):
    path = os.environ.get("DBSWARM_TEST_TALLY")
    if path:
        with open(path, "w") as f:
            json.dump({"requests": _requests, "failures": _failures, "users": _users["max"], "pid": os.getpid()}, f)
