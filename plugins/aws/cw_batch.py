"""Turn per-second aggregates into PutMetricData calls that real CloudWatch accepts.

Pure functions, no I/O: the test endpoint (moto) accepts anything, so the
limits of the real service are enforced here. A datum is the dict boto3 takes
in ``MetricData``; a call is ``(namespace, [datum, ...])``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone

MAX_DATA_PER_CALL = 1000
MAX_PAYLOAD_BYTES = 1_000_000
PAYLOAD_BUDGET = 900_000  # room for the request envelope and signing headers
MAX_VALUES_PER_DATUM = 150
MAX_DIMENSIONS = 30
MAX_AGE_SECONDS = 14 * 24 * 3600 - 3600  # two weeks, minus an hour so in-flight data is not rejected
MAX_FUTURE_SECONDS = 2 * 3600
# CloudWatch rejects magnitudes outside this range (zero is fine).
MIN_MAGNITUDE = 8.515920e-109
MAX_MAGNITUDE = 1.174271e108

_NAMESPACE = re.compile(r"^[A-Za-z0-9.\-_/#:]{1,255}$")


def namespace_problem(namespace: str) -> str | None:
    """Why CloudWatch would refuse this namespace, or None."""
    if not _NAMESPACE.match(namespace or ""):
        return "use 1-255 of the characters A-Z a-z 0-9 . - _ / # :"
    if namespace.startswith("AWS/"):
        return "namespaces starting with AWS/ are reserved for AWS"
    return None


def metric_name(counter: str) -> str:
    """``scaling_events`` -> ``ScalingEvents``: counters become CamelCase metrics."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", counter) if part) or "Counter"


def acceptable(value: float) -> bool:
    """A value CloudWatch stores: finite and inside its magnitude range (or zero)."""
    if not math.isfinite(value):
        return False
    magnitude = abs(value)
    return magnitude == 0 or MIN_MAGNITUDE <= magnitude <= MAX_MAGNITUDE


def timestamp(second: int) -> datetime:
    return datetime.fromtimestamp(second, tz=timezone.utc)


def dimensions(pairs: dict[str, str]) -> list[dict]:
    dims = [{"Name": str(k), "Value": str(v)[:1024]} for k, v in pairs.items() if str(v)]
    return dims[:MAX_DIMENSIONS]


def count_datum(name: str, dims: list[dict], second: int, n: float, unit: str = "Count") -> dict:
    return {
        "MetricName": name,
        "Dimensions": dims,
        "Timestamp": timestamp(second),
        "Value": float(n),
        "Unit": unit,
        "StorageResolution": 1,
    }


def distribution_data(name: str, dims: list[dict], second: int, value_counts: dict, unit: str = "Milliseconds"):
    """One second's distribution as data of at most 150 Values/Counts each.

    Returns ``(data, rejected)`` where ``rejected`` counts the samples whose
    value CloudWatch would refuse (NaN, infinity, out of range).
    """
    items = []
    rejected = 0
    for value, count in value_counts.items():
        if count <= 0:
            continue
        if acceptable(value):
            items.append((value, count))
        else:
            rejected += count
    items.sort()
    data = []
    for start in range(0, len(items), MAX_VALUES_PER_DATUM):
        chunk = items[start : start + MAX_VALUES_PER_DATUM]
        data.append(
            {
                "MetricName": name,
                "Dimensions": dims,
                "Timestamp": timestamp(second),
                "Values": [float(v) for v, _ in chunk],
                "Counts": [float(c) for _, c in chunk],
                "Unit": unit,
                "StorageResolution": 1,
            }
        )
    return data, rejected


def samples(datum: dict) -> int:
    """How many observations a datum carries (for counting what was dropped)."""
    if "Counts" in datum:
        return int(sum(datum["Counts"]))
    return 1


def size(datum: dict) -> int:
    """Bytes the datum adds to a request body (JSON, the larger of boto3's encodings)."""
    return len(json.dumps(datum, default=_epoch)) + 2  # botocore's separators: ", " and ": "


def _epoch(ts) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else float(ts)


def too_old_or_new(datum: dict, now: float) -> bool:
    age = now - _epoch(datum["Timestamp"])
    return age > MAX_AGE_SECONDS or age < -MAX_FUTURE_SECONDS


def take_batch(queue, sizes) -> int:
    """How many data from the front of ``queue`` fit in one call (count and payload limits).

    ``sizes`` gives each datum's size in the same order. At least one datum is
    always taken: a single datum is far below the payload limit by construction.
    """
    total = 0
    n = 0
    for s in sizes:
        if n >= MAX_DATA_PER_CALL or (n and total + s > PAYLOAD_BUDGET):
            break
        total += s
        n += 1
    return n


def check_call(namespace: str, data: list[dict], now: float) -> list[str]:
    """Every way a call breaks CloudWatch's limits (used by the tests on what was sent)."""
    problems = []
    if namespace_problem(namespace):
        problems.append(f"namespace {namespace!r}")
    if not 1 <= len(data) <= MAX_DATA_PER_CALL:
        problems.append(f"{len(data)} data in one call")
    payload = sum(size(d) for d in data)
    if payload > MAX_PAYLOAD_BYTES:
        problems.append(f"payload {payload} bytes")
    for d in data:
        if len(d.get("Dimensions", ())) > MAX_DIMENSIONS:
            problems.append(f"{d['MetricName']}: {len(d['Dimensions'])} dimensions")
        values = d.get("Values", [d.get("Value", 0.0)])
        if len(values) > MAX_VALUES_PER_DATUM:
            problems.append(f"{d['MetricName']}: {len(values)} values")
        if "Counts" in d and len(d["Counts"]) != len(values):
            problems.append(f"{d['MetricName']}: Values and Counts differ in length")
        if not all(acceptable(float(v)) for v in values):
            problems.append(f"{d['MetricName']}: value CloudWatch refuses")
        if too_old_or_new(d, now):
            problems.append(f"{d['MetricName']}: timestamp out of range")
    return problems
