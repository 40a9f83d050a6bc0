"""Latency percentiles in microseconds, exact across workers.

Locust rounds response times under 100 ms to whole milliseconds, so a point
select on a warm database reads "0" or "1". Every process here also records
each request in an HDR histogram per operation (1 µs .. 60 s, 3 significant
digits); workers ship them encoded to the master (``run/aggregate.py``),
which adds them up. The master keeps the whole-run histograms (end-of-run table,
report, ``latency_us.json``) and short windows for the report's p50/p99 over
time. Failures are recorded too, as in Locust's own percentiles.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram
from locust import events

from ..run import aggregate, warmup
from ..run.roles import is_worker, worker_process
from .hdr_histograms import add, from_counts, summary

# Not yet shipped (worker) or merged (master): {(type, name): {µs: count}}. The request
# listener runs for every query, so it only counts; values go into HDR histograms
# when a batch is drained (every report, i.e. every few seconds), a few hundred
# distinct µs values instead of one record_value call per request.
_local: dict[tuple[str, str], dict[int, int]] = {}
totals: dict[tuple[str, str], HdrHistogram] = {}  # whole run, master or local runner
_window: dict[tuple[str, str], HdrHistogram] = {}  # since the last window() call
_subscribers: list = []  # called with every merged batch {(type, name): HdrHistogram} (e.g. the .hlog writer)


@events.request.add_listener
def _on_request(request_type, name, response_time, **_kwargs):
    key = (request_type, name)
    counts = _local.get(key)
    if counts is None:
        counts = _local[key] = {}
    us = int(response_time * 1000.0)
    counts[us] = counts.get(us, 0) + 1


def _drain_local() -> dict:
    """What this process recorded since the last drain, as histograms."""
    global _local
    batch, _local = _local, {}
    return {key: from_counts(counts) for key, counts in batch.items()}


def subscribe(listener) -> None:
    """Call ``listener({(type, name): HdrHistogram})`` with every batch merged here (master or local runner)."""
    _subscribers.append(listener)


def _merge(batch: dict) -> None:
    for key, hist in batch.items():
        add(totals, key, hist)
        add(_window, key, hist)
    for listener in _subscribers:
        listener(batch)


_AGGREGATE = aggregate.register(
    "dbswarm_hdr", _drain_local, _merge,
    encode=lambda batch: [[key[0], key[1], hist.encode()] for key, hist in batch.items()],
    decode=lambda rows: {(request_type, name): HdrHistogram.decode(encoded) for request_type, name, encoded in rows},
)


def flush() -> None:
    """Merge what this process recorded itself (master or local runner)."""
    _AGGREGATE.flush()


def table() -> list[dict]:
    """One row per operation (type, name, count, percentiles in µs), sorted by name."""
    flush()
    return [
        {"type": key[0], "name": key[1], **summary(hist)}
        for key, hist in sorted(totals.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        if hist.get_total_count()
    ]


def window() -> dict:
    """p50 and p99 (µs) per operation name since the previous call, and start a new window."""
    global _window
    flush()
    current, _window = _window, {}
    return {key[1]: {"p50": h.get_value_at_percentile(50.0), "p99": h.get_value_at_percentile(99.0)}
            for key, h in current.items() if h.get_total_count()}


def format_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    width = max(30, max(len(r["name"]) for r in rows) + 2)
    head = f"{'Operation':<{width}}{'count':>9}" + "".join(f"{c:>10}" for c in ("p50", "p90", "p99", "p99.9", "max"))
    lines = ["Latency in µs (HDR histogram, all processes)", head]
    for r in rows:
        cells = "".join(f"{r[c]:>10}" for c in ("p50", "p90", "p99", "p99.9", "max"))
        lines.append(f"{r['name']:<{width}}{r['count']:>9}{cells}")
    return lines


def reset() -> None:
    _local.clear()
    totals.clear()
    _window.clear()


def _end_of_warmup(worker: bool) -> None:
    """--warmup ended: drop what this process has not shipped; the master drops its run totals (the
    windows of the plots keep the warm-up)."""
    _local.clear()
    if not worker:
        totals.clear()


warmup.exclude("dbswarm_hdr", _end_of_warmup)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    if not is_worker(environment):
        reset()


@events.reset_stats.add_listener
def _on_reset_stats(**_kwargs):
    """RESET in the web UI clears the µs histograms with Locust's own stats."""
    if not worker_process():
        reset()
