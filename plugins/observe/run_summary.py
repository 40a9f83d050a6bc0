"""``<report dir>/run_summary.json``: Locust's per-operation counts and rates, for comparing runs.

Written by the master or local runner at the end of a headless run, next to
``latency_us.json`` and ``latency.hlog``, so that one report directory holds
everything ``plugins.observe.compare`` needs whatever --csv/--json-file said.
"""

from __future__ import annotations

import json
import os

from locust import events

from . import db_observer
from ..run.roles import master_or_local

NAME = "run_summary.json"


def summary(environment) -> dict:
    stats = environment.runner.stats
    total = stats.total
    end = total.last_request_timestamp or total.start_time
    seconds = max(1e-9, end - total.start_time)
    operations = [
        {"type": method, "name": name, "requests": e.num_requests, "failures": e.num_failures,
         "requests_per_s": e.num_requests / seconds}
        for (name, method), e in sorted(stats.entries.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
    return {"start": total.start_time, "end": end, "duration_s": seconds, "requests": total.num_requests,
            "failures": total.num_failures, "operations": operations}


def write(environment, directory: str | None = None) -> str:
    directory = directory or db_observer.report_dir(environment.parsed_options)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, NAME)
    with open(path, "w") as f:
        json.dump(summary(environment), f, indent=2)
    return path


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if master_or_local(environment) and environment.parsed_options.headless:
        try:
            write(environment)
        except OSError as exc:
            print(f"dbswarm: {NAME} not written: {exc}")
