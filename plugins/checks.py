"""Pass/fail thresholds for a run, so CI can gate on a load test.

Evaluated on the master (or local runner) when Locust quits, over the whole
run: ``--check-fail-ratio`` (failures / requests), ``--check-p99-ms``
(the 99th percentile overall, or per operation as ``NAME=ms``), and
``--check-min-rps``. One line per check; the exit code is 3 when any check
fails (the convention of locust-plugins' checks). The ``schedule`` rows of
``--target-rps`` are left out of the overall figures (they repeat the
requests) but can be named: ``--check-p99-ms "oltp_read_write (from schedule)=500"``.
"""

from __future__ import annotations


from locust import events
from locust.stats import StatsEntry

from .arrival import PACE_TYPE
from .options import number, option_group
from .roles import master_or_local, print_block, refuse

EXIT_CHECK_FAILED = 3
OVERALL = ""


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm checks", "Thresholds checked at the end; exit code 3 when one fails")
    add("check-fail-ratio", type=float, default=None, help="Most failures per request allowed, 0..1 (e.g. 0.01)")
    add("check-p99-ms", default=None,
        help="Highest p99 allowed in ms: overall (500) and/or per operation (oltp_read_write=50,point_selects=5)")
    add("check-min-rps", type=float, default=None, help="Least requests per second over the run (overall)")


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


def validate(opts) -> list[str]:
    problems = []
    ratio = number(getattr(opts, "check_fail_ratio", None))
    if ratio is not None and not 0 <= ratio <= 1:
        problems.append(f"--check-fail-ratio {ratio:g}: must be between 0 and 1")
    rps = number(getattr(opts, "check_min_rps", None))
    if rps is not None and rps < 0:
        problems.append(f"--check-min-rps {rps:g}: must not be negative")
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
    ratio = number(opts.check_fail_ratio)
    if ratio is not None:
        actual = overall.fail_ratio
        results.append((actual <= ratio, f"fail ratio {actual:.4f} (limit {ratio:g})"))
    for name, limit in parse_p99(opts.check_p99_ms).items():
        entry = overall if name == OVERALL else _named(stats, name)
        label = "p99" if name == OVERALL else f"p99 of {name}"
        if entry is None or not entry.num_requests:
            results.append((False, f"{label}: no requests named '{name}' (limit {limit:g} ms)"))
            continue
        p99 = entry.get_response_time_percentile(0.99)
        results.append((p99 <= limit, f"{label} {p99:g} ms (limit {limit:g} ms)"))
    least = number(opts.check_min_rps)
    if least is not None:
        seconds = (overall.last_request_timestamp or 0) - stats.total.start_time
        rps = overall.num_requests / seconds if seconds > 0 else 0.0
        results.append((rps >= least, f"rps {rps:.2f} (minimum {least:g})"))
    return results


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    if not master_or_local(environment):
        return
    refuse(validate(environment.parsed_options))


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if not master_or_local(environment):
        return
    results = evaluate(environment)
    if not results:
        return
    lines = [f"check {'PASS' if ok else 'FAIL'}: {text}" for ok, text in results]
    print_block(lines)
    if not all(ok for ok, _ in results):
        environment.process_exit_code = EXIT_CHECK_FAILED
