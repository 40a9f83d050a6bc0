"""The scenario's own outcome at the end of a run (e.g. orders and stock left).

Printed by the master or local runner after the last worker report arrived,
next to Locust's summary, by asking the database itself.
"""

from __future__ import annotations

import sys

from locust import events
from locust.runners import WorkerRunner

from .drivers import driver_for
from .scenario import in_use


def outcome_lines(environment) -> list[str]:
    lines = []
    for scenario in in_use(environment):
        if scenario.report is None:
            continue
        cfg = scenario.config(environment.parsed_options)
        driver = driver_for(cfg.engine)
        try:
            conn = driver.connect(cfg)
            try:
                lines.extend(scenario.report(conn.cursor(), environment, cfg.engine))
            finally:
                conn.close()
        except driver.errors as exc:
            lines.append(f"{scenario.name}: could not read the outcome from {cfg.where()}: {driver.classify(exc)}")
    return lines


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if environment.parsed_options is None or isinstance(environment.runner, WorkerRunner):
        return
    lines = outcome_lines(environment)
    if lines:
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
        sys.stdout.flush()
