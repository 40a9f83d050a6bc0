"""Pass/fail thresholds for a run, so CI can gate on a load test.

Evaluated on the master (or local runner) when Locust quits, over the whole
run: ``--check-fail-ratio`` (failures / requests), ``--check-rps`` and
``--check-min-rps`` (requests per second), ``--check-avg-response-time`` (ms),
``--check-p99-ms`` (the 99th percentile overall, or per operation as
``NAME=ms``), ``--check-max-outage-s`` (the longest window in which the
application could not write, see ``outages``), ``--check-max-late-ratio`` (with
``--latency-limit-ms``: late and skipped tasks over all that were due). One line per check; the exit code is 3 when any check fails.
The ``schedule`` rows of ``--target-rps`` are left out of the overall figures
(they repeat the requests) but can be named:
``--check-p99-ms "oltp_read_write (from schedule)=500"``.

Three of these are locust-plugins' own (``SHARED``), which Locust imports by
itself whenever it is installed. dbswarm registers them only when locust-plugins
has not (same names, types, environment variables and meaning, so a command line
means the same with or without it) and then checks them itself: locust-plugins
logs only failures, and counts the schedule rows, so left to both a run would
print two verdicts per check that may disagree. At init the master takes their
values over and clears them in the parsed options, where locust-plugins'
``quitting`` handler finds nothing left to check.
"""

from __future__ import annotations

import argparse

from locust import events
from locust.stats import StatsEntry

from . import arrival, outages
from .arrival import PACE_TYPE
from ..options import number, option_group, validator
from .roles import master_or_local, print_block

EXIT_CHECK_FAILED = 3
OVERALL = ""

# locust-plugins 5.0.3's checks: (flag, its environment variable, help). In the web form, typed
# and checked like every dbswarm option, unless locust-plugins registered them first.
SHARED = (
    ("check-fail-ratio", "LOCUST_CHECK_FAIL_RATIO",
     "Most failures per request allowed, 0..1 (e.g. 0.01); failures within it do not make the exit code 1"),
    ("check-rps", "LOCUST_CHECK_RPS", "Least requests per second over the run (overall), as --check-min-rps"),
    ("check-avg-response-time", "LOCUST_CHECK_AVG_RESPONSE_TIME", "Highest average response time allowed, ms (overall)"),
)
_DESTS = tuple(flag.replace("-", "_") for flag, _env, _help in SHARED)
_taken: dict[str, float | None] = {}  # locust-plugins' shared limits, held here from init on (module docstring)
_ours: set[str] = set()  # the shared checks dbswarm registered itself (locust-plugins is not installed)


def _add_shared(add) -> None:
    for flag, env, text in SHARED:
        try:
            add(flag, type=float, default=None, env=env, help=text)
        except argparse.ArgumentError:
            continue  # locust-plugins registered it first (Locust imports it before any locustfile)
        _ours.add(flag.replace("-", "_"))


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm checks", "Thresholds checked at the end; exit code 3 when one fails")
    _add_shared(option_group(
        parser, "dbswarm checks shared with locust-plugins", "The same options as locust-plugins' (LOCUST_CHECK_* variables)"))
    add("check-p99-ms", default=None,
        help="Highest p99 allowed in ms: overall (500) and/or per operation (oltp_read_write=50,point_selects=5)")
    add("check-min-rps", type=float, default=None, help="Least requests per second over the run (overall)")
    add("check-max-outage-s", type=float, default=None,
        help="Longest outage window allowed on the writer, seconds (from the first failed write to the first success)")
    add("check-max-late-ratio", type=float, default=None,
        help="With --latency-limit-ms: most (late + skipped) / (sent + skipped) allowed, 0..1")


def parse_p99(text: str | None) -> dict[str, float]:
    """``"500,name=50"`` -> {"": 500.0, "name": 50.0}; raises ValueError naming the bad part."""
    limits: dict[str, float] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.rpartition("=")
        try:
            ms = float(value)
        except ValueError:
            raise ValueError(f"'{part}' is not ms or NAME=ms") from None
        if ms <= 0 or (sep and not name.strip()):
            raise ValueError(f"'{part}' is not ms or NAME=ms")
        limits[name.strip()] = ms
    return limits


def shared_limit(opts, dest: str) -> float | None:
    """A shared check's limit: taken over at init on the master, else as parsed."""
    return _taken[dest] if dest in _taken else number(getattr(opts, dest, None))


def take_over_shared(opts) -> None:
    """Hold locust-plugins' shared limits here and clear them in ``opts``, so only dbswarm reports them.

    The ones dbswarm registered itself stay in ``opts``: typed, checked and editable in the web form.
    """
    for dest in _DESTS:
        if dest in _ours:
            continue
        if dest not in _taken:
            _taken[dest] = number(getattr(opts, dest, None))
        if hasattr(opts, dest):
            setattr(opts, dest, None)


@validator
def validate(opts) -> list[str]:
    problems = []
    ratio = shared_limit(opts, "check_fail_ratio")
    if ratio is not None and not 0 <= ratio <= 1:
        problems.append(f"--check-fail-ratio {ratio:g}: must be between 0 and 1")
    for flag, value in (("--check-min-rps", number(getattr(opts, "check_min_rps", None))),
                        ("--check-rps", shared_limit(opts, "check_rps")),
                        ("--check-avg-response-time", shared_limit(opts, "check_avg_response_time"))):
        if value is not None and value < 0:
            problems.append(f"{flag} {value:g}: must not be negative")
    outage = number(getattr(opts, "check_max_outage_s", None))
    if outage is not None and not outage >= 0:
        problems.append(f"--check-max-outage-s {outage:g}: must not be negative")
    late = number(getattr(opts, "check_max_late_ratio", None))
    if late is not None and not 0 <= late <= 1:
        problems.append(f"--check-max-late-ratio {late:g}: must be between 0 and 1")
    if late is not None and not number(getattr(opts, "latency_limit_ms", None)):
        problems.append("--check-max-late-ratio: needs --latency-limit-ms (and a rate)")
    try:
        parse_p99(getattr(opts, "check_p99_ms", None))
    except ValueError as exc:
        problems.append(f"--check-p99-ms: {exc}")
    return problems


def _overall(stats) -> StatsEntry:
    total = StatsEntry(stats, "Aggregated", "")
    for (_name, method), entry in stats.entries.items():
        if method != PACE_TYPE:
            total.extend(entry)
    return total


def _named(stats, name: str) -> StatsEntry | None:
    found = [e for (n, _m), e in stats.entries.items() if n == name]
    if not found:
        return None
    total = StatsEntry(stats, name, "")
    for entry in found:
        total.extend(entry)
    return total


def evaluate(environment) -> list[tuple[bool, str]]:
    """(passed, line) per configured check."""
    opts = environment.parsed_options
    stats = environment.runner.stats
    overall = _overall(stats)
    results = []
    ratio = shared_limit(opts, "check_fail_ratio")
    if ratio is not None:
        actual = overall.fail_ratio
        results.append((actual <= ratio, f"fail ratio {actual:.4f} (limit {ratio:g})"))
    avg_limit = shared_limit(opts, "check_avg_response_time")
    if avg_limit is not None:
        avg = overall.avg_response_time
        results.append((avg <= avg_limit, f"average response time {avg:.1f} ms (limit {avg_limit:g} ms)"))
    for name, limit in parse_p99(opts.check_p99_ms).items():
        entry = overall if name == OVERALL else _named(stats, name)
        label = "p99" if name == OVERALL else f"p99 of {name}"
        if entry is None or not entry.num_requests:
            results.append((False, f"{label}: no requests named '{name}' (limit {limit:g} ms)"))
            continue
        p99 = entry.get_response_time_percentile(0.99)
        results.append((p99 <= limit, f"{label} {p99:g} ms (limit {limit:g} ms)"))
    most_late = number(getattr(opts, "check_max_late_ratio", None))
    if most_late is not None:
        run = arrival.window(float("-inf"), float("inf"))
        due = run["requests"] + run["skipped"]
        actual = (run["late"] + run["skipped"]) / due if due else 0.0
        results.append((actual <= most_late, f"late ratio {actual:.4f} ({run['late']} late, {run['skipped']} skipped"
                                             f" of {due}; limit {most_late:g})"))
    seconds = (overall.last_request_timestamp or 0) - stats.total.start_time
    rps = overall.num_requests / seconds if seconds > 0 else 0.0
    for least, source in ((number(opts.check_min_rps), ""), (shared_limit(opts, "check_rps"), ", --check-rps")):
        if least is not None:
            results.append((rps >= least, f"rps {rps:.2f} (minimum {least:g}{source})"))
    most = number(getattr(opts, "check_max_outage_s", None))
    if most is not None:
        worst = outages.longest("writer")
        results.append((worst <= most, f"longest writer outage {worst:.2f} s (limit {most:g} s)"))
    return results


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    if not master_or_local(environment):
        return
    take_over_shared(environment.parsed_options)


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if not master_or_local(environment):
        return
    results = evaluate(environment)
    if not results:
        return
    if shared_limit(environment.parsed_options, "check_fail_ratio") is not None:
        # locust-plugins' meaning: failures within the ratio are allowed (no exit code 1 for them).
        environment.parsed_options.exit_code_on_error = 0
    lines = [f"check {'PASS' if ok else 'FAIL'}: {text}" for ok, text in results]
    print_block(lines)
    if not all(ok for ok, _ in results):
        environment.process_exit_code = EXIT_CHECK_FAILED
