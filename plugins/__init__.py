"""dbswarm: Locust users with real database clients, and the plugins around them.

A locustfile needs one import::

    from plugins import MySQLUser, PostgresUser, DatabaseUser, Scenario, read, write, Outcome, option_group, counters

(also ``Metric``, a scenario's business metric; ``operation(environment, name)``,
an operation's count for a scenario's end-of-run report; ``weighted``,
``Statement``, ``number``, ``MYSQL``/``POSTGRES``).

The first name taken from here loads every plugin's Locust listeners, in the
order of ``LISTENERS``. It happens on first use, not when ``plugins`` is
imported, so a unit test can import ``plugins.engines.mysql.mysql_cursor``
without importing Locust (the test suite forbids that in its own process).

Layers (an import only goes down this list; docs/architecture.md,
tests/test_layers.py): ``config``/``errors``/``workload``/``options``/
``prepared``/``credentials`` (vocabulary), ``engines/`` (the two drivers),
``session``/``scenario`` (the request path), ``run/``, then ``observe/``, then
``aws/`` (Locust listeners), ``users`` and this module (the API), and on top
``workloads/`` (TPC-C's package, used by its locustfile).
"""

from __future__ import annotations

import importlib

# Every plugin, in the order its listeners register; Locust calls the
# listeners of one event in that order.
LISTENERS = (
    "run.roles",  # who does what (worker, master, local), remembered at init
    "options",  # the database options (parser); every other group follows them in --help and the web UI
    "run.option_checks",  # every option typed and checked (init), before any other plugin acts on them
    "credentials",  # --db-secret-id, --db-iam-auth
    # Their option checks run (init) before the preflight connects.
    "run.warmup",  # --warmup: leave the first part out (its worker_report listener runs before the merges)
    "run.arrival",  # --target-rps, --rate-stages, --rate-csv, --arrival: open-model pacing
    # Before checks: quitting runs its listeners in reverse, so the verdict's exit code (4, 5) is the last word.
    "run.verdict",  # a run that measured nothing, or lost a worker, is not a success
    "run.checks",  # --check-*: pass/fail thresholds, exit code 3
    "run.rate_control",  # the stages' end, --rate-users, --find-max-rps
    "run.shapes",  # --shape: load shapes
    "run.aggregate",  # worker -> master aggregates over Locust's report (counters, histograms, CloudWatch)
    "run.counters",  # business counters, merged on the master
    "run.outages",  # outage windows per endpoint, from the users' side, merged on the master
    "aws.cloudwatch",  # --cloudwatch: metrics and a dashboard
    "observe.db_observer",  # --db-observe: the database's own metrics, scaling events
    "run.drain",  # let in-flight transactions finish at stop
    "observe.hdr_latency",  # µs latency histograms, merged on the master
    # Their option checks run (init) before the preflight connects.
    "observe.prometheus",  # --prometheus-port: /metrics from the merged state, on the master
    "observe.hdr_log",  # --hdr-log: HdrHistogram interval log (.hlog), merged from every worker
    "observe.run_summary",  # run_summary.json: per-operation totals for plugins.observe.compare
    "run.preflight",  # connect, check the tables, --db-init, before any load
    "observe.report",  # the scenario's end-of-run lines
    "observe.rate_report",  # per-stage and --find-max-rps lines, the verdict
    "observe.run_report",  # run_report.html with plots (the master only draws them)
    # After run_report: its end-of-run lines and checks follow the report's (quitting runs in reverse).
    "aws.aurora_metrics",  # --aurora-instance: ACU and the lab's chart, read back from CloudWatch
    "aws.s3_reports",  # --s3-bucket: upload the reports
    "observe.web_db_tab",  # the web UI's Database and Latency tabs
    "run.web_form",  # the web UI's start form: typed, checked and preflighted; secrets never sent; targets named
    "run.web_stop",  # the web UI's page after a STOP: says stopping until the run has ended, then shows its end
    "run.run_time",  # -t counts from the start of the load: the clock is refreshed after every init listener
    "run.interrupt",  # Ctrl-C lands in Locust's main greenlet, never in a user mid-query
)

# The public API: name -> module it lives in.
_API = {
    "MYSQL": "config",
    "POSTGRES": "config",
    "DatabaseUser": "users",
    "MySQLUser": "users",
    "PostgresUser": "users",
    "Scenario": "scenario",
    "Metric": "scenario",
    "operation": "scenario",
    "Outcome": "workload",
    "Statement": "workload",
    "read": "workload",
    "write": "workload",
    "weighted": "workload",
    "option_group": "options",
    "number": "options",
    "counters": "run.counters",
    "unknown_commits": "run.unknown_commits",
}
__all__ = sorted(_API)

_loaded = False


def load_listeners() -> None:
    """Import every plugin once, in the order of ``LISTENERS``."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in LISTENERS:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str):
    where = _API.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    load_listeners()
    module = importlib.import_module(f"{__name__}.{where}")
    value = module if where.endswith(name) else getattr(module, name)
    globals()[name] = value
    return value
