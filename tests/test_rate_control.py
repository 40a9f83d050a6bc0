"""Rate stages, Poisson arrivals, warm-up, latency limit and --find-max-rps, on the real servers.

Each run is short (stages of a few seconds, 50-200/s) so the shared 2-core
machine can meet the rates; the figures the issue asks for (2 % per stage,
CV 1 +- 0.05, find-max-rps against a sweep) are `make bench` measures.
The per-request log (``--request-log``) is the independent record the
counts are checked against.
"""

from __future__ import annotations

import re

import pytest

from plugins.run.rate_plan import MaxRateSearch, parse_duration, parse_slo, parse_stages, read_rate_csv
from conftest import why
from request_log import after_warmup, cv, merged_starts

# Rates and outage windows within tight bounds: `make test` runs these alone, after the rest.
pytestmark = pytest.mark.serial

LOCUSTFILE = "tests/locustfiles/point_selects.py"


# --- the plan, without Locust ---------------------------------------------------------------

def test_stages_ramp_linearly_and_invert_exactly():
    rate = parse_stages("10s:100,20s:100,5s:0")
    assert rate.duration == 35
    assert rate.rate_at(5) == 50 and rate.rate_at(20) == 100 and rate.rate_at(32.5) == 50
    assert rate.arrivals(10) == pytest.approx(500) and rate.arrivals(30) == pytest.approx(2500)
    for n in (0.5, 17, 500, 1234.5, 2600, 2749):
        assert rate.arrivals(rate.time_of(n)) == pytest.approx(n)
    assert rate.time_of(2751) is None  # rate 0 for good after the last stage


def test_rate_csv(tmp_path):
    path = tmp_path / "rate.csv"
    path.write_text("seconds,rate\n0,10\n10,30\n")
    rate = read_rate_csv(str(path))
    assert rate.rate_at(5) == 20 and rate.arrivals(10) == pytest.approx(200)
    path.write_text("seconds,rate\n0,10\n5,x\n")
    with pytest.raises(ValueError, match="line 3"):
        read_rate_csv(str(path))


@pytest.mark.parametrize("text", ["", "30s", "30s:abc", "0s:10", "-5s:10", "30x:10", "10s:-1"])
def test_bad_stages(text):
    with pytest.raises(ValueError):
        parse_stages(text)


def test_slo_and_durations():
    assert parse_slo("p99=50ms,fail=0.1%") == {"p99": 50.0, "fail": pytest.approx(0.001)}
    assert parse_slo("p50=0.5s") == {"p50": 500.0}
    for bad in ("p99", "p100=5", "fail=150%", "lat=5ms", "p99=-1"):
        with pytest.raises(ValueError):
            parse_slo(bad)
    assert parse_duration("2m") == 120 and parse_duration("500ms") == 0.5


def test_search_rises_then_bisects():
    search = MaxRateSearch(10, 2, None, 0.1)
    tried = []
    while (rate := search.next_rate()) is not None:
        tried.append(rate)
        search.record(rate, rate <= 70)  # the "database" holds 70/s
    assert tried[:4] == [10, 20, 40, 80]
    assert 40 <= search.good <= 70 < search.bad and (search.bad - search.good) <= 0.1 * search.good
    first_fails = MaxRateSearch(10, 2, None, 0.1)
    first_fails.record(10, False)
    assert first_fails.next_rate() is None and first_fails.good is None


_LOG_PROBE = """
import sys, time
from time import perf_counter
from types import SimpleNamespace
from gevent import getcurrent
from plugins.run import arrival
from plugins.run.rate_plan import Rate

# The listener's own work (the two schedule events) takes 5 ms here: the log must not time the end after it.
slow = SimpleNamespace(fire=lambda **kw: time.sleep(0.0025))
runner = SimpleNamespace(environment=SimpleNamespace(events=SimpleNamespace(request=slow)))
arrival.plan = arrival.Plan(Rate.constant(100.0), time.time(), limit_s=0.003)
arrival._log = open(sys.argv[1], "w")
pacer = arrival.Pacer(runner)
arrival._pacers[getcurrent()] = pacer
for behind_ms in (0.5, 1.0, 2.0, 2.9, 3.1, 4.0):
    pacer.first, pacer.scheduled = True, perf_counter() - behind_ms / 1000.0
    arrival._on_request("MySQL", "q", 0.1, 0, None)
arrival._log.close()
"""


def _ns(text):
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0"))


def test_request_log_times_the_late_decision(tmp_path):
    """The log's end is the instant judged late or not, to the ns: a recount from its timestamps is exact."""
    import subprocess
    import sys

    from conftest import REPO

    path = tmp_path / "req"
    proc = subprocess.run([sys.executable, "-c", _LOG_PROBE, str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line.split() for line in path.read_text().splitlines()]
    assert len(lines) == 6 and all(f[0] == "R" for f in lines)
    flags = [f[3] for f in lines]
    assert flags[0] == "0" and flags[-1] == "1", flags  # 0.5 ms behind is on time, 4 ms behind is late
    assert [str(int(_ns(f[1]) - _ns(f[2]) > 3_000_000)) for f in lines] == flags


# --- the user's door ------------------------------------------------------------------------

def _base(engine, db, *more):
    return ("-f", LOCUSTFILE, "--headless", "-r", "100", "--db-engine", engine, "--db-name", db, "--db-init", *more)


def _stage_rows(stdout):
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+", line)
        if m and "%" in line:
            rows[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return rows


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_stages_are_met_and_uniform_starts_are_evenly_spaced(locust, engine, mysql_db, pg_db, tmp_path):
    db = mysql_db if engine == "mysql" else pg_db
    log = tmp_path / "req"
    run = locust(*_base(engine, db, "-u", "6", "--rate-stages", "2s:60,3s:60,3s:120", "--request-log", str(log)),
                 timeout=90)
    assert run.returncode == 0, why(run.output)
    rows = _stage_rows(run.stdout)
    assert sorted(rows) == [1, 2, 3], run.stdout[-2000:]
    for stage in (2, 3):  # stage 1 ramps from 0 while the users start
        target, achieved = rows[stage]
        assert abs(achieved - target) <= 0.1 * target, rows
    # Evenly spaced: the steady middle of stage 2 (60/s), starts merged from every user.
    starts = [float(f[2]) for p in after_warmup(log) for f in p if f[0] == "R" and f[5] == "1"]
    t0 = min(starts)
    middle = [t for t in starts if t0 + 2.5 <= t < t0 + 4.5]
    assert len(middle) > 80 and cv(middle) < 0.2, cv(middle)
    # The run ended after the last stage on its own (no -t).
    assert run.count("point_select") > 400


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_poisson_warmup_and_latency_limit_distributed(locust, engine, mysql_db, pg_db, tmp_path):
    log = tmp_path / "req"
    db = mysql_db if engine == "mysql" else pg_db
    # The rate ramps during the warm-up, then holds: a Poisson stream's gaps have a CV of 1 only at a steady rate
    # (over a ramp the gaps shrink as the rate rises, and their CV is above 1: CI saw 1.22 over a 0-150/s ramp).
    run = locust(*_base(engine, db, "-u", "8", "--processes", "2", "--rate-stages", "2s:150,5s:150",
                        "--arrival", "poisson", "--warmup", "2s", "--latency-limit-ms", "3",
                        "--check-max-late-ratio", "1", "--request-log", str(log)), timeout=120)
    assert run.returncode == 0, why(run.output)
    processes = [p for p in after_warmup(log) if p]
    assert len(processes) == 2  # the two workers (the master's log is empty: it sends nothing)
    after = [f for p in processes for f in p]
    # Warm-up: Locust's counts and the µs table are exactly the requests that ended after each worker's warm-up.
    ended = [f for f in after if f[0] == "R" and f[6] == "point_select"]
    assert run.count("point_select") == len(ended) > 200
    assert run.count("point_select (from schedule)") == len(ended)
    hdr = re.search(r"^point_select\s+(\d+)\s", run.stdout, re.M)
    assert hdr and int(hdr.group(1)) == len(ended)
    # Late and skipped: the check's line against a recount from the log.
    m = re.search(r"late ratio [\d.]+ \((\d+) late, (\d+) skipped of (\d+)", run.stdout)
    assert m, run.stdout[-2000:]
    late, skipped = int(m.group(1)), int(m.group(2))
    recount_late = sum(1 for f in ended if float(f[1]) - float(f[2]) > 0.003)
    assert late == sum(1 for f in ended if f[3] == "1")
    assert abs(late - recount_late) <= 2, (late, recount_late)
    assert skipped == sum(1 for f in after if f[0] == "K")
    # Poisson: merged inter-arrival times (scheduled starts, sent or skipped) have a CV near 1, over the span
    # when both workers are past their warm-up and still sending (about 700 starts here; with 450 a true Poisson
    # stream falls outside 0.8-1.2 twice in 10,000 runs, with 650 once in 50,000; evenly spaced starts give near 0).
    starts = merged_starts(processes)
    assert len(starts) > 450 and 0.8 < cv(starts) < 1.2, (len(starts), cv(starts))


# PostgreSQL stops at 50/s: two steps (rise, limit) show the search and its verdict on the other engine.
@pytest.mark.parametrize("engine, limit", [("mysql", "200"), ("postgres", "50")])
def test_find_max_rps(locust, engine, limit, mysql_db, pg_db):
    db = mysql_db if engine == "mysql" else pg_db
    run = locust(*_base(engine, db, "--find-max-rps", "--slo", "p99=80ms,fail=1%", "--find-max-rps-start", "25",
                        "--find-max-rps-limit", limit, "--find-max-rps-step", "2s", "--find-max-rps-settle", "1s",
                        "--rate-users-max", "20", "-t", "40s"), timeout=120)
    assert run.returncode == 0, why(run.output)
    verdict = re.search(r"^max rate meeting p99<=80ms, fail<=1%: ([\d,]+)/s( \(.*\))?$", run.stdout, re.M)
    assert verdict, run.stdout[-3000:]
    found = float(verdict.group(1).replace(",", ""))
    steps = [line.split() for line in run.stdout.splitlines() if re.match(r"\s+[\d,.]+\s+[\d,.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(ok|FAIL)", line)]
    assert steps, run.stdout[-3000:]
    good = [s for s in steps if s[5] == "ok" and round(float(s[0].replace(",", ""))) == found]
    assert good, steps  # the reported rate's step met the SLO
    assert float(good[0][3]) <= 80 and float(good[0][4]) <= 1


def test_find_max_rps_drops_the_backlog_of_an_overloaded_step(locust, mysql_db):
    """One user cannot start 20,000 tasks a second: that step fails, and the steps after it start afresh.

    Sent late, its backlog (tens of thousands of starts) would put every later
    step's latency from the schedule in seconds, and the search would end at
    the first step's rate.
    """
    run = locust(*_base("mysql", mysql_db, "-u", "1", "--find-max-rps", "--slo", "p99=100ms",
                        "--find-max-rps-start", "50", "--find-max-rps-factor", "400", "--find-max-rps-limit", "20000",
                        "--find-max-rps-step", "2s", "--find-max-rps-settle", "1s", "--rate-users", "1", "-t", "24s"),
                 timeout=90)
    assert run.returncode == 0, why(run.output)
    verdict = re.search(r"^max rate meeting p99<=100ms: ([\d,]+)/s", run.stdout, re.M)
    assert verdict, run.stdout[-3000:]
    steps = [line.split() for line in run.stdout.splitlines()
             if re.match(r"\s+[\d,.]+\s+[\d,.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(ok|FAIL)", line)]
    rates = [float(s[0].replace(",", "")) for s in steps]
    assert rates[:2] == [50, 20000] and steps[1][5] == "FAIL", steps
    # A step after the overloaded one met the SLO: it was judged on its own starts.
    assert any(s[5] == "ok" for s in steps[2:]), steps
    assert float(verdict.group(1).replace(",", "")) > 50


def test_find_max_rps_when_the_first_step_fails(locust, mysql_db):
    run = locust(*_base("mysql", mysql_db, "--find-max-rps", "--slo", "p99=0.001ms", "--find-max-rps-start", "20",
                        "--find-max-rps-step", "1s", "--find-max-rps-settle", "0s", "-t", "20s"), timeout=90)
    assert run.returncode == 3, why(run.output)
    assert re.search(r"^max rate meeting p99<=0.001ms: none \(the first step, 20/s, broke it", run.stdout, re.M)


@pytest.mark.parametrize("args, message", [
    (("--rate-stages", "30s:abc"), "--rate-stages 30s:abc: stage '30s:abc'"),
    (("--rate-csv", "/nonexistent/rate.csv"), "--rate-csv /nonexistent/rate.csv: No such file"),
    (("--latency-limit-ms", "5"), "--latency-limit-ms: needs a rate"),
    (("--find-max-rps", "--slo", "p99=5ms", "--shape", "ramp"), "--find-max-rps with --shape ramp"),
    (("--find-max-rps",), "--find-max-rps: needs --slo"),
    (("--target-rps", "10", "--rate-stages", "5s:10"), "--target-rps and --rate-stages"),
    (("--warmup", "soon"), "--warmup: 'soon' is not a duration"),
])
def test_bad_input_is_refused_before_load(locust, mysql_db, args, message):
    run = locust("-f", LOCUSTFILE, "--headless", "-u", "1", "-t", "5s", "--db-engine", "mysql",
                 "--db-name", mysql_db, *args, timeout=60)
    assert run.returncode == 2, why(run.output)
    lines = [line for line in run.stderr.splitlines() if line.startswith("dbswarm: ")]
    assert len(lines) == 1 and message in lines[0], run.stderr[-2000:]
    assert run.requests() == 0
