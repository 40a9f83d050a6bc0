"""--warmup: leave the first part of a run out of its results, as sysbench ``--warmup-time``.

Aurora Serverless scales with a delay, so the first minutes say little. When
the warm-up ends, every process resets what it has not reported yet: each
worker resets Locust's statistics (``runner.stats.reset_all()``, what the web
UI's Reset button and ``--reset-stats`` call) and the plugins that registered
with ``exclude`` (µs histograms, stage tallies); the master resets its merged
figures. A worker report says whether it was built after that worker's warm-up;
the master resets when its own warm-up ends or when the first post-warm-up report
arrives, whichever is first, and drops the figures of a report built before its
worker's warm-up that arrives after the reset. So the counts left are exactly the
requests that ended after the warm-up, in every process. A worker's warm-up starts
when the master's spawn message reaches it, a little after the master's: its reports
carry when it ended, so the stage figures start after the last process's (``last_end``). CloudWatch, Prometheus, the
business counters and the plots keep the whole run; the plots shade the warm-up,
CloudWatch's ``WarmUp`` and Prometheus's ``dbswarm_warmup`` are 1 during it.
"""

from __future__ import annotations

import time
from typing import Callable

import gevent
from locust import events
from locust.stats import StatsEntry

from ..options import option_group, validator
from .rate_plan import parse_duration
from .roles import is_worker

_FLAG = "dbswarm_warm"
_END = "dbswarm_warm_end"

warm = True  # False while this process is in its warm-up
span: tuple[float, float] | None = None  # (start, end) wall clock of the warm-up, master or local
before: dict = {}  # Locust's per-second counts and history from the warm-up, for the plots
_excluded: list[tuple[str | None, Callable[[bool], None]]] = []
_master_reset = True
_timer = None
_worker_ends: dict[str, float] = {}  # master: when each worker's warm-up ended (its clock), from its reports


def last_end() -> float | None:
    """When the last process's warm-up ended (wall clock; before the reports say, this process's planned end)."""
    if span is None:
        return None
    return max([span[1], *_worker_ends.values()])


def exclude(aggregate_key: str | None, reset: Callable[[bool], None]) -> None:
    """Leave an aggregate out of the warm-up: ``reset(worker)`` runs at the warm-up's end in every process,
    and a worker's pre-warm-up batch under ``aggregate_key`` is dropped on the master once it has reset."""
    _excluded.append((aggregate_key, reset))


def seconds(opts) -> float:
    value = getattr(opts, "warmup", None)
    return parse_duration(value) if value not in (None, "") else 0.0


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm warm-up")
    add("warmup", default=None,
        help="Leave the first part of the run (e.g. 30s, 2m) out of the statistics, µs latencies, report tables, "
             "checks and stage reports (CloudWatch, Prometheus and the plots keep it, tagged)")


@validator
def validate(opts) -> list[str]:
    try:
        seconds(opts)
    except ValueError as exc:
        return [f"--warmup: {exc}"]
    return []


def _reset_master(environment) -> None:
    global _master_reset
    _master_reset = True
    stats = environment.runner.stats
    before.update(per_sec=dict(stats.total.num_reqs_per_sec), fail_per_sec=dict(stats.total.num_fail_per_sec),
                  history=list(stats.history))
    stats.reset_all()
    for _key, reset in _excluded:
        reset(False)


def _end(environment) -> None:
    global warm, span
    warm = True
    if span is not None:
        span = (span[0], time.time())
    if is_worker(environment):
        environment.runner.stats.reset_all()
        for _key, reset in _excluded:
            reset(True)
    elif not _master_reset:
        _reset_master(environment)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global warm, span, _master_reset, _timer
    if _timer is not None:
        _timer.kill(block=False)
        _timer = None
    try:
        length = seconds(environment.parsed_options)
    except ValueError:
        length = 0.0  # refused at init (command line); a bad web form value means no warm-up
    before.clear()
    _worker_ends.clear()
    if length <= 0:
        warm, span, _master_reset = True, None, True
        return
    warm, _master_reset = False, is_worker(environment)
    span = (time.time(), time.time() + length)
    _timer = gevent.spawn_later(length, _end, environment)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    global _timer
    if _timer is not None and not warm:
        _timer.kill(block=False)
        _end(environment)  # a run shorter than its warm-up: nothing after it is counted
    _timer = None


@events.report_to_master.add_listener
def _on_report_to_master(data, **_kwargs):
    data[_FLAG] = warm
    if warm and span is not None:
        data[_END] = span[1]


@events.worker_report.add_listener
def _on_worker_report(client_id, data, **_kwargs):
    """Runs before Locust's own merge (registered at import, before the runner exists)."""
    environment = _environment  # worker_report does not pass the environment
    if environment is None or span is None:
        return
    if data.get(_FLAG, True):
        if data.get(_END):
            _worker_ends[client_id] = data[_END]
        if not _master_reset:
            _reset_master(environment)
        return
    if _master_reset:
        data["stats"] = []
        data["stats_total"] = StatsEntry(environment.runner.stats, "Aggregated", "").get_stripped_report()
        data["errors"] = {}
        for key, _reset in _excluded:
            if key:
                data.pop(key, None)


_environment = None


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _environment
    _environment = environment
