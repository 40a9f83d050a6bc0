"""Outages as the application saw them, per endpoint: how long it could not write (or read).

A window on an endpoint (writer, reader) is a stretch of time in which no
operation on it succeeded, for any user in any process, while operations on it
were failing with an error that says the database is not there for us (a
class that drops the connection: refused, timed out, lost, read-only, too many
connections..., and Aurora's scaling abort). It starts when the first such
failed operation started (not before the last success) and ends when the
first operation after it succeeded: "from the first failure to the first
success". Gaps between successes shorter than ``JOIN_S`` are not windows;
errors of the data or of contention (deadlock, duplicate key, lock wait) are
the application's own and open none. A connection that opens is not a
success: only an operation that did its work ends a window.

Per user the same rule gives its own outage (first failed operation to its
own next success): a window lists the users whose outage overlaps it, the
error classes they met, and their time to recover (p50, max).

Every process records on the request path only what it must: the wall-clock
end of its successes, joined into ranges (one range while the load flows),
and one record per user outage. Workers ship both with Locust's report to the
master, which unions the success ranges of every process and computes the
windows when asked, so ``--processes`` and multi-host runs give the windows of
one application. Requests are attributed by the ``endpoint`` and ``user`` keys
that ``session.Link`` puts in the request's context.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from bisect import bisect_right

from locust import events

from . import aggregate
from .roles import master_or_local, print_block

REPORT_KEY = "dbswarm_outages"
ENDPOINTS = ("writer", "reader")
JOIN_S = 0.2  # successes closer than this are one range: shorter gaps are not windows
# Classes that say "the database is not there for us" even though they do not drop the connection.
ALSO_OUTAGE = frozenset({"scaling-abort", "query-timeout", "commit-unknown"})

_tag = uuid.uuid4().hex[:8]  # this process, in record ids
_seq = 0

# This process, not yet shipped (worker) or merged (master/local).
_pending_ok: dict[str, list[list[float]]] = {e: [] for e in ENDPOINTS}  # [[first end, last end], ...]
_open: dict[tuple[str, int], list] = {}  # (endpoint, user) -> record of an outage still going on
_dirty: dict[str, list] = {}  # record id -> record changed since the last shipment

# Merged (master or local runner).
_ok: dict[str, list[list[float]]] = {e: [] for e in ENDPOINTS}
_records: dict[str, list] = {}  # record id -> [id, endpoint, user, first start, last end, failures, {class: n}, recovered]


def is_outage(exception) -> bool:
    cls = getattr(exception, "error_class", None)
    return cls is not None and (cls.reconnect or cls.name in ALSO_OUTAGE)


@events.request.add_listener
def _on_request(response_time, exception=None, context=None, **_kwargs):
    """The hot path: a success extends a range; only failures and recoveries allocate."""
    endpoint = context.get("endpoint") if context else None
    if endpoint is None:  # not a dbswarm session's operation, or a statement inside a transaction
        return
    now = time.time()
    if exception is None:
        if context.get("connect"):
            return
        ranges = _pending_ok[endpoint]
        if ranges and now - ranges[-1][1] <= JOIN_S:
            ranges[-1][1] = now
        else:
            ranges.append([now, now])
        if _open:
            record = _open.pop((endpoint, context["user"]), None)
            if record is not None:
                record[7] = now
                _dirty[record[0]] = record
        return
    if not is_outage(exception):
        return
    key = (endpoint, context["user"])
    record = _open.get(key)
    start = now - (response_time or 0.0) / 1000.0
    if record is None:
        global _seq
        _seq += 1
        record = _open[key] = [f"{_tag}-{_seq}", endpoint, f"{_tag}-{context['user']}", start, now, 0, {}, None, start]
    record[4] = now
    record[8] = start
    record[5] += 1
    name = exception.error_class.name
    record[6][name] = record[6].get(name, 0) + 1
    _dirty[record[0]] = record


def _drain() -> dict:
    global _dirty
    batch = {"ok": {e: r for e, r in _pending_ok.items() if r},
             "records": [[*r[:6], dict(r[6]), r[7], r[8]] for r in _dirty.values()]}
    for e in ENDPOINTS:
        _pending_ok[e] = []
    _dirty = {}
    return batch if batch["ok"] or batch["records"] else {}


def _merge(batch: dict) -> None:
    for endpoint, ranges in (batch.get("ok") or {}).items():
        if endpoint in _ok:
            _ok[endpoint].extend([list(r) for r in ranges])
    for record in batch.get("records") or ():
        _records[record[0]] = list(record)


_AGGREGATE = aggregate.register(REPORT_KEY, _drain, _merge)


def flush() -> None:
    """Merge what this process recorded itself (master or local runner)."""
    _AGGREGATE.flush()


def _joined(ranges: list[list[float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for a, b in sorted(ranges):
        if out and a - out[-1][1] <= JOIN_S:
            if b > out[-1][1]:
                out[-1][1] = b
        else:
            out.append([a, b])
    return out


def windows(endpoint: str | None = None, now: float | None = None) -> list[dict]:
    """The windows so far, oldest first; ``end`` None while one is still open."""
    flush()
    now = time.time() if now is None else now
    found = []
    for ep in ENDPOINTS if endpoint is None else (endpoint,):
        ok = _ok[ep] = _joined(_ok[ep])
        starts = [r[0] for r in ok]
        by_gap: dict[int, list] = {}
        for rec in _records.values():
            if rec[1] != ep:
                continue
            # This user's failing stretch: from its first failing operation's start to its last one's end.
            # It belongs to the first gap between successes it overlaps, and to later gaps only while one
            # of its failing operations started in them: an operation already in flight when another user's
            # succeeded says nothing about the endpoint after that success.
            first, last_end, last_start = rec[3], rec[4], rec[8]
            j = bisect_right(starts, first)  # gap j lies between range j-1 and range j; gap j ends after first
            later = False
            while j <= len(ok):
                g0 = ok[j - 1][1] if j > 0 else float("-inf")
                if last_end <= g0 or (later and last_start <= g0):
                    break
                by_gap.setdefault(j, []).append(rec)
                later = True
                j += 1
        for j in sorted(by_gap):
            recs = by_gap[j]
            g0 = ok[j - 1][1] if j > 0 else float("-inf")
            g1 = ok[j][0] if j < len(ok) else None
            start = max(g0, min(r[3] for r in recs))
            if g1 is not None and g1 <= start:
                continue
            found.append(_window(ep, start, g1, recs))
    found.sort(key=lambda w: w["start"])
    return found


def _window(endpoint: str, start: float, end: float | None, recs: list) -> dict:
    classes: dict[str, int] = {}
    for r in recs:
        for name, n in r[6].items():
            classes[name] = classes.get(name, 0) + n
    recovered = sorted(r[7] - r[3] for r in recs if r[7] is not None)
    return {
        "endpoint": endpoint,
        "start": round(start, 3),
        "end": None if end is None else round(end, 3),
        "seconds": None if end is None else round(end - start, 3),
        "last_failure": round(max(r[4] for r in recs), 3),
        "failures": sum(r[5] for r in recs),
        "classes": dict(sorted(classes.items(), key=lambda kv: -kv[1])),
        "users_hit": len({r[2] for r in recs}),
        "users_recovered": len(recovered),
        "recovery_p50_s": round(statistics.median(recovered), 3) if recovered else None,
        "recovery_max_s": round(recovered[-1], 3) if recovered else None,
    }


def length(w: dict, now: float | None = None) -> float:
    """A window's seconds; one still open counts up to now while the run goes on, else to its last failure."""
    if w["end"] is not None:
        return w["end"] - w["start"]
    until = w["last_failure"] if _stopped else (time.time() if now is None else now)
    return max(0.0, until - w["start"])


def longest(endpoint: str = "writer") -> float:
    """Seconds of the longest window on the endpoint (see ``length`` for one still open)."""
    return max((length(w) for w in windows(endpoint)), default=0.0)


def describe(w: dict) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(w["start"]))
    length_text = ("still open" if w["end"] is None else f"{w['seconds']:.2f}s")
    classes = ", ".join(f"{name} {n}" for name, n in w["classes"].items())
    recovery = ("" if w["recovery_p50_s"] is None else
                f"; recovered p50 {w['recovery_p50_s']:.2f}s max {w['recovery_max_s']:.2f}s")
    if w["end"] is None:
        length_text += f" ({length(w):.2f}s so far)"
    return (f"{w['endpoint']} {when} {length_text}: {w['users_hit']} users hit, {w['failures']} failures "
            f"({classes}){recovery}")


def summary_lines() -> list[str]:
    found = windows()
    if not found:
        return []
    lines = ["Outages (no operation on the endpoint succeeded while they failed; from the users' side):"]
    lines.extend("  " + describe(w) for w in found)
    return lines


def reset() -> None:
    global _stopped
    _stopped = False
    _open.clear()
    _dirty.clear()
    _records.clear()
    for e in ENDPOINTS:
        _pending_ok[e] = []
        _ok[e] = []


_stopped = False


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _tag
    _tag = f"{uuid.uuid4().hex[:6]}.{os.getpid()}"  # --processes forks after import: each its own tag


@events.test_start.add_listener
def _on_test_start(**_kwargs):
    reset()


@events.test_stop.add_listener
def _on_test_stop(**_kwargs):
    global _stopped
    _stopped = True  # an outage not recovered by now lasted until its last failure


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if master_or_local(environment):
        print_block(summary_lines())
