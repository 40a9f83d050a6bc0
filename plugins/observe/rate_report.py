"""End-of-run lines for rate stages and --find-max-rps, with the database's figures at each step,
and the web UI's "Load control" tab.

The figures come from ``run/arrival.py`` (merged tallies) and
``run/rate_control.py`` (stages, steps, verdict); the database's side of
each step is the mean of the observer's samples taken during it
(connections, threads running, and whatever else the engine's probe gives,
e.g. ACU from CloudWatch when it samples them). A headless run prints them as
Locust quits; a run started from the web UI prints them when it stops (one
process serves many runs; ``run/drain.py`` has brought the workers' last reports
in by then), once per run either way. The tab shows them live: the warm-up,
each stage's target against its achieved rate, each search step and the
verdict; after the stop, the figures up to the stop.
"""

from __future__ import annotations

import time

from locust import events

from ..options import number
from ..run import arrival, rate_control, warmup
from ..run.roles import master_or_local, print_block
from . import db_observer, web_db_tab

TAB = "load-control"

DB_FIELDS = ("connections", "threads_running", "acu", "cpu")


def db_figures(start: float, end: float) -> dict:
    """Means of the observer's numeric samples between two wall-clock times."""
    observer = db_observer.current
    samples = [s for s in (observer.samples if observer else []) if start <= s.get("time", 0) <= end]
    means = {}
    for field in DB_FIELDS:
        values = [s[field] for s in samples if isinstance(s.get(field), (int, float))]
        if values:
            means[field] = sum(values) / len(values)
    return means


def step_lines() -> list[str]:
    if not rate_control.steps:
        return []
    lines = ["Find max rate: steps (latency from the schedule)",
             f"  {'rate/s':>9} {'achieved/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'fail %':>7}  verdict   database"]
    for s in rate_control.steps:
        db = db_figures(s["start"], s["end"])
        where = ", ".join(f"{k} {v:.1f}" for k, v in db.items()) or "no samples"
        lines.append(f"  {s['rate']:>9,.1f} {s['achieved']:>10,.1f} {s['p50']:>8g} {s['p99']:>8g}"
                     f" {s['fail_ratio'] * 100:>7.2f}  {'ok' if s['ok'] else 'FAIL':<8}  {where}"
                     + (f"  ({s['why']})" if s["why"] else ""))
    return lines


def report(environment) -> list[str]:
    lines = rate_control.report_lines(environment) + step_lines()
    verdict = rate_control.verdict_line()
    if verdict:
        lines.append(verdict)
    return lines


_printed = [False]  # the block is printed once per test: at a web UI stop, else at quit


def _print_once(environment) -> None:
    if not _printed[0]:
        _printed[0] = True
        print_block(report(environment))


@events.test_start.add_listener
def _on_test_start(**_kwargs):
    _printed[0] = False


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if master_or_local(environment):
        _print_once(environment)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    if master_or_local(environment) and not environment.parsed_options.headless and arrival.plan is not None:
        _print_once(environment)


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def _live_rows(environment) -> list[dict]:
    opts = environment.parsed_options
    current = arrival.plan
    limit = number(getattr(opts, "latency_limit_ms", None))
    how = ["poisson" if current.poisson else "uniform"] + ([f"latency limit {limit:g} ms"] if limit else [])
    rows = [{"what": "rate", "figures": ", ".join(how)}]
    if warmup.span is not None:
        state = "running" if not warmup.warm else "ended: left out of the figures below"
        rows.append({"what": "warm-up", "figures": f"{_clock(warmup.span[0])}-{_clock(warmup.span[1])} ({state})"})
    finding = bool(getattr(opts, "find_max_rps", False))
    for r in [] if finding else rate_control.stage_rows(environment):
        what = f"stage {r['stage']}" if current.rate.stages else "whole run"
        if "achieved" not in r:
            rows.append({"what": what, "figures": f"target {r['target']:g}/s: in the warm-up or not reached"})
            continue
        rows.append({"what": what,
                     "figures": f"target {r['expected']:.1f}/s, achieved {r['achieved']:.1f}/s, p50 {r['p50']:g} ms, "
                                f"p99 {r['p99']:g} ms, lag p99 {r['lag_p99']:g} ms, late {r['late']}, "
                                f"skipped {r['skipped']}, goodput {r['goodput']:.1f}/s (from the schedule)"})
    for s in rate_control.steps:
        why = f" ({s['why']})" if s["why"] else ""
        rows.append({"what": f"step {s['rate']:,.1f}/s",
                     "figures": f"{'ok' if s['ok'] else 'FAIL'}: achieved {s['achieved']:,.1f}/s, p50 {s['p50']:g} ms, "
                                f"p99 {s['p99']:g} ms, fail {s['fail_ratio'] * 100:.2f}%{why}"})
    if finding:
        rows.append({"what": "verdict", "figures": rate_control.verdict_line() or "searching"})
    return rows


def tab_rows(environment) -> list[dict]:
    """The tab: live while a test with a rate runs, and up to its stop after it (stage_rows ends there)."""
    if arrival.plan is not None:
        return _live_rows(environment)
    return [{"what": "rate", "figures": "no rate in this run (Target RPS, Rate stages, Rate CSV or Find max RPS in "
                                        "the start form)"}]


web_db_tab.extra_tabs.append(("Load control", TAB, [("what", "Load control"), ("figures", "Figures")], tab_rows))
