"""What the arrival rate should be over a run: stages, a CSV profile, an SLO (no Locust here).

A run's rate is a piecewise-linear function of the seconds since its start,
as k6's ``ramping-arrival-rate``: ``--rate-stages "30s:100,2m:100,1m:500"``
ramps linearly from the previous target (0 at the start) to each stage's
target over the stage's duration; ``--rate-csv`` gives ``seconds,rate``
points joined by straight lines. Pacing works in *arrival space*: ``Rate``
integrates the rate (``arrivals(t)``, how many arrivals are due by ``t``)
and inverts it (``time_of``), so uniform and Poisson arrivals on a ramp
are exact, a stage at rate 0 is a pause, and every process that knows the
plan and the start time puts its users on the same grid.
"""

from __future__ import annotations

import bisect
import csv
import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text) -> float:
    """``"30s"``, ``"2m"``, ``"1h"``, ``"500ms"`` or plain seconds -> seconds; ValueError when not one."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _DURATION.match(str(text))
        if not m:
            raise ValueError(f"'{text}' is not a duration (e.g. 30s, 2m, 1h)")
        value = float(m.group(1)) * _UNIT[m.group(2)]
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"'{text}' is not a duration (e.g. 30s, 2m, 1h)")
    return value


class Rate:
    """A rate per second that is linear between points (seconds since start, rate) and flat after the last."""

    def __init__(self, points: list[tuple[float, float]], stages: list[tuple[float, float, float]] | None = None):
        if not points or points[0][0] != 0.0:
            points = [(0.0, points[0][1] if points else 0.0)] + list(points)
        self.points = points
        self.times = [t for t, _ in points]
        # The cumulative arrivals at each point.
        self.cumulative = [0.0]
        for (t0, r0), (t1, r1) in zip(points, points[1:]):
            self.cumulative.append(self.cumulative[-1] + (t1 - t0) * (r0 + r1) / 2.0)
        # Stages as (start, end, target at end); a CSV profile's segments are its stages.
        self.stages = stages if stages is not None else [
            (t0, t1, r1) for (t0, _r0), (t1, r1) in zip(points, points[1:])]

    @classmethod
    def constant(cls, rate: float) -> "Rate":
        return cls([(0.0, rate)], stages=[])

    @property
    def duration(self) -> float:
        """Seconds until the last point (the run's length for stages or a CSV)."""
        return self.times[-1]

    def rate_at(self, t: float) -> float:
        if t <= 0:
            return self.points[0][1]
        i = bisect.bisect_right(self.times, t) - 1
        if i >= len(self.points) - 1:
            return self.points[-1][1]
        (t0, r0), (t1, r1) = self.points[i], self.points[i + 1]
        return r0 + (r1 - r0) * (t - t0) / (t1 - t0)

    def peak(self, start: float, end: float) -> float:
        """The highest rate between two times."""
        inside = [r for t, r in self.points if start < t < end]
        return max([self.rate_at(start), self.rate_at(end), *inside])

    def arrivals(self, t: float) -> float:
        """Arrivals due from the start until ``t`` (the integral of the rate)."""
        if t <= 0:
            return self.points[0][1] * t
        i = min(bisect.bisect_right(self.times, t) - 1, len(self.points) - 1)
        t0, r0 = self.points[i]
        r = self.rate_at(t)
        return self.cumulative[i] + (t - t0) * (r0 + r) / 2.0

    def time_of(self, arrivals: float) -> float | None:
        """The time by which ``arrivals`` are due (inverse of ``arrivals``); None when never (rate 0 for good)."""
        i = bisect.bisect_right(self.cumulative, arrivals) - 1
        if i < 0:
            r = self.points[0][1]
            return arrivals / r if r > 0 else 0.0
        if i >= len(self.points) - 1:
            t0, r0 = self.points[-1]
            left = arrivals - self.cumulative[-1]
            if left <= 0:
                return t0
            return t0 + left / r0 if r0 > 0 else None
        (t0, r0), (t1, r1) = self.points[i], self.points[i + 1]
        left = arrivals - self.cumulative[i]
        slope = (r1 - r0) / (t1 - t0)
        if abs(slope) < 1e-12:
            return t0 + left / r0 if r0 > 0 else t1
        # r0*x + slope*x^2/2 = left
        disc = r0 * r0 + 2.0 * slope * left
        x = (-r0 + math.sqrt(max(0.0, disc))) / slope
        return t0 + min(max(x, 0.0), t1 - t0)


def parse_stages(text: str) -> Rate:
    """``"30s:100,2m:100,1m:500"`` -> a Rate; ValueError naming the bad stage."""
    points = [(0.0, 0.0)]
    stages = []
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise ValueError("no stages (expected DURATION:RATE,... e.g. 30s:100,2m:100)")
    for part in parts:
        duration, sep, target = part.partition(":")
        try:
            seconds = parse_duration(duration)
            rate = float(target)
        except ValueError:
            raise ValueError(f"stage '{part}': expected DURATION:RATE (e.g. 30s:100)") from None
        if not sep or seconds <= 0 or rate < 0 or not math.isfinite(rate):
            raise ValueError(f"stage '{part}': needs a duration > 0 and a rate >= 0")
        start = points[-1][0]
        points.append((start + seconds, rate))
        stages.append((start, start + seconds, rate))
    return Rate(points, stages)


def read_rate_csv(path: str) -> Rate:
    """Rows ``seconds,rate`` (increasing seconds from 0; a header line is skipped); ValueError naming the line."""
    points: list[tuple[float, float]] = []
    with open(path, newline="") as f:
        for line_no, fields in enumerate(csv.reader(f), 1):
            if not fields or not "".join(fields).strip() or fields[0].strip().startswith("#"):
                continue
            try:
                seconds, rate = parse_duration(fields[0].strip()), float(fields[1])
            except (ValueError, IndexError):
                if line_no == 1:
                    continue  # header
                raise ValueError(f"line {line_no}: expected seconds,rate") from None
            if rate < 0 or not math.isfinite(rate) or (points and seconds <= points[-1][0]):
                raise ValueError(f"line {line_no}: need increasing seconds and a rate >= 0")
            points.append((seconds, rate))
    if len(points) < 2:
        raise ValueError("needs at least two rows (seconds,rate)")
    return Rate(points)


def parse_slo(text: str) -> dict[str, float]:
    """``"p99=50ms,fail=0.1%"`` -> {"p99": 50.0 (ms), "fail": 0.001}; also p50/p90/p95/p99.9; ValueError."""
    slo: dict[str, float] = {}
    for part in (p.strip() for p in str(text or "").split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        try:
            if key == "fail":
                slo[key] = float(value[:-1]) / 100.0 if value.endswith("%") else float(value)
                ok = 0 <= slo[key] <= 1
            elif re.fullmatch(r"p\d+(\.\d+)?", key) and 0 < float(key[1:]) < 100:
                slo[key] = parse_duration(value) * 1000.0 if value.endswith(("s", "m", "h")) else float(value)
                ok = slo[key] > 0
            else:
                ok = False
        except ValueError:
            ok = False
        if not sep or not ok:
            raise ValueError(f"'{part}' is not pNN=TIME (p99=50ms) or fail=RATIO (fail=0.1%)")
    if not slo:
        raise ValueError("empty (e.g. p99=50ms,fail=0.1%)")
    return slo


def describe_slo(slo: dict[str, float]) -> str:
    """``p99<=50ms, fail<=0.1%``"""
    parts = []
    for key, value in slo.items():
        parts.append(f"fail<={value * 100:g}%" if key == "fail" else f"{key}<={value:g}ms")
    return ", ".join(parts)


class MaxRateSearch:
    """Which rate to hold next: up by ``factor`` until a step fails, then bisect between good and bad.

    ``next_rate()`` is None when done: the gap between the best good and the
    lowest bad rate is within ``precision`` (relative), or ``limit`` was reached
    and held.
    """

    def __init__(self, start: float, factor: float, limit: float | None, precision: float):
        self.factor = factor
        self.limit = limit
        self.precision = precision
        self.good: float | None = None
        self.bad: float | None = None
        self._next: float | None = min(start, limit) if limit else start

    def next_rate(self) -> float | None:
        return self._next

    def record(self, rate: float, ok: bool) -> None:
        if ok:
            self.good = rate if self.good is None else max(self.good, rate)
        else:
            self.bad = rate if self.bad is None else min(self.bad, rate)
        if self.bad is None:
            up = rate * self.factor
            if self.limit and rate >= self.limit:
                self._next = None
            else:
                self._next = min(up, self.limit) if self.limit else up
            return
        if self.good is None:
            self._next = None  # even the first step failed
            return
        if (self.bad - self.good) <= self.precision * self.good:
            self._next = None
            return
        self._next = math.sqrt(self.good * self.bad)  # bisect on the geometric scale the steps rose on
