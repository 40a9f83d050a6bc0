"""Load shapes from the seeds, chosen with ``--shape NAME`` or in the web UI.

- ``ramp``  the lab's ramp: +10 users every 15 s up to 70, then hold until stopped;
- ``steps`` the scaling article's method: +N users every T s up to a maximum,
  each step held T s, then the run ends;
- ``spike`` a flash sale: idle, jump to N users within seconds, hold, drop to
  zero, idle again (to watch the database scale up and back down);
- ``csv``   a profile from a CSV file of ``seconds,users,spawn_rate`` rows
  (each row runs until ``seconds`` after the start).

Locust would pick the first shape class it finds in a locustfile and apply
it to every run, so the shapes live here, not in locustfiles: ``--shape``
sets ``environment.shape_class`` on the master at init, and all of them are
offered in the web UI's shape picker (``--class-picker``). Parameters are
read when the shape ticks, so values changed in the web UI apply.
"""

from __future__ import annotations

import csv
import math

from locust import LoadTestShape, events

from ..options import number, option_group, validator
from .roles import master_or_local


class _OptionShape(LoadTestShape):
    abstract = True

    @property
    def opts(self):
        return self.runner.environment.parsed_options


def _step_users(opts, t: float) -> int:
    step = math.floor(t / opts.step_seconds) + 1
    return min(opts.step_max_users, step * opts.step_users)


class LabRamp(_OptionShape):
    """+--step-users every --step-seconds up to --step-max-users, then hold (--step-hold-seconds, 0: until stopped)."""

    def tick(self):
        o, t = self.opts, self.get_run_time()
        reach = math.ceil(o.step_max_users / o.step_users) * o.step_seconds
        if o.step_hold_seconds and t >= reach - o.step_seconds + o.step_hold_seconds:
            return None
        return _step_users(o, t), number(o.step_spawn_rate) or o.step_users


class Steps(_OptionShape):
    """+--step-users every --step-seconds up to --step-max-users, each step held --step-seconds, then stop."""

    def tick(self):
        o, t = self.opts, self.get_run_time()
        if t >= math.ceil(o.step_max_users / o.step_users) * o.step_seconds:
            return None
        return _step_users(o, t), number(o.step_spawn_rate) or o.step_users


class Spike(_OptionShape):
    """Idle, --spike-users within --spike-rise-seconds, hold, back to 0, idle, stop."""

    def tick(self):
        o, t = self.opts, self.get_run_time()
        rate = o.spike_users / max(o.spike_rise_seconds, 0.001)
        if t < o.spike_idle_seconds:
            return 0, rate
        if t < o.spike_idle_seconds + o.spike_hold_seconds:
            return o.spike_users, rate
        if t < 2 * o.spike_idle_seconds + o.spike_hold_seconds:
            return 0, rate
        return None


def read_profile(path: str) -> list[tuple[float, int, float]]:
    """Rows (end second, users, spawn rate); a header line is skipped. Raises ValueError with the line."""
    rows = []
    with open(path, newline="") as f:
        for line_no, fields in enumerate(csv.reader(f), 1):
            if not fields or fields[0].strip().startswith("#"):
                continue
            try:
                seconds, users, rate = float(fields[0]), int(fields[1]), float(fields[2])
            except (ValueError, IndexError):
                if line_no == 1:
                    continue  # header
                raise ValueError(f"line {line_no}: expected seconds,users,spawn_rate") from None
            if seconds <= 0 or users < 0 or rate <= 0 or (rows and seconds <= rows[-1][0]):
                raise ValueError(f"line {line_no}: need seconds > 0 and increasing, users >= 0, spawn rate > 0")
            rows.append((seconds, users, rate))
    if not rows:
        raise ValueError("no rows")
    return rows


class CsvProfile(_OptionShape):
    """The rows of --shape-csv, in order; the run ends after the last."""

    def __init__(self):
        super().__init__()
        self._rows = None

    def tick(self):
        if self._rows is None:
            self._rows = read_profile(self.opts.shape_csv)
        t = self.get_run_time()
        for seconds, users, rate in self._rows:
            if t < seconds:
                return users, rate
        return None


SHAPES = {"ramp": LabRamp, "steps": Steps, "spike": Spike, "csv": CsvProfile}


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm load shapes", "--shape ramp|steps|spike|csv (default: -u/-r/-t)")
    add("shape", choices=sorted(SHAPES), default=None, web=False,
        help="Load shape: ramp, steps, spike or csv (at launch; in the web UI pick it with --class-picker)")
    add("step-users", type=int, default=10, help="ramp/steps: users added per step")
    add("step-seconds", type=float, default=15.0, help="ramp/steps: seconds per step")
    add("step-max-users", type=int, default=70, help="ramp/steps: most users")
    add("step-spawn-rate", type=float, default=None, help="ramp/steps: users started per second (default: a step per second)")
    add("step-hold-seconds", type=float, default=0.0, help="ramp: seconds to hold the top before the run ends (0: until stopped)")
    add("spike-users", type=int, default=50, help="spike: users at the top")
    add("spike-idle-seconds", type=float, default=10.0, help="spike: idle seconds before and after")
    add("spike-rise-seconds", type=float, default=2.0, help="spike: seconds to reach the top (and to drop back)")
    add("spike-hold-seconds", type=float, default=30.0, help="spike: seconds at the top")
    add("shape-csv", default=None, help="csv: file of seconds,users,spawn_rate rows")


@validator
def validate(opts) -> list[str]:
    problems = []
    for flag in ("step_users", "step_seconds", "step_max_users", "spike_users", "spike_rise_seconds", "spike_hold_seconds"):
        value = getattr(opts, flag)
        if not value > 0:
            problems.append(f"--{flag.replace('_', '-')} {value:g}: must be greater than 0")
    for flag in ("step_hold_seconds", "spike_idle_seconds", "step_spawn_rate"):
        value = number(getattr(opts, flag))
        if value is not None and value < 0:
            problems.append(f"--{flag.replace('_', '-')} {value:g}: must not be negative")
    if opts.shape == "csv":
        if not opts.shape_csv:
            problems.append("--shape csv: needs --shape-csv FILE")
        else:
            try:
                read_profile(opts.shape_csv)
            except OSError as exc:
                problems.append(f"--shape-csv {opts.shape_csv}: {exc.strerror or exc}")
            except ValueError as exc:
                problems.append(f"--shape-csv {opts.shape_csv}: {exc}")
    return problems


@events.init.add_listener
def _on_init(environment, runner=None, web_ui=None, **_kwargs):
    opts = environment.parsed_options
    if not master_or_local(environment):
        return
    shapes = {cls.__name__: cls() for cls in SHAPES.values()}
    for shape in shapes.values():
        shape.runner = runner
    environment.available_shape_classes = {**(environment.available_shape_classes or {}), **shapes}
    if opts.shape:
        environment.shape_class = shapes[SHAPES[opts.shape].__name__]
    if web_ui is not None:
        web_ui.update_template_args()
