"""The scenario's own outcome at the end of a run (e.g. orders and stock left).

Printed by the master or local runner after the last worker report arrived,
next to Locust's summary, by asking the database itself.
"""

from __future__ import annotations


from locust import events

from ..engines.drivers import driver_for
from ..run.roles import master_or_local, print_block
from ..scenario import in_use


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
    if master_or_local(environment):
        print_block(outcome_lines(environment))
