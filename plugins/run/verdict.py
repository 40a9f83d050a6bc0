"""A run that measured nothing, or lost a worker, is not a success.

Locust's own rule gives 0 when no request failed, so a run whose users never
completed a request (workers that never connected, every user hung on a dead
database) and a run that lost a worker mid-run (its last seconds of requests
and counts gone with it) both pass a CI gate. This module names them in one
line each and gives them exit codes of their own:

    4  nothing measured: no request succeeded
    5  a worker was lost mid-run (unless --allow-worker-loss)

When several apply the run exits with the first of 2 (refused), 4, 5, 3
(a check failed), 1 (failed requests). README.md has the table.
"""

from __future__ import annotations

import time
from collections import Counter

import gevent
from locust import events
from locust.runners import STATE_MISSING, MasterRunner

from . import counters
from ..errors import class_and_detail
from ..options import option_group
from .roles import master_or_local, print_block

EXIT_NOTHING_MEASURED = 4
EXIT_WORKER_LOST = 5


class WorkerTally:
    """What one worker reported to the master, so a lost one can be described."""

    __slots__ = ("id", "requests", "failures", "users", "counts", "first_report", "last_report", "lost_at")

    def __init__(self, worker_id: str):
        self.id = worker_id
        self.requests = self.failures = self.users = 0
        self.counts: dict[str, int] = {}
        self.first_report = self.last_report = 0.0
        self.lost_at: float | None = None

    def describe(self, t0: float) -> str:
        rate = self.requests / (self.last_report - self.first_report) if self.last_report > self.first_report else 0.0
        unreported = rate * max(0.0, (self.lost_at or self.last_report) - self.last_report) if self.last_report else 0.0
        counts = "".join(f", {n} {name}" for name, n in sorted(self.counts.items()))
        return (f"worker {self.id} lost at t+{(self.lost_at or 0) - t0:.1f}s "
                f"(last report at t+{self.last_report - t0:.1f}s): it ran {self.users} users and had reported "
                f"{self.requests} requests ({self.failures} failed){counts}; missing with it: about "
                f"{unreported:.0f} requests since its last report and up to {self.users} operations in flight "
                f"(a commit among them is in the database but not counted)")


CONNECT_NAMES = ("connect", "connect (reader)")  # session.Link's request names

_tallies: dict[str, WorkerTally] = {}
_started: list[float] = []  # test start time, once a test has run
_watcher = None


def lost_workers() -> list[WorkerTally]:
    return [t for t in _tallies.values() if t.lost_at is not None]


def summary_lines() -> list[str]:
    t0 = _started[0] if _started else 0.0
    return [t.describe(t0) for t in lost_workers()]


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm run verdict", "Runs that measured nothing or lost a worker fail (exit 4, 5)")
    add("allow-worker-loss", action="store_true", default=False,
        help="A worker lost mid-run is reported but does not fail the run (exit code 5 otherwise)")


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    global _watcher
    if isinstance(runner, MasterRunner) and _watcher is None:
        _watcher = gevent.spawn(_watch_workers, runner)


def _watch_workers(runner) -> None:
    """Note the moment each worker goes missing (Locust forgets missing workers after a while)."""
    while True:
        gevent.sleep(0.5)
        for node in runner.clients.all:
            tally = _tallies.setdefault(node.id, WorkerTally(node.id))
            if node.state == STATE_MISSING:
                if tally.lost_at is None:
                    tally.lost_at = time.time()
            else:
                tally.users = sum((node.user_classes_count or {}).values())  # Locust clears it once missing


@events.worker_report.add_listener
def _on_worker_report(client_id, data, **_kwargs):
    tally = _tallies.setdefault(client_id, WorkerTally(client_id))
    now = time.time()
    total = data.get("stats_total") or {}
    tally.requests += int(total.get("num_requests", 0))
    tally.failures += int(total.get("num_failures", 0))
    for name, _second, n in data.get(counters.REPORT_KEY) or ():
        tally.counts[name] = tally.counts.get(name, 0) + n
    tally.first_report = tally.first_report or now
    tally.last_report = now
    if tally.lost_at is not None:  # it came back (self-healed heartbeat): not lost
        tally.lost_at = None


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    if master_or_local(environment) and not _started:
        _started.append(time.time())


def nothing_measured(environment) -> str | None:
    """The one-line reason when no request succeeded, None otherwise."""
    stats = environment.runner.stats
    total = stats.total
    # Connecting is not the workload: users that only connected measured nothing.
    connects = sum(e.num_requests - e.num_failures for (name, _), e in stats.entries.items() if name in CONNECT_NAMES)
    if total.num_requests - total.num_failures - connects > 0:
        return None
    if total.num_requests == 0:
        workers = ""
        if isinstance(environment.runner, MasterRunner):
            workers = f" ({len(_tallies)} workers reported)"
        return f"no request completed: nothing was measured{workers}"
    errors = environment.runner.stats.errors
    first = max(errors.values(), key=lambda e: e.occurrences).error if errors else "unknown"
    return f"no request succeeded: all {total.num_failures} failed (most: {first})"


def failure_lines(environment) -> list[str]:
    """One line per error class of the run's failures, with the operations it hit and one example.

    Locust's error report lists every distinct message (each carries its
    detail), which hides what kind of trouble it was; the class is what a
    reader of a failed run, or of a failed test, asks first.
    """
    by_class: dict[str, Counter] = {}
    example: dict[str, str] = {}
    for e in environment.runner.stats.errors.values():
        cls, detail = class_and_detail(str(e.error)) or ("other", str(e.error))
        by_class.setdefault(cls, Counter())[e.name] += e.occurrences
        example.setdefault(cls, detail)
    lines = []
    for cls, names in sorted(by_class.items(), key=lambda kv: -sum(kv[1].values())):
        ops = ", ".join(f"{name} {n}" for name, n in names.most_common())
        lines.append(f"dbswarm: failed: {sum(names.values())} {cls} ({ops}); e.g. {example[cls][:160]}")
    return lines


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    # Registered before checks.py's listener (users.py imports this module first) and quitting runs
    # its listeners in reverse order, so the code set here is the last word.
    if not master_or_local(environment) or not _started:
        return
    lines, code = failure_lines(environment), None
    lost = summary_lines()
    if lost:
        lines += [f"dbswarm: {line}" for line in lost]
        if not environment.parsed_options.allow_worker_loss:
            code = EXIT_WORKER_LOST
    reason = nothing_measured(environment)
    if reason:
        lines.append(f"dbswarm: {reason}")
        code = EXIT_NOTHING_MEASURED
    print_block(lines)
    if code is not None:
        environment.process_exit_code = code
