"""What the capacity did against the load: peak ACU, time to scale up and down, ACU-seconds per unit of work.

Pure functions over plain series, so the figures can be checked by hand.
A CloudWatch point stamped ``ts`` with period ``P`` is the average over
[ts, ts + P). Definitions (the report and docs/cloudwatch.md use them):

- a *load step* is the start of the load, then every time the number of
  users rises again after holding (or falling) for at least ``HOLD_S``;
- the *baseline* of a step is the ACU of the point covering the step's
  moment (else the first point after it);
- *time to scale up*: from the step to the first later point above the
  baseline; *time to peak*: from the first step to the first point at the
  run's peak ACU;
- *time to scale down*: from the end of the load to the first point at or
  below the first step's baseline;
- *ACU-seconds*: each point's value times the part of its period inside the
  load (first step to end of load); per 1,000 orders (or transactions) it
  is capacity per unit of work, and at a price per ACU-hour its cost.
"""

from __future__ import annotations

HOLD_S = 5.0


def load_steps(users: list[tuple[float, int]], start: float) -> list[float]:
    """The load's start, then each renewed rise of the user count (``users``: (time, count) in order).

    The start is the test's start, or the first sample with users when the
    run began idle for longer than ``HOLD_S`` (a spike shape).
    """
    first_busy = next((t for t, n in users if t >= start and n > 0), None)
    if first_busy is not None and first_busy - start > HOLD_S:
        start = first_busy
    steps = [start]
    prev = None
    held_since = None
    for t, n in users:
        if t < start:
            prev = n
            continue
        if prev is not None and n > prev:
            if held_since is not None and t - held_since >= HOLD_S:
                steps.append(t)
            held_since = None
        elif held_since is None:
            held_since = t
        prev = n
    return steps


def load_end(users: list[tuple[float, int]], stop: float | None) -> float | None:
    """When the users were gone: the first zero after the last busy sample, else the test's stop."""
    end = stop
    busy = [i for i, (_, n) in enumerate(users) if n > 0]
    if busy and busy[-1] + 1 < len(users):
        t = users[busy[-1] + 1][0]
        end = t if end is None else min(end, t)
    return end


def baseline(points: list[tuple[float, float]], t: float, period: float) -> tuple[float, float] | None:
    """The point covering ``t``, else the last before it, else the first after it."""
    before = [p for p in points if p[0] <= t]
    if before:
        return before[-1]
    return points[0] if points else None


def first_above(points, after: float, level: float):
    for ts, v in points:
        if ts > after and v > level:
            return ts, v
    return None


def first_at_or_below(points, after: float, level: float):
    for ts, v in points:
        if ts >= after and v <= level:
            return ts, v
    return None


def acu_seconds(points: list[tuple[float, float]], period: float, start: float, end: float) -> float:
    """Σ value × seconds of [ts, ts + period) inside [start, end)."""
    total = 0.0
    for ts, v in points:
        overlap = min(ts + period, end) - max(ts, start)
        if overlap > 0:
            total += v * overlap
    return total


def scale_ups(points, period: float, steps: list[float], end: float | None) -> list[dict]:
    """Per load step: baseline ACU, first rise and how long it took (None: no rise before the next step)."""
    rows = []
    for i, step in enumerate(steps):
        limit = steps[i + 1] if i + 1 < len(steps) else None
        base = baseline(points, step, period)
        row = {"step_time": step, "baseline_acu": base[1] if base else None, "rise_time": None, "rise_acu": None,
               "scale_up_s": None}
        if base is not None:
            after = max(step, base[0])
            rise = first_above(points, after, base[1])
            if rise is not None and (limit is None or rise[0] < limit):
                row.update(rise_time=rise[0], rise_acu=rise[1], scale_up_s=round(max(0.0, rise[0] - step), 3))
        rows.append(row)
    return rows


def summary(points, period: float, steps: list[float], end: float | None, work: int, work_name: str) -> dict:
    """The report's table, as data (None where the series cannot tell)."""
    out = {"period_s": period, "points": len(points), "work_name": work_name, "work": work,
           "load_start": steps[0] if steps else None, "load_end": end, "peak_acu": None, "peak_time": None,
           "scale_up_s": None, "time_to_peak_s": None, "scale_down_s": None, "acu_seconds": None,
           "acu_seconds_per_1000": None, "steps": []}
    if not points or not steps:
        return out
    during = [p for p in points if p[0] + period > steps[0]]
    if not during:
        return out
    peak = max(v for _, v in during)
    peak_time = next(ts for ts, v in during if v == peak)
    ups = scale_ups(points, period, steps, end)
    out.update(peak_acu=peak, peak_time=peak_time, steps=ups, scale_up_s=ups[0]["scale_up_s"],
               time_to_peak_s=round(max(0.0, peak_time - steps[0]), 3))
    if end is not None:
        used = acu_seconds(points, period, steps[0], end)
        out["acu_seconds"] = round(used, 3)
        if work > 0:
            out["acu_seconds_per_1000"] = round(used / work * 1000, 3)
        base = ups[0]["baseline_acu"]
        down = first_at_or_below(points, end, base) if base is not None and peak > base else None
        if down is not None:
            out["scale_down_s"] = round(max(0.0, down[0] - end), 3)
    return out
