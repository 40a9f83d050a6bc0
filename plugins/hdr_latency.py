"""Latency percentiles in microseconds, exact across workers.

Locust rounds response times under 100 ms to whole milliseconds, so a point
select on a warm database reads "0" or "1". Every process here also records
each request in an HDR histogram per operation (1 µs .. 60 s, 3 significant
digits); workers ship them encoded with Locust's report to the master, which
adds them up. The master keeps the whole-run histograms (end-of-run table,
report, ``latency_us.json``) and short windows for the report's p50/p99 over
time. Failures are recorded too, as in Locust's own percentiles.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram
from locust import events
from locust.runners import WorkerRunner

from .hdr_histograms import add, from_counts, summary

REPORT_KEY = "dbswarm_hdr"

# Not yet shipped (worker) or merged (master): {(type, name): {µs: count}}. The request
# listener runs for every query, so it only counts; values go into HDR histograms
# when a batch is drained (every report, i.e. every few seconds), a few hundred
# distinct µs values instead of one record_value call per request.
_local: dict[tuple[str, str], dict[int, int]] = {}
totals: dict[tuple[str, str], HdrHistogram] = {}  # whole run, master or local runner
_window: dict[tuple[str, str], HdrHistogram] = {}  # since the last window() call
_is_worker = False


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


def _merge(batch: dict) -> None:
    for key, hist in batch.items():
        add(totals, key, hist)
        add(_window, key, hist)


def flush() -> None:
    """Merge what this process recorded itself (master or local runner)."""
    if not _is_worker:
        _merge(_drain_local())


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


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _is_worker
    _is_worker = isinstance(environment.runner, WorkerRunner)


@events.report_to_master.add_listener
def _on_report_to_master(data, **_kwargs):
    batch = _drain_local()
    if batch:
        data[REPORT_KEY] = [[key[0], key[1], hist.encode()] for key, hist in batch.items()]


@events.worker_report.add_listener
def _on_worker_report(data, **_kwargs):
    for request_type, name, encoded in data.get(REPORT_KEY) or ():
        hist = HdrHistogram.decode(encoded)
        _merge({(request_type, name): hist})


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    if not _is_worker:
        reset()


