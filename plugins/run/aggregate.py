"""Worker -> master aggregates over Locust's own report: register a key, drain on the worker, merge on the master.

A plugin that counts something in every process (business counters, µs
histograms, CloudWatch's per-second latency) registers one ``Aggregate``:
how to take what this process recorded since the last take (``drain``) and
how to add a batch in (``merge``), plus the wire form when the batch is not
plain data (``encode``/``decode``). On a worker, every ``report_to_master``
(Locust sends one every few seconds, and a last one at stop) carries the
drained batch under the aggregate's key; the master decodes and merges each
worker's batch. On the master or a local runner, ``flush()`` merges what the
process recorded itself.
"""

from __future__ import annotations

from typing import Callable

from locust import events

from .roles import worker_process


def _same(value):
    return value


class Aggregate:
    __slots__ = ("key", "drain", "merge", "encode", "decode")

    def __init__(self, key: str, drain: Callable[[], object], merge: Callable[[object], None],
                 encode: Callable = _same, decode: Callable = _same):
        self.key = key
        self.drain = drain
        self.merge = merge
        self.encode = encode
        self.decode = decode

    def flush(self) -> None:
        """Master or local runner: merge this process's own batch (a worker ships it instead)."""
        if not worker_process():
            batch = self.drain()
            if batch:
                self.merge(batch)


_registered: dict[str, Aggregate] = {}


def register(key: str, drain: Callable[[], object], merge: Callable[[object], None],
             encode: Callable = _same, decode: Callable = _same) -> Aggregate:
    """One aggregate under ``key`` in Locust's report data (unique across plugins)."""
    if key in _registered:
        raise ValueError(f"aggregate {key!r} is registered twice")
    aggregate = _registered[key] = Aggregate(key, drain, merge, encode, decode)
    return aggregate


@events.report_to_master.add_listener
def _on_report_to_master(data, **_kwargs):
    for aggregate in _registered.values():
        batch = aggregate.drain()
        if batch:
            data[aggregate.key] = aggregate.encode(batch)


@events.worker_report.add_listener
def _on_worker_report(data, **_kwargs):
    for key, aggregate in _registered.items():
        payload = data.get(key)
        if payload:
            aggregate.merge(aggregate.decode(payload))
