"""The master's hand on the rate: the stages' end, --rate-users, and --find-max-rps.

Runs on the master or the local runner, next to the run (``test_start`` to
``test_stop``); workers only pace (``arrival.py``). With ``--rate-stages`` or
``--rate-csv`` the run ends after the last stage, as k6's executor does.
``--rate-users N`` sets the run's users; ``--rate-users auto`` keeps enough
users for the coming rate at the latency observed (Little's law, with twice
the headroom, more when tasks start late or are skipped), at most
``--rate-users-max``, through ``runner.start`` as the web UI's edit does.

``--find-max-rps --slo "p99=50ms,fail=0.1%"`` holds the rate at steps that
rise by ``--find-max-rps-factor`` from ``--find-max-rps-start``. Each step
settles (``--find-max-rps-settle``), then is judged over
``--find-max-rps-step`` on the scheduled starts of that window, from every
process: the latency from the schedule (what an arriving client sees)
against the SLO's percentiles, the failure ratio, and the starts against the
rate (a step that falls more than ``STEP_SHORTFALL`` short fails: the users
or the database could not keep up). After the first failing step it bisects
(geometrically) between the best good and the lowest bad rate until they are
within ``--find-max-rps-precision``, bounded by ``--find-max-rps-limit`` and
the run time (``-t``). The verdict is one line; exit code 3 when even the
first step failed.
"""

from __future__ import annotations

import math
import time
from time import perf_counter

import gevent
from locust import events

from . import arrival, warmup
from ..options import number, option_group, validator
from .checks import EXIT_CHECK_FAILED
from .rate_plan import MaxRateSearch, Rate, describe_slo, parse_duration, parse_slo
from .roles import is_master, master_or_local

STEP_SHORTFALL = 0.05  # a step whose starts fall this far below its rate fails
AUTO_HEADROOM = 2.0
REPORT_WAIT_S = 3.5  # a worker reports every 3 s: wait this long before judging a step's window

steps: list[dict] = []  # --find-max-rps: one per step held, in order
verdict: dict = {}
_controller = None
_stopped_s: float | None = None  # seconds into the run when it stopped: the stage figures end there


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm find max rate", "--find-max-rps --slo ...: the highest rate that meets an SLO")
    add("find-max-rps", action="store_true", default=False,
        help="Find the highest arrival rate that meets --slo: rising steps, then bisection")
    add("slo", default=None, help="Service level for --find-max-rps: p99=50ms,fail=0.1% (pNN from the schedule)")
    add("find-max-rps-start", type=float, default=10.0, help="First step's rate per second")
    add("find-max-rps-factor", type=float, default=2.0, help="Each step's rate over the previous one's (> 1)")
    add("find-max-rps-step", default="30s", help="How long each step is judged (after the settle)")
    add("find-max-rps-settle", default="5s", help="How long each step runs before it is judged")
    add("find-max-rps-limit", type=float, default=None, help="Highest rate to try")
    add("find-max-rps-precision", type=float, default=0.1,
        help="Stop bisecting when the lowest bad rate is within this fraction of the best good one")


@validator
def validate(opts) -> list[str]:
    problems = []
    if not getattr(opts, "find_max_rps", False):
        if getattr(opts, "slo", None):
            problems.append("--slo: only with --find-max-rps (use --check-* for a run's thresholds)")
        return problems
    if not getattr(opts, "slo", None):
        problems.append("--find-max-rps: needs --slo (e.g. p99=50ms,fail=0.1%)")
    else:
        try:
            parse_slo(opts.slo)
        except ValueError as exc:
            problems.append(f"--slo {opts.slo}: {exc}")
    for flag in ("find_max_rps_step", "find_max_rps_settle"):
        try:
            value = parse_duration(getattr(opts, flag))
            if flag == "find_max_rps_step" and value <= 0:
                raise ValueError("must be greater than 0")
        except ValueError as exc:
            problems.append(f"--{flag.replace('_', '-')} {getattr(opts, flag)}: {exc}")
    start = number(getattr(opts, "find_max_rps_start", None))
    if start is None or not start > 0:
        problems.append(f"--find-max-rps-start {start}: must be greater than 0")
    factor = number(getattr(opts, "find_max_rps_factor", None))
    if factor is None or not factor > 1:
        problems.append(f"--find-max-rps-factor {factor}: must be greater than 1")
    limit = number(getattr(opts, "find_max_rps_limit", None))
    if limit is not None and start and not limit >= start:
        problems.append(f"--find-max-rps-limit {limit:g}: must be at least --find-max-rps-start {start:g}")
    precision = number(getattr(opts, "find_max_rps_precision", None))
    if precision is None or not 0 < precision < 1:
        problems.append(f"--find-max-rps-precision {precision}: must be between 0 and 1")
    return problems  # --find-max-rps with --shape: arrival.validate says it once, for every rate option


def _finish(environment) -> None:
    """End the run as -t does: quit when headless, stop in the web UI."""
    if environment.parsed_options.headless:
        environment.runner.quit()
    else:
        environment.runner.stop()


def _elapsed() -> float:
    return perf_counter() - arrival.plan.t0


def _set_users(environment, users: int) -> None:
    runner = environment.runner
    if users != runner.target_user_count:
        runner.start(users, spawn_rate=max(10.0, float(users)))


def _auto_users(environment, most: int) -> int:
    """Users for the rate of the next few seconds at the service time (and lag) of the last few."""
    now = _elapsed()
    recent = arrival.window(max(0.0, now - 6.0), now)
    service_s = (recent["service_ms"] or 5.0) / 1000.0
    peak = arrival.plan.rate.peak(now, now + 5.0)
    need = peak * service_s * AUTO_HEADROOM
    if recent["skipped"] or recent["lag_p99"] > 100.0:
        need = max(need, (environment.runner.target_user_count or 1) * 1.5)
    return max(1, min(most, math.ceil(need) + 1))


def _hold(rate: float) -> None:
    """From now on the plan's rate is ``rate``; the arrivals due so far and not started are dropped."""
    now = _elapsed()
    old = arrival.plan.rate
    points = [p for p in old.points if p[0] < now] + [(now, old.rate_at(now)), (now + 0.001, rate)]
    arrival.set_rate(Rate(points, stages=[]), drop_backlog=True)


def _judge(step: dict, slo: dict) -> None:
    figures = arrival.window(step["from_s"], step["to_s"])
    seconds = step["to_s"] - step["from_s"]
    step.update(achieved=figures["starts"] / seconds, p50=figures["p50"], p99=figures["p99"],
                fail_ratio=figures["fail_ratio"], requests=figures["requests"], skipped=figures["skipped"])
    reasons = []
    if figures["starts"] < step["rate"] * seconds * (1 - STEP_SHORTFALL):
        reasons.append(f"achieved {step['achieved']:.1f}/s")
    counts = figures["sched_counts"]
    for key, limit in slo.items():
        if key == "fail":
            if figures["fail_ratio"] > limit:
                reasons.append(f"fail {figures['fail_ratio'] * 100:.2f}%")
            continue
        value = arrival.percentile(counts, float(key[1:]) / 100.0)
        step[key] = value
        if value > limit:
            reasons.append(f"{key} {value:g}ms")
    if not figures["requests"]:
        reasons.append("no requests")
    step["ok"] = not reasons
    step["why"] = ", ".join(reasons)


def _find_max(environment, opts, deadline: float | None) -> None:
    slo = parse_slo(opts.slo)
    settle = parse_duration(opts.find_max_rps_settle)
    length = parse_duration(opts.find_max_rps_step)
    wait = REPORT_WAIT_S if is_master(environment) else 0.5
    search = MaxRateSearch(opts.find_max_rps_start, opts.find_max_rps_factor,
                           number(opts.find_max_rps_limit), opts.find_max_rps_precision)
    gevent.sleep(max(0.0, warmup.seconds(opts) - _elapsed()))  # the warm-up runs at the first step's rate
    stopped = "converged"
    while (rate := search.next_rate()) is not None:
        if deadline is not None and _elapsed() + settle + length + wait > deadline:
            stopped = "run time"
            break
        _hold(rate)
        begin = _elapsed()
        step = {"rate": rate, "from_s": math.ceil(begin + settle), "start": time.time()}
        step["to_s"] = step["from_s"] + max(1, int(round(length)))
        gevent.sleep(max(0.0, step["to_s"] - _elapsed()))
        step["end"] = time.time()
        gevent.sleep(wait)  # the same rate while the last reports of the window come in
        _judge(step, slo)
        steps.append(step)
        search.record(rate, step["ok"])
        if search.limit and rate >= search.limit and step["ok"]:
            stopped = "limit"
    verdict.update(slo=describe_slo(slo), good=search.good, bad=search.bad, stopped=stopped)
    if search.good is None:
        environment.process_exit_code = EXIT_CHECK_FAILED
    _finish(environment)


def _control(environment) -> None:
    opts = environment.parsed_options
    users = arrival.users_option(opts)
    most = getattr(opts, "rate_users_max", 100) or 100
    finding = bool(getattr(opts, "find_max_rps", False))
    auto = users == "auto" or (finding and users is None)
    run_time = getattr(opts, "run_time", None)
    deadline = float(run_time) - 1.0 if run_time else None
    if isinstance(users, int):
        _set_users(environment, users)
    if finding:
        gevent.spawn(_keep_users, environment, most) if auto else None
        _find_max(environment, opts, deadline)
        return
    rate = arrival.plan.rate
    while True:
        if auto:
            _set_users(environment, _auto_users(environment, most))
        if rate.stages and _elapsed() >= rate.duration:
            _finish(environment)
            return
        gevent.sleep(1.0 if auto else 0.2)


def _keep_users(environment, most: int) -> None:
    while True:
        _set_users(environment, _auto_users(environment, most))
        gevent.sleep(1.0)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global _controller, _stopped_s
    if not master_or_local(environment):
        return
    _stopped_s = None
    steps.clear()
    verdict.clear()
    if arrival.plan is None:
        return
    opts = environment.parsed_options
    if getattr(opts, "find_max_rps", False) and validate(opts):
        return  # a bad web form value (the command line was refused at init)
    _controller = gevent.spawn(_control, environment)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    global _controller, _stopped_s
    if arrival.plan is not None and _stopped_s is None and master_or_local(environment):
        _stopped_s = _elapsed()  # read later (at quit, in the web UI's tab), the figures still end here
    if _controller is not None and master_or_local(environment):
        if _controller is not gevent.getcurrent():
            _controller.kill(block=False)
        _controller = None


def stage_rows(environment) -> list[dict]:
    """Per stage (or the whole run for --target-rps): target and achieved rate, latency, lag, late, skipped."""
    current = arrival.plan
    if current is None or steps:
        return []
    # From the end of the last process's warm-up: a worker's starts before its own end were reset.
    warm = (warmup.last_end() - current.wall0) if warmup.span else 0.0
    end_s = _elapsed() if _stopped_s is None else _stopped_s
    spans = [(s, e, r) for s, e, r in current.rate.stages] or [(0.0, math.floor(end_s), current.rate.rate_at(0))]
    rows = []
    for i, (start, end, target) in enumerate(spans, 1):
        begin = max(start, warm)
        end = min(end, math.floor(end_s))
        if end - begin <= 0:
            rows.append({"stage": i, "target": target, "warmup": end_s >= start})
            continue
        expected = current.rate.arrivals(end) - current.rate.arrivals(begin)
        figures = arrival.window(math.ceil(begin), end)
        seconds = end - math.ceil(begin)
        expected = current.rate.arrivals(end) - current.rate.arrivals(math.ceil(begin))
        rows.append({"stage": i, "target": target, "from": math.ceil(begin), "to": end,
                     "expected": expected / seconds if seconds else 0.0,
                     "achieved": figures["starts"] / seconds if seconds else 0.0, **figures})
    return rows


def report_lines(environment) -> list[str]:
    """The stage table, or the search's steps and verdict (the database's figures are added by observe/)."""
    lines = []
    limit = number(getattr(environment.parsed_options, "latency_limit_ms", None))
    rows = stage_rows(environment)
    if rows and (len(rows) > 1 or limit or arrival.plan.rate.stages):
        lines.append("Rate stages (from the schedule; target = mean of the ramp over the stage)")
        lines.append(f"  {'stage':>5} {'target/s':>9} {'achieved/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'lag p99':>8}"
                     f" {'shortfall':>9} {'late':>6} {'skipped':>7} {'goodput/s':>9}")
        for r in rows:
            if "achieved" not in r:
                lines.append(f"  {r['stage']:>5} {r['target']:>9g}   (in the warm-up or not reached)")
                continue
            short = max(0.0, 1 - r["achieved"] / r["expected"]) if r["expected"] else 0.0
            lines.append(f"  {r['stage']:>5} {r['expected']:>9.1f} {r['achieved']:>10.1f} {r['p50']:>8g} {r['p99']:>8g}"
                         f" {r['lag_p99']:>8g} {short * 100:>8.1f}% {r['late']:>6} {r['skipped']:>7} {r['goodput']:>9.1f}")
            if limit:
                for name, op in r["ops"].items():
                    lines.append(f"        {name}: late {op['late']}, skipped {op['skipped']},"
                                 f" goodput {op['goodput']:.1f}/s, p99 {op['p99']:g} ms")
    return lines


def verdict_line() -> str | None:
    if not verdict:
        return None
    if verdict["good"] is None:
        first = steps[0] if steps else None
        why = f" (the first step, {first['rate']:,.0f}/s, broke it: {first['why']})" if first else ""
        return f"max rate meeting {verdict['slo']}: none{why}"
    bound = {"limit": " (--find-max-rps-limit reached)", "run time": " (stopped by the run time)"}.get(verdict["stopped"], "")
    return f"max rate meeting {verdict['slo']}: {verdict['good']:,.0f}/s{bound}"
