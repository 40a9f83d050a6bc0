"""HDR histograms of latency in microseconds: pure helpers, no Locust import.

Kept apart from the listener module so they can be used (and tested) in a
process that Locust has not monkey-patched.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def add(target: dict, key, hist: HdrHistogram) -> None:
    mine = target.get(key)
    if mine is None:
        mine = target[key] = new()
    mine.add(hist)


def from_counts(counts: dict[int, int]) -> HdrHistogram:
    hist = new()
    for us, n in counts.items():
        hist.record_value(min(max(us, LOWEST_US), HIGHEST_US), n)
    return hist


def summary(hist: HdrHistogram) -> dict:
    """count, p50/p90/p99/p99.9 and max in µs."""
    values = hist.get_percentile_to_value_dict(list(PERCENTILES))
    out = {"count": hist.get_total_count()}
    out.update({f"p{p:g}": values[p] for p in PERCENTILES})
    out["max"] = hist.get_max_value()
    return out


def hlog_tag(name: str) -> str:
    """An operation name as an .hlog tag: whitespace and commas end a tag, so they become ``_``."""
    return "".join("_" if c.isspace() or c == "," else c for c in name.strip()) or "_"
