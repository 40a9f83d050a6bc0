"""Business counters (e.g. orders placed), per second, merged on the master.

Users call ``incr("orders")``. Each process buckets counts by wall-clock
second; workers hand their buckets to the master with Locust's own report
mechanism, so ``--processes`` and multi-host runs add up to the same totals as
one process. On the master (or a local runner) listeners registered with
``subscribe`` receive every merged batch, e.g. the CloudWatch publisher.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable

import gevent
from locust import events
from locust.runners import WorkerRunner

REPORT_KEY = "dbswarm_counters"

_pending: Counter = Counter()  # (name, epoch second) -> count, not yet merged
totals: Counter = Counter()  # name -> count, merged (master or local runner only)
_subscribers: list[Callable[[dict], None]] = []
_is_worker = False
_flusher = None


def incr(name: str, n: int = 1) -> None:
    _pending[(name, int(time.time()))] += n


def subscribe(listener: Callable[[dict], None]) -> None:
    """Call ``listener({(name, second): count})`` with every merged batch."""
    _subscribers.append(listener)


def total(name: str) -> int:
    """Merged count so far (master or local runner); flushes local counts first."""
    if not _is_worker:
        _merge(_drain())
    return totals[name]


def reset() -> None:
    _pending.clear()
    totals.clear()


def _drain() -> dict:
    global _pending
    batch, _pending = _pending, Counter()
    return batch


def _merge(batch: dict) -> None:
    if not batch:
        return
    for (name, _second), n in batch.items():
        totals[name] += n
    for listener in _subscribers:
        listener(batch)


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _is_worker, _flusher
    _is_worker = isinstance(environment.runner, WorkerRunner)
    if environment.runner is not None and not _is_worker and _flusher is None:
        _flusher = gevent.spawn(_flush_every_second)


def _flush_every_second():
    while True:
        gevent.sleep(1.0)
        _merge(_drain())


@events.report_to_master.add_listener
def _on_report_to_master(data, **_kwargs):
    batch = _drain()
    if batch:
        data[REPORT_KEY] = [[name, second, n] for (name, second), n in batch.items()]


@events.worker_report.add_listener
def _on_worker_report(data, **_kwargs):
    rows = data.get(REPORT_KEY)
    if rows:
        _merge({(name, second): n for name, second, n in rows})


@events.test_stop.add_listener
def _on_test_stop(**_kwargs):
    if not _is_worker:
        _merge(_drain())
