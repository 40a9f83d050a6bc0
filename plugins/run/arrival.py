"""Open-model pacing: a target rate (--target-rps), rate stages or a CSV profile, uniform or Poisson arrivals.

A Locust user is a closed loop: when the database stalls it sends less and
the stall hides in a lower rate. With a rate every task start is scheduled
instead. The rate over the run is a ``rate_plan.Rate`` (constant for
``--target-rps``, ramps for ``--rate-stages``/``--rate-csv``, steps set by the
master for ``--find-max-rps``); each of the N users of the whole run takes
every N-th arrival of it (N re-read before every task, so spawning and workers
joining or leaving re-divide the rate). ``--arrival uniform`` (the default)
puts the users on one evenly spaced grid shared by every process (user k of
N takes arrivals k, k+N, ...); ``--arrival poisson`` draws exponential gaps per
user, so the merged stream of the run is a Poisson process at the rate. A
user that falls behind runs its overdue tasks back to back, so the rate
recovers after a stall.

As pgbench ``--rate`` does, every paced task is reported twice more, under
the request type ``schedule``: ``<name> (from schedule)`` is the latency
from the scheduled start to the end (what a client arriving on time would
see, stall included), ``<name> (schedule lag)`` the delay between the
scheduled and the actual start. With ``--latency-limit-ms L`` (pgbench
``-L``) a request ending more than L ms after its scheduled start is *late*,
and a task already more than L ms behind when its turn comes is *skipped*:
not sent, counted (under the user's previous operation: the same mix).
Per second of schedule and operation every process tallies starts, late,
skipped and the latency from the schedule; the master merges them
(``tallies``) for the stage reports and ``--find-max-rps``.
``--request-log PATH`` writes one line per request (``PATH.<pid>``), to
check all of this independently.
"""

from __future__ import annotations

import math
import os
import random
import time
from time import perf_counter

import gevent
from gevent import getcurrent
from locust import events

from . import aggregate, warmup
from ..options import number, option_group, validator
from .rate_plan import Rate, parse_stages, read_rate_csv
from .roles import is_master, is_worker, master_or_local, print_block
from ..session import STATEMENT_CONTEXT

PACE_TYPE = "schedule"
LAG_SUFFIX = " (schedule lag)"
FROM_SCHEDULE_SUFFIX = " (from schedule)"
TOLERANCE = 0.02  # below this shortfall the target counts as met
ARRIVALS = ("uniform", "poisson")
_MESSAGE = "dbswarm_pace"
_PACED_CONTEXT: dict = {"paced": True}

class Plan:
    """The run's rate, its start, and this process's place among the run's users."""

    __slots__ = ("rate", "t0", "wall0", "wall0_ns", "users", "index", "processes", "poisson", "limit_s", "fresh_from")

    def __init__(self, rate: Rate, wall0: float, users: int = 0, index: int = 0, processes: int = 1,
                 poisson: bool = False, limit_s: float | None = None, fresh_from: float = 0.0):
        self.rate = rate
        # Arrivals before this position are dropped, not sent: a --find-max-rps step starts
        # without the backlog of the overloaded step before it (see drop_backlog).
        self.fresh_from = fresh_from
        self.wall0 = wall0
        self.wall0_ns = round(wall0 * 1e9)
        self.t0 = perf_counter() - (time.time() - wall0)
        self.users = users
        self.index = index
        self.processes = processes
        self.poisson = poisson
        self.limit_s = limit_s

    def wall_text(self, t: float) -> str:
        """A perf_counter instant as wall-clock seconds on this plan's clock, to the nanosecond (the request log).

        A request's end is logged as the instant its late decision used, not the
        later moment the line is written, and with its scheduled start on one
        clock at a resolution far below any --latency-limit-ms: a recount from
        the log finds the run's late count exactly.
        """
        ns = self.wall0_ns + round((t - self.t0) * 1e9)
        return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"

    def wire(self) -> dict:
        return {"points": self.rate.points, "stages": self.rate.stages, "wall0": self.wall0, "users": self.users,
                "poisson": self.poisson, "limit_s": self.limit_s, "fresh_from": self.fresh_from}

    @classmethod
    def from_wire(cls, data: dict, index: int, processes: int) -> "Plan":
        rate = Rate([tuple(p) for p in data["points"]], [tuple(s) for s in data["stages"]])
        return cls(rate, data["wall0"], int(data["users"]), index, processes, data["poisson"], data["limit_s"],
                   float(data.get("fresh_from", 0.0)))


plan: Plan | None = None  # this process's; None: no pacing
_pacers: dict = {}  # user greenlet -> Pacer
_slots: set = set()  # local user numbers in use


def _total_users(runner) -> int:
    return (plan.users if plan and plan.users else 0) or runner.target_user_count or runner.user_count or 1


class Pacer:
    """The schedule of one user's task starts, as a position in the plan's arrivals."""

    __slots__ = ("runner", "pos", "scheduled", "first", "greenlet", "slot", "last_name")

    def __init__(self, runner):
        self.runner = runner
        self.pos = 0.0
        self.scheduled = 0.0
        self.first = True
        self.greenlet = None
        self.slot = 0
        self.last_name = "(no request yet)"

    def _step(self) -> float:
        users = _total_users(self.runner)
        return users * random.expovariate(1.0) if plan.poisson else float(users)

    def start(self) -> None:
        """Register the current (user) greenlet and take its first arrival."""
        self.greenlet = getcurrent()
        if not _pacers:  # listen only while some user is paced: without a rate no query pays for it
            self.runner.environment.events.request.add_listener(_on_request)
        _pacers[self.greenlet] = self
        self.slot = min(set(range(len(_slots) + 1)) - _slots)
        _slots.add(self.slot)
        due = plan.rate.arrivals(perf_counter() - plan.t0)
        if plan.poisson:
            self.pos = due + self._step()
        else:
            users = _total_users(self.runner)
            k = self.slot * plan.processes + plan.index  # this user's place on the run's grid
            self.pos = k + users * math.ceil((due - k) / users)
        gevent.sleep(self._due())

    def wait_time(self) -> float:
        """Seconds until the next scheduled start (0 when behind: catch up)."""
        self.pos += self._step()
        return self._due()

    def _due(self) -> float:
        while True:
            current = plan
            if self.pos < current.fresh_from:  # the backlog of a step already judged: drop it
                step = float(_total_users(self.runner))
                self.pos += step * math.ceil((current.fresh_from - self.pos) / step)
            t = current.rate.time_of(self.pos)
            if t is None:  # the rate is 0 from here on: wait for the run to end (or a new plan)
                gevent.sleep(0.25)
                continue
            self.scheduled = current.t0 + t
            now = perf_counter()
            if current.limit_s and now - self.scheduled > current.limit_s:
                _skip(self, current)
                self.pos += self._step()
                continue
            self.first = True
            return max(0.0, self.scheduled - now)

    def stop(self) -> None:
        _slots.discard(self.slot)
        if _pacers.pop(self.greenlet, None) is not None and not _pacers:
            self.runner.environment.events.request.remove_listener(_on_request)


def pacer_for(user) -> Pacer | None:
    """A Pacer when the run has a rate (workers learn the plan from the master before their users start)."""
    if plan is None and is_worker(user.environment) and active(user.environment.parsed_options):
        # The master's plan has not arrived (yet): pace on this process's own clock until it does.
        _set_plan(build_plan(user.environment.parsed_options, time.time()))
    return Pacer(user.environment.runner) if plan is not None else None


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm arrival rate")
    add("target-rps", type=float, default=None,
        help="Start tasks at this total rate per second (open loop, latency measured from the scheduled start)")
    add("rate-stages", default=None,
        help="Rate stages as k6's ramping-arrival-rate, DURATION:RATE,... (30s:100,2m:100,1m:500): ramp linearly to "
             "each rate over its stage; the run ends after the last")
    add("rate-csv", default=None, help="Rate profile: a CSV file of seconds,rate rows (linear between rows)")
    add("rate-users", default=None,
        help="Users for a rate: a number (default: -u), or auto: enough for the rate at the observed latency")
    add("rate-users-max", type=int, default=100, help="--rate-users auto: most users")
    add("arrival", choices=ARRIVALS, default="uniform",
        help="uniform: evenly spaced starts; poisson: exponential gaps (a Poisson stream at the rate)")
    add("latency-limit-ms", type=float, default=None,
        help="With a rate, as pgbench -L: a request ending later than this after its scheduled start is late; a task "
             "already this late when due is skipped (not sent)")
    add("request-log", default=None, help="Write one line per request to PATH.<pid> (for checking; costs I/O)")


def active(opts) -> bool:
    """Some option asks for a rate."""
    return bool(number(getattr(opts, "target_rps", None)) or getattr(opts, "rate_stages", None)
                or getattr(opts, "rate_csv", None) or getattr(opts, "find_max_rps", False))


def schedule(opts) -> Rate | None:
    """The rate over the run the options ask for (raises ValueError/OSError on bad input)."""
    if getattr(opts, "find_max_rps", False):
        return Rate.constant(number(getattr(opts, "find_max_rps_start", None)) or 10.0)
    if getattr(opts, "rate_stages", None):
        return parse_stages(opts.rate_stages)
    if getattr(opts, "rate_csv", None):
        return read_rate_csv(opts.rate_csv)
    rate = number(getattr(opts, "target_rps", None))
    return Rate.constant(rate) if rate else None


def users_option(opts) -> int | str | None:
    """--rate-users: an int, "auto" or None."""
    value = getattr(opts, "rate_users", None)
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    return "auto" if text == "auto" else int(text)


def build_plan(opts, wall0: float) -> Plan | None:
    rate = schedule(opts)
    if rate is None:
        return None
    limit = number(getattr(opts, "latency_limit_ms", None))
    return Plan(rate, wall0, poisson=getattr(opts, "arrival", "uniform") == "poisson",
                limit_s=limit / 1000.0 if limit else None)


@validator
def validate(opts) -> list[str]:
    problems = []
    rate = number(getattr(opts, "target_rps", None))
    if rate is not None and not rate > 0:
        problems.append(f"--target-rps {rate:g}: must be greater than 0")
    given = [flag for flag, on in (("--target-rps", rate), ("--rate-stages", getattr(opts, "rate_stages", None)),
                                   ("--rate-csv", getattr(opts, "rate_csv", None)),
                                   ("--find-max-rps", getattr(opts, "find_max_rps", False))) if on]
    if len(given) > 1:
        problems.append(f"{given[0]} and {given[1]}: choose one way to set the rate")
    if getattr(opts, "rate_stages", None):
        try:
            parse_stages(opts.rate_stages)
        except ValueError as exc:
            problems.append(f"--rate-stages {opts.rate_stages}: {exc}")
    if getattr(opts, "rate_csv", None):
        try:
            read_rate_csv(opts.rate_csv)
        except OSError as exc:
            problems.append(f"--rate-csv {opts.rate_csv}: {exc.strerror or exc}")
        except ValueError as exc:
            problems.append(f"--rate-csv {opts.rate_csv}: {exc}")
    try:
        users = users_option(opts)
        if isinstance(users, int) and users < 1:
            raise ValueError
    except ValueError:
        problems.append(f"--rate-users {opts.rate_users}: must be a number of users >= 1 or auto")
        users = None
    most = getattr(opts, "rate_users_max", 100)
    if most is not None and most < 1:
        problems.append(f"--rate-users-max {most}: must be at least 1")
    limit = number(getattr(opts, "latency_limit_ms", None))
    if limit is not None and not limit > 0:
        problems.append(f"--latency-limit-ms {limit:g}: must be greater than 0")
    if not given:
        for flag, on in (("--latency-limit-ms", limit is not None), ("--rate-users", users is not None),
                         ("--arrival poisson", getattr(opts, "arrival", "uniform") == "poisson")):
            if on:
                problems.append(f"{flag}: needs a rate (--target-rps, --rate-stages, --rate-csv or --find-max-rps)")
    if given and given[0] != "--target-rps" and getattr(opts, "shape", None):
        problems.append(f"{given[0]} with --shape {opts.shape}: the rate sets the run's length and users; drop --shape")
    return problems


# Tallies per (second of schedule since the start, operation):
# [starts, requests, failures, late, skipped, service ms sum, {from-schedule 0.1 ms: n}, {lag 0.1 ms: n}]
_local: dict = {}
tallies: dict = {}  # master or local runner: merged from every process


def _row(key):
    row = _local.get(key)
    if row is None:
        row = _local[key] = [0, 0, 0, 0, 0, 0.0, {}, {}]
    return row


def _tenth_ms(ms: float) -> int:
    """0.1 ms steps below 100 ms, 1 ms above: a few hundred keys per second and operation."""
    return int(ms * 10.0) if ms < 100.0 else int(ms) * 10


def _skip(pacer: Pacer, current: Plan) -> None:
    if warmup.warm:
        _row((math.floor(pacer.scheduled - current.t0), pacer.last_name))[4] += 1
    if _log is not None:
        _log.write(f"K {current.wall_text(pacer.scheduled)} {pacer.last_name}\n")


def _on_request(request_type, name, response_time, response_length, exception, context=None, **_kwargs):
    if context is STATEMENT_CONTEXT or context is _PACED_CONTEXT:
        return
    pacer = _pacers.get(getcurrent())
    if pacer is None or name.startswith("connect"):
        return
    now = perf_counter()
    current = plan
    fire = pacer.runner.environment.events.request.fire
    from_ms = max(0.0, now - pacer.scheduled) * 1000.0
    late = bool(current.limit_s) and from_ms > current.limit_s * 1000.0
    pacer.last_name = name
    first = pacer.first
    lag = 0.0
    if first:
        pacer.first = False
        lag = max(0.0, now - response_time / 1000.0 - pacer.scheduled) * 1000.0
        fire(request_type=PACE_TYPE, name=name + LAG_SUFFIX, response_time=lag,
             response_length=0, exception=None, context=_PACED_CONTEXT)
    fire(request_type=PACE_TYPE, name=name + FROM_SCHEDULE_SUFFIX, response_time=from_ms,
         response_length=response_length, exception=exception, context=_PACED_CONTEXT)
    if warmup.warm:
        row = _row((math.floor(pacer.scheduled - current.t0), name))
        row[1] += 1
        row[5] += response_time
        if exception is not None:
            row[2] += 1
        if late:
            row[3] += 1
        bucket = _tenth_ms(from_ms)
        row[6][bucket] = row[6].get(bucket, 0) + 1
        if first:
            row[0] += 1
            bucket = _tenth_ms(lag)
            row[7][bucket] = row[7].get(bucket, 0) + 1
    if _log is not None:
        _log.write(f"R {current.wall_text(now)} {current.wall_text(pacer.scheduled)} {int(late)}"
                   f" {int(exception is None)} {int(first)} {name}\n")


def _drain():
    global _local
    batch, _local = _local, {}
    return batch


def _merge(batch) -> None:
    for key, row in batch.items():
        mine = tallies.get(key)
        if mine is None:
            tallies[key] = [*row[:6], dict(row[6]), dict(row[7])]
            continue
        for i in range(6):
            mine[i] += row[i]
        for i in (6, 7):
            for bucket, n in row[i].items():
                mine[i][bucket] = mine[i].get(bucket, 0) + n


_AGGREGATE = aggregate.register(
    "dbswarm_rate", _drain, _merge,
    encode=lambda batch: [[sec, name, *row[:6], list(row[6].items()), list(row[7].items())]
                          for (sec, name), row in batch.items()],
    decode=lambda rows: {(r[0], r[1]): [*r[2:8], dict(r[8]), dict(r[9])] for r in rows},
)


def _reset(worker: bool) -> None:
    """The warm-up ended: drop what was tallied until now (see warmup.py)."""
    _local.clear()
    if not worker:
        tallies.clear()
    if _log is not None:
        _log.write(f"W {time.time():.6f}\n")


warmup.exclude("dbswarm_rate", _reset)


def percentile(counts: dict, q: float) -> float:
    """The q-th quantile (0..1) in ms of a {0.1 ms: n} tally."""
    total = sum(counts.values())
    if not total:
        return 0.0
    rank, seen = q * total, 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return bucket / 10.0
    return max(counts) / 10.0


def window(start: float, end: float) -> dict:
    """Figures for the scheduled starts in [start, end) seconds since the run's start, overall and per operation."""
    _AGGREGATE.flush()
    ops: dict = {}
    for (sec, name), row in tallies.items():
        if start <= sec < end:
            mine = ops.setdefault(name, [0, 0, 0, 0, 0, 0.0, {}, {}])
            for i in range(6):
                mine[i] += row[i]
            for i in (6, 7):
                for bucket, n in row[i].items():
                    mine[i][bucket] = mine[i].get(bucket, 0) + n

    def summary(row, seconds):
        return {"starts": row[0], "requests": row[1], "failures": row[2], "late": row[3], "skipped": row[4],
                "service_ms": row[5] / row[1] if row[1] else 0.0, "p50": percentile(row[6], 0.5),
                "p99": percentile(row[6], 0.99), "lag_p99": percentile(row[7], 0.99),
                "fail_ratio": row[2] / row[1] if row[1] else 0.0,
                "goodput": (row[1] - row[3]) / seconds if seconds > 0 else 0.0, "sched_counts": row[6]}

    total = [0, 0, 0, 0, 0, 0.0, {}, {}]
    for row in ops.values():
        for i in range(6):
            total[i] += row[i]
        for i in (6, 7):
            for bucket, n in row[i].items():
                total[i][bucket] = total[i].get(bucket, 0) + n
    seconds = end - start
    return {**summary(total, seconds), "ops": {name: summary(row, seconds) for name, row in sorted(ops.items())}}


_log = None


def _open_log(opts) -> None:
    global _log
    if _log is not None:
        _log.close()
        _log = None
    path = getattr(opts, "request_log", None)
    if path:
        _log = open(f"{path}.{os.getpid()}", "a", buffering=1 << 16)


def _set_plan(new: Plan | None) -> None:
    global plan
    plan = new


def set_rate(rate: Rate, drop_backlog: bool = False) -> None:
    """Master or local: a new rate from now on (--find-max-rps); the workers hear it within 0.1 s.

    ``drop_backlog``: the arrivals due by now that no user has started yet are
    not sent. A step that overloaded the database leaves thousands of them; sent
    late, they would make the next step's latency from the schedule the old
    step's, and every step of the bisection that follows would fail.
    """
    global _version
    if plan is not None:
        if drop_backlog:
            plan.fresh_from = rate.arrivals(perf_counter() - plan.t0)
        plan.rate = rate
        _version += 1


_version = 0


def _on_pace(msg, **_kwargs):
    data = msg.data
    current = Plan.from_wire(data["plan"], int(data["index"]), int(data["processes"]))
    _set_plan(current)


def _send(environment, workers) -> None:
    runner = environment.runner
    plan.users = runner.target_user_count or 0
    ids = sorted(c.id for c in workers)
    for i, client_id in enumerate(ids):
        runner.send_message(_MESSAGE, {"plan": plan.wire(), "index": i, "processes": len(ids)}, client_id)


def _tell_workers(environment):
    """Send the plan (with the run's user count) whenever it, the user count or the set of workers changes."""
    runner = environment.runner
    sent = None
    while True:
        workers = runner.clients.ready + runner.clients.spawning + runner.clients.running
        state = (runner.target_user_count, tuple(sorted(c.id for c in workers)), _version)
        if plan is not None and state != sent:
            _send(environment, workers)
            sent = state
        gevent.sleep(0.1)


_teller = None


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global _teller, _version
    opts = environment.parsed_options
    _open_log(opts)
    _local.clear()
    if is_worker(environment):
        return
    tallies.clear()
    try:
        _set_plan(build_plan(opts, time.time()))
    except (ValueError, OSError):
        _set_plan(None)  # refused at init on the command line; a bad web form value means no rate
    _version += 1
    if is_master(environment) and plan is not None:
        runner = environment.runner
        _send(environment, runner.clients.ready + runner.clients.spawning + runner.clients.running)
        if _teller is None:
            _teller = gevent.spawn(_tell_workers, environment)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    if _log is not None:
        _log.flush()


@events.quit.add_listener
def _on_quit(**_kwargs):
    if _log is not None:
        _log.close()


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    if is_worker(environment):
        runner.register_message(_MESSAGE, _on_pace)


def rate_lines(environment) -> list[str]:
    """Target against achieved rate, and the shortfall when the target was missed."""
    target = number(getattr(environment.parsed_options, "target_rps", None))
    stats = environment.runner.stats
    lags = [e for (name, method), e in stats.entries.items() if method == PACE_TYPE and name.endswith(LAG_SUFFIX)]
    if not target or not lags:
        return []
    started = sum(e.num_requests for e in lags)
    end = max(e.last_request_timestamp or 0 for e in lags)
    seconds = max(1e-9, end - stats.total.start_time)
    achieved = started / seconds
    lag_p99 = max(e.get_response_time_percentile(0.99) for e in lags)
    lines = [
        "Arrival rate",
        f"  target: {target:g}/s   achieved: {achieved:.2f}/s over {seconds:.1f}s ({100.0 * achieved / target:.1f} %)",
        f"  schedule lag p99: {lag_p99:g} ms",
    ]
    if achieved < target * (1 - TOLERANCE):
        lines.append(
            f"  shortfall: {target - achieved:.2f}/s ({100.0 * (1 - achieved / target):.1f} % below --target-rps):"
            " the users could not keep up (add users, or the database is at capacity)"
        )
    return lines


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if master_or_local(environment):
        print_block(rate_lines(environment))
