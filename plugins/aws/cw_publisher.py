"""Deliver metric data to CloudWatch from one place, at a steady pace, losing nothing silently.

Data wait in a bounded buffer (one queue per namespace, since a call carries
one namespace). ``tick`` sends one call per interval, more only when a full
batch still leaves data behind (catching up after an outage). Throttling, 5xx
and connection failures keep the data and back off; a datum is dropped only
when the buffer bound is hit, when CloudWatch refuses it outright, or when the
exit flush runs out of time, and every drop is counted by reason.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, deque
from itertools import islice

import gevent
from botocore.exceptions import BotoCoreError, ClientError
from gevent.lock import Semaphore

from . import cw_batch

# Estimated request bytes (JSON size) the buffer may hold: 32 MiB, about 35
# full PutMetricData calls, or some 15 minutes of a flash sale's metrics
# while the endpoint is down; in memory roughly 4-5x that at worst.
BUFFER_BYTES = 32 * 1024 * 1024
MAX_CALLS_PER_TICK = 20
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
               "RequestThrottled", "ServiceUnavailable", "InternalFailure", "InternalServiceError"}
logger = logging.getLogger("dbswarm")


def retryable(exc: Exception) -> bool:
    """Throttling, server errors and network failures: the data is fine, try again later."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or code in _THROTTLING or status in (401, 403)
    return isinstance(exc, (BotoCoreError, OSError))


def make_client(settings: dict, session=None):
    """A CloudWatch client from the normal boto3 credential chain (or ``session``)."""
    import boto3
    from botocore.config import Config

    # Retries are the publisher's (backoff with the data kept buffered), not botocore's.
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    return (session or boto3.session.Session()).client(
        "cloudwatch", region_name=settings["region"], endpoint_url=settings["endpoint"], config=config
    )


class Publisher:
    def __init__(self, client, bound_bytes: int = BUFFER_BYTES, clock=time.time):
        self.client = client
        self.bound_bytes = bound_bytes
        self.clock = clock
        self.queues: dict[str, deque] = {}  # namespace -> deque of (seq, datum, size)
        self.buffered_bytes = 0
        self._seq = 0
        self.calls = 0
        self.data_sent = 0
        self.dropped: Counter = Counter()  # reason -> samples
        self.failures = 0  # consecutive failed calls
        self.next_attempt = 0.0
        self._lock = Semaphore()

    # -- buffer ---------------------------------------------------------------

    def add(self, namespace: str, data) -> None:
        now = self.clock()
        queue = self.queues.setdefault(namespace, deque())
        for datum in data:
            if cw_batch.too_old_or_new(datum, now):
                self.drop("timestamp out of range", datum)
                continue
            size = cw_batch.size(datum)
            self._seq += 1
            queue.append((self._seq, datum, size))
            self.buffered_bytes += size
        while self.buffered_bytes > self.bound_bytes:
            oldest = min((q for q in self.queues.values() if q), key=lambda q: q[0][0])
            _, datum, size = oldest.popleft()
            self.buffered_bytes -= size
            self.drop("buffer full", datum)

    def drop(self, reason: str, datum: dict) -> None:
        self.dropped[reason] += cw_batch.samples(datum)

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    # -- sending --------------------------------------------------------------

    def _oldest_namespace(self) -> str | None:
        heads = [(q[0][0], ns) for ns, q in self.queues.items() if q]
        return min(heads)[1] if heads else None

    def send_one(self, namespace: str | None = None) -> bool:
        """Send one call (oldest data first); True when that namespace has a full batch left."""
        namespace = namespace or self._oldest_namespace()
        queue = self.queues.get(namespace) if namespace else None
        if not queue:
            return False
        n = cw_batch.take_batch(queue, (size for _, _, size in queue))
        batch = [datum for _, datum, _ in islice(queue, n)]
        limited = n < len(queue)  # the batch limits, not the queue, ended this batch
        try:
            self.client.put_metric_data(Namespace=namespace, MetricData=batch)
        except Exception as exc:  # noqa: BLE001 - classified below, never raised into Locust
            if retryable(exc):
                self._failed(exc)
                return False
            self._pop(queue, n)
            for datum in batch:
                self.drop(f"refused by CloudWatch ({_code(exc)})", datum)
            logger.error("CloudWatch refused %d data in %s: %s", n, namespace, exc)
            return False
        self._pop(queue, n)
        self.calls += 1
        self.data_sent += n
        if self.failures:
            logger.info("CloudWatch reachable again after %d failed attempts; delivering the buffer", self.failures)
        self.failures = 0
        self.next_attempt = 0.0
        return limited

    def _pop(self, queue: deque, n: int) -> None:
        for _ in range(n):
            _, _, size = queue.popleft()
            self.buffered_bytes -= size

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self.failures - 1)) * random.uniform(0.5, 1.0)
        self.next_attempt = self.clock() + delay
        if self.failures == 1:
            logger.warning("CloudWatch call failed (%s: %s); keeping %d data buffered and retrying",
                           type(exc).__name__, _code(exc), self.pending)

    def tick(self) -> None:
        """One interval's sending: one call, more only while full batches are left."""
        if self.clock() < self.next_attempt or not self.pending:
            return
        with self._lock:
            namespace = self._oldest_namespace()
            calls = 1
            while self.send_one(namespace) and calls < MAX_CALLS_PER_TICK:
                calls += 1

    def flush(self, seconds: float) -> int:
        """Send everything buffered within ``seconds``; what is left is dropped and counted."""
        deadline = self.clock() + seconds
        with self._lock:
            while self.pending and self.clock() < deadline:
                wait = self.next_attempt - self.clock()
                if wait > 0:
                    gevent.sleep(min(wait, max(0.0, deadline - self.clock())))
                    continue
                self.send_one()
        return self.pending

    def abandon(self, reason: str) -> None:
        for queue in self.queues.values():
            while queue:
                _, datum, size = queue.popleft()
                self.buffered_bytes -= size
                self.drop(reason, datum)


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "error")
    return type(exc).__name__
