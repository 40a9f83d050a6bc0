"""Business counters (e.g. orders placed), per second, merged on the master.

Users call ``incr("orders")``. Each process buckets counts by wall-clock
second; workers hand their buckets to the master (``aggregate.py``), so
``--processes`` and multi-host runs add up to the same totals as one
process. On the master (or a local runner) listeners registered with
``subscribe`` receive every merged batch, e.g. the CloudWatch publisher.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable

import gevent
from locust import events

from . import aggregate
from .roles import is_worker

_pending: Counter = Counter()  # (name, epoch second) -> count, not yet merged
totals: Counter = Counter()  # name -> count, merged (master or local runner only)
_subscribers: list[Callable[[dict], None]] = []
_flusher = None


def incr(name: str, n: int = 1) -> None:
    _pending[(name, int(time.time()))] += n


def subscribe(listener: Callable[[dict], None]) -> None:
    """Call ``listener({(name, second): count})`` with every merged batch."""
    _subscribers.append(listener)


def total(name: str) -> int:
    """Merged count so far (master or local runner); flushes local counts first."""
    _AGGREGATE.flush()
    return totals[name]


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


REPORT_KEY = "dbswarm_counters"  # the workers' batches in Locust's report (run/verdict.py reads them too)
_AGGREGATE = aggregate.register(
    REPORT_KEY, _drain, _merge,
    encode=lambda batch: [[name, second, n] for (name, second), n in batch.items()],
    decode=lambda rows: {(name, second): n for name, second, n in rows},
)


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _flusher
    if environment.runner is not None and not is_worker(environment) and _flusher is None:
        _flusher = gevent.spawn(_flush_every_second)


def _flush_every_second():
    while True:
        gevent.sleep(1.0)
        _AGGREGATE.flush()


@events.test_stop.add_listener
def _on_test_stop(**_kwargs):
    _AGGREGATE.flush()


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    """A new test (NEW in the web UI) counts from zero, as Locust's stats do."""
    if not is_worker(environment):
        _pending.clear()
        totals.clear()
