"""Read an Aurora instance's (or cluster's) AWS/RDS metrics back from CloudWatch with GetMetricData.

Locust-free, so it can be tested on its own. One ``Reader.read`` is one
GetMetricData call (NextToken pages only when CloudWatch splits an answer)
for every metric of every target, over the whole window asked for; points
already read are replaced by newer reads, so the late points CloudWatch
ingests after the fact arrive with the next read. AWS's limits are enforced
here because moto accepts requests AWS rejects: at most 500 queries and
100,800 data points per call, a period of 1, 5, 10, 20, 30 or a multiple of
60 seconds, and query ids that start with a lower-case letter.

AWS/RDS metrics are regular resolution: RDS publishes them once a minute,
so 60 s is the finest period CloudWatch has for them (AWS documents a
multiple of 60 for regular-resolution metrics). Shorter periods are for high
resolution data (``StorageResolution=1``), e.g. a synthetic series written
into a local moto server.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

NAMESPACE = "AWS/RDS"
MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800
MAX_PAGES = 20  # NextToken pages followed for one read, at most
REGULAR_RESOLUTION_S = 60  # the finest period of every AWS/RDS metric
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
HIGH_RESOLUTION_RETENTION_S = 3 * 3600  # points finer than 60 s are kept 3 hours
_ID = re.compile(r"^[a-z][a-zA-Z0-9_]{0,254}$")

THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
             "RequestThrottled", "ServiceUnavailable", "InternalFailure", "InternalServiceError", "LimitExceeded"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
          "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch",
          "MissingAuthenticationToken", "InvalidSignatureException", "NotAuthorized"}


@dataclass(frozen=True)
class Metric:
    name: str  # CloudWatch metric name
    key: str  # short name: query id suffix, series key
    stat: str
    unit: str  # what the value is in, for people


METRICS = (
    Metric("ServerlessDatabaseCapacity", "acu", "Average", "ACU"),
    Metric("ACUUtilization", "acu_utilization", "Average", "%"),
    Metric("CPUUtilization", "cpu", "Average", "%"),
    Metric("DatabaseConnections", "connections", "Average", "connections"),
    Metric("FreeableMemory", "freeable_memory", "Average", "bytes"),
)
REPLICA_LAG = Metric("AuroraReplicaLag", "replica_lag", "Average", "ms")


@dataclass(frozen=True)
class Target:
    role: str  # "writer", "cluster" or "reader": the query id prefix
    dimension: str  # DBInstanceIdentifier or DBClusterIdentifier
    identifier: str
    metrics: tuple[Metric, ...]

    def describe(self) -> str:
        return f"{self.dimension}={self.identifier}"


def targets(instance: str | None, cluster: str | None, reader: str | None) -> list[Target]:
    """What to read: the writer instance and/or the cluster, and the reader's replica lag."""
    found = []
    if instance:
        found.append(Target("writer", "DBInstanceIdentifier", instance, METRICS))
    if cluster:
        found.append(Target("cluster", "DBClusterIdentifier", cluster, METRICS))
    if reader:
        found.append(Target("reader", "DBInstanceIdentifier", reader, (REPLICA_LAG,)))
    return found


def period_problem(period: int) -> str | None:
    if period in HIGH_RESOLUTION_PERIODS or (period >= 60 and period % 60 == 0):
        return None
    return "must be 1, 5, 10, 20, 30 or a multiple of 60 seconds (AWS/RDS metrics: 60)"


def queries(found: list[Target], period: int) -> list[dict]:
    """One MetricDataQuery per metric and target."""
    out = []
    for target in found:
        for metric in target.metrics:
            out.append({
                "Id": f"{target.role}_{metric.key}",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": metric.name,
                               "Dimensions": [{"Name": target.dimension, "Value": target.identifier}]},
                    "Period": period,
                    "Stat": metric.stat,
                },
                "Label": f"{metric.name} {target.describe()}",
                "ReturnData": True,
            })
    return out


def datapoints(n_queries: int, start: float, end: float, period: int) -> int:
    """Data points a call over [start, end) can return: every period of every query."""
    return n_queries * max(1, math.ceil((end - start) / period))


def call_problems(request: dict) -> list[str]:
    """What AWS would refuse in a GetMetricData request (empty when fine)."""
    found = []
    qs = request["MetricDataQueries"]
    if not 1 <= len(qs) <= MAX_QUERIES_PER_CALL:
        found.append(f"{len(qs)} queries (1 to {MAX_QUERIES_PER_CALL} per call)")
    ids = [q["Id"] for q in qs]
    if len(set(ids)) != len(ids):
        found.append("duplicate query ids")
    for q in qs:
        if not _ID.match(q["Id"]):
            found.append(f"query id {q['Id']!r}: must start with a lower-case letter, then letters, digits, _")
        problem = period_problem(q["MetricStat"]["Period"])
        if problem:
            found.append(f"period {q['MetricStat']['Period']}: {problem}")
    start, end = request["StartTime"].timestamp(), request["EndTime"].timestamp()
    if end <= start:
        found.append("EndTime must be after StartTime")
    elif qs:
        period = min(q["MetricStat"]["Period"] for q in qs)
        n = datapoints(len(qs), start, end, period)
        if n > MAX_DATAPOINTS_PER_CALL:
            found.append(f"{n} data points (at most {MAX_DATAPOINTS_PER_CALL} per call)")
    if request.get("MaxDatapoints", 1) > MAX_DATAPOINTS_PER_CALL:
        found.append(f"MaxDatapoints above {MAX_DATAPOINTS_PER_CALL}")
    return found


def align_down(t: float, period: int) -> float:
    """CloudWatch rounds StartTime down (to the minute, or to the 1/5/10/20/30 s division): do it first."""
    step = period if period < 60 else 60
    return math.floor(t / step) * step


def align_up(t: float, period: int) -> float:
    step = period if period < 60 else 60
    return math.ceil(t / step) * step


def windows(start: float, end: float, n_queries: int, period: int) -> list[tuple[float, float]]:
    """[start, end) cut into aligned pieces that each fit one call's data point limit."""
    start, end = align_down(start, period), align_up(end, period)
    span = (MAX_DATAPOINTS_PER_CALL // max(1, n_queries)) * period
    out = []
    while start < end:
        out.append((start, min(end, start + span)))
        start += span
    return out


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") or "error"
    return type(exc).__name__


def classify(exc: Exception) -> str:
    """"throttled" (try again later), "denied" (no permission: stop) or "refused" (a bad request: stop)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in DENIED or status == 403:
            return "denied"
        if code in THROTTLED or status == 429 or status >= 500:
            return "throttled"
        return "refused"
    if isinstance(exc, (BotoCoreError, OSError)):
        return "throttled"  # the network: try again like a throttle
    return "refused"


def make_client(region: str, endpoint: str | None, session=None):
    """A CloudWatch client from the normal boto3 credential chain, one HTTP attempt per call.

    The retries (throttling, backoff) are ``Reader``'s, so they can be counted
    and bounded; botocore's ``max_attempts`` would still add one retry, so
    ``total_max_attempts`` is set.
    """
    import boto3
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    return (session or boto3.session.Session()).client("cloudwatch", region_name=region, endpoint_url=endpoint,
                                                        config=config)


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


@dataclass
class Reader:
    """Reads ``targets`` every time it is asked; keeps every point it has seen, newest read wins."""

    client: object
    found: list[Target]
    period: int
    sleep: object = time.sleep
    attempts: int = 3  # per read, throttling included
    backoff_s: float = 0.5
    backoff_cap_s: float = 8.0
    series: dict = field(default_factory=dict)  # query id -> {epoch second: value}
    calls: int = 0
    throttled: int = 0  # calls answered with a throttle (retried)
    failed_reads: int = 0  # reads that gave up after every attempt
    stopped: str | None = None  # why reading stopped for good (denied, refused)
    last_problem: str | None = None  # the last failure, for the report when no data came

    def __post_init__(self):
        self.queries = queries(self.found, self.period)
        for q in self.queries:
            self.series.setdefault(q["Id"], {})

    def read(self, start: float, end: float, attempts: int | None = None) -> bool:
        """One GetMetricData call (plus NextToken pages) over [start, end); False when it gave up."""
        if self.stopped:
            return False
        request = {
            "MetricDataQueries": self.queries,
            "StartTime": _utc(align_down(start, self.period)),
            "EndTime": _utc(align_up(end, self.period)),
            "ScanBy": "TimestampAscending",
            "MaxDatapoints": MAX_DATAPOINTS_PER_CALL,
        }
        problems = call_problems(request)
        if problems:
            raise ValueError("GetMetricData request AWS would refuse: " + "; ".join(problems))
        tries = attempts or self.attempts
        for attempt in range(1, tries + 1):
            try:
                self._read_pages(request)
                self.last_problem = None
                return True
            except Exception as exc:  # noqa: BLE001 - classified; never raised into the run
                kind = classify(exc)
                self.last_problem = f"{error_code(exc)}: {_message(exc)}"
                if kind != "throttled":
                    self.stopped = f"GetMetricData {'denied' if kind == 'denied' else 'refused'} ({self.last_problem})"
                    return False
                self.throttled += 1
                if attempt < tries:
                    delay = min(self.backoff_cap_s, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                    self.sleep(delay)
        self.failed_reads += 1
        return False

    def read_all(self, start: float, end: float, attempts: int = 5) -> bool:
        """The whole window again (at the end of a run), in as many calls as the limits need."""
        ok = True
        for a, b in windows(start, end, len(self.queries), self.period):
            ok = self.read(a, b, attempts=attempts) and ok
        return ok

    def read_recent(self, start: float, end: float) -> bool:
        """One call: [start, end), or its latest part that fits one call's data point limit."""
        span = (MAX_DATAPOINTS_PER_CALL // max(1, len(self.queries))) * self.period
        return self.read(max(start, end - span + self.period), end)

    def _read_pages(self, request: dict) -> None:
        token = None
        answers: dict[str, dict] = {}
        for _ in range(MAX_PAGES):
            kwargs = dict(request, NextToken=token) if token else request
            self.calls += 1
            answer = self.client.get_metric_data(**kwargs)
            for result in answer.get("MetricDataResults", []):
                points = answers.setdefault(result["Id"], {})
                for ts, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    points[ts.timestamp()] = float(value)
            token = answer.get("NextToken")
            if not token:
                break
        for qid, points in answers.items():
            self.series.setdefault(qid, {}).update(points)

    def points(self, qid: str) -> list[tuple[float, float]]:
        """(epoch second, value) in time order."""
        return sorted(self.series.get(qid, {}).items())


def _message(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Message", "") or str(exc)
    return str(exc)
