"""Fixed arrival rate (--target-rps): an open loop, without coordinated omission.

A Locust user is a closed loop: when the database stalls it sends less and
the stall hides in a lower rate. With ``--target-rps R`` every task start is
scheduled instead: each of the N users of the whole run starts a task every
N / R seconds (N re-read before every task, so shapes, spawning and workers
joining or leaving re-divide the rate). A user that falls behind runs its
overdue tasks back to back, so the rate recovers after a stall.

As pgbench ``--rate`` does, every paced task is reported twice more, under
the request type ``schedule``: ``<name> (from schedule)`` is the latency
from the scheduled start to the end (what a client arriving on time would
see, stall included), ``<name> (schedule lag)`` the delay between the
scheduled and the actual start. At the end the master prints the achieved
rate and the shortfall when the users could not keep up.
"""

from __future__ import annotations

import random
from time import perf_counter

import gevent
from gevent import getcurrent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from .options import number, option_group
from .roles import master_or_local, print_block, refuse
from .session import STATEMENT_CONTEXT

PACE_TYPE = "schedule"
LAG_SUFFIX = " (schedule lag)"
FROM_SCHEDULE_SUFFIX = " (from schedule)"
TOLERANCE = 0.02  # below this shortfall the target counts as met
_MESSAGE = "dbswarm_pace"
_PACED_CONTEXT: dict = {"paced": True}

_pacers: dict = {}  # user greenlet -> Pacer
_total_users = 0  # users of the whole run, sent by the master to workers


class Pacer:
    """The schedule of one user's task starts."""

    __slots__ = ("runner", "rate", "scheduled", "first", "greenlet")

    def __init__(self, runner, rate: float):
        self.runner = runner
        self.rate = rate
        self.scheduled = 0.0
        self.first = True
        self.greenlet = None

    def interval(self) -> float:
        users = _total_users or self.runner.target_user_count or self.runner.user_count or 1
        return users / self.rate

    def start(self) -> None:
        """Register the current (user) greenlet; wait for a random phase so users do not start in step."""
        self.greenlet = getcurrent()
        if not _pacers:  # listen only while some user is paced: without --target-rps no query pays for it
            self.runner.environment.events.request.add_listener(_on_request)
        _pacers[self.greenlet] = self
        self.scheduled = perf_counter() + random.uniform(0.0, self.interval())
        self.first = True
        gevent.sleep(max(0.0, self.scheduled - perf_counter()))

    def wait_time(self) -> float:
        """Seconds until the next scheduled start (0 when behind: catch up)."""
        self.scheduled += self.interval()
        self.first = True
        return max(0.0, self.scheduled - perf_counter())

    def stop(self) -> None:
        if _pacers.pop(self.greenlet, None) is not None and not _pacers:
            self.runner.environment.events.request.remove_listener(_on_request)


def pacer_for(user) -> Pacer | None:
    """A Pacer when --target-rps is set (read at user start: workers get options with the spawn message)."""
    rate = number(getattr(user.environment.parsed_options, "target_rps", None))
    return Pacer(user.environment.runner, rate) if rate else None


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm arrival rate")
    add("target-rps", type=float, default=None,
        help="Start tasks at this total rate per second (open loop, latency measured from the scheduled start)")


def validate(opts) -> list[str]:
    rate = number(getattr(opts, "target_rps", None))
    if rate is not None and not rate > 0:
        return [f"--target-rps {rate:g}: must be greater than 0"]
    return []


def _on_request(request_type, name, response_time, response_length, exception, context=None, **_kwargs):
    if context is STATEMENT_CONTEXT or context is _PACED_CONTEXT:
        return
    pacer = _pacers.get(getcurrent())
    if pacer is None or name.startswith("connect"):
        return
    now = perf_counter()
    fire = pacer.runner.environment.events.request.fire
    if pacer.first:
        pacer.first = False
        lag = max(0.0, now - response_time / 1000.0 - pacer.scheduled)
        fire(request_type=PACE_TYPE, name=name + LAG_SUFFIX, response_time=lag * 1000.0,
             response_length=0, exception=None, context=_PACED_CONTEXT)
    fire(request_type=PACE_TYPE, name=name + FROM_SCHEDULE_SUFFIX,
         response_time=max(0.0, now - pacer.scheduled) * 1000.0,
         response_length=response_length, exception=exception, context=_PACED_CONTEXT)


def _on_pace(msg, **_kwargs):
    global _total_users
    _total_users = int(msg.data["users"])


def _tell_workers(environment):
    """Send the run's total user count to the workers whenever it or the set of workers changes."""
    runner = environment.runner
    sent = None
    while True:
        gevent.sleep(0.1)
        workers = runner.clients.ready + runner.clients.spawning + runner.clients.running
        state = (runner.target_user_count, tuple(sorted(c.id for c in workers)))
        if state != sent and number(environment.parsed_options.target_rps):
            for client in workers:
                runner.send_message(_MESSAGE, {"users": runner.target_user_count}, client.id)
            sent = state


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    if isinstance(runner, WorkerRunner):
        runner.register_message(_MESSAGE, _on_pace)
    elif isinstance(runner, MasterRunner):
        gevent.spawn(_tell_workers, environment)
    if master_or_local(environment):
        refuse(validate(environment.parsed_options))


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
