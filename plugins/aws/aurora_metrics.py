"""Aurora's capacity against the load: AWS/RDS metrics read back from CloudWatch during the run.

With ``--aurora-instance`` and/or ``--aurora-cluster`` and CloudWatch on
(``--cloudwatch`` or ``--cloudwatch-dashboard``), the master (or local
runner) reads ServerlessDatabaseCapacity, ACUUtilization, CPUUtilization,
DatabaseConnections, FreeableMemory and, with ``--aurora-reader-instance``,
AuroraReplicaLag, with one GetMetricData call every ``--aurora-interval``
from one background greenlet; it also samples the user count every second
and takes the business counts (orders) from ``counters``. When the load
ends it keeps reading for ``--observe-after`` (to see the capacity come
back down), reads the whole window once more for the points CloudWatch
ingested late, and then gives the figures (``aurora_figures``) to the
console, db_events.json, the run report (the lab's chart, ``aurora_chart``)
and the checks ``--check-max-acu`` / ``--check-scale-up-s`` (exit code 3).

Nothing here can end the run: a denied or refused GetMetricData gives one
line and the report says why the chart is missing; throttling is retried
with backoff.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import sys
import time

import gevent
from locust import events
from locust.util.timespan import parse_timespan

from ..observe import db_observer, run_report, web_db_tab
from ..options import number, option_group, validator
from ..run import checks, counters, outages
from ..run.roles import master_or_local, print_block
from . import aurora_figures, aurora_reader, cloudwatch

logger = logging.getLogger("dbswarm")

_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")
LEAD_MIN_S = 10  # read a little before the load, so the chart and the baseline have the capacity before it
TREND_POINTS = 30
CSV_FIELDS = ("acu", "acu_utilization_pct", "cpu_utilization_pct")

# Outage windows drawn on the Aurora charts: provider() -> [(start, end, label)] (epoch seconds).
# The database observer's unreachable gaps are one; a fault/outage plugin appends its own here.
outage_windows: list = []


class _Run:
    """What one test of the run recorded (reset at test start)."""

    def __init__(self):
        self.start: float | None = None
        self.stop: float | None = None
        self.users: list[tuple[float, int]] = []
        self.orders: dict[int, int] = {}  # epoch second -> orders
        self.finished = False


_reader: aurora_reader.Reader | None = None
_settings: dict = {}
_run = _Run()
_loop = None
_said: set[str] = set()


# -- options ----------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm Aurora capacity",
                       "Read AWS/RDS metrics back from CloudWatch: ACU against the load (needs --cloudwatch and "
                       "--aurora-instance or --aurora-cluster)")
    add("aurora-cluster", default=None, web=False,
        help="Cluster identifier: read the cluster's AWS/RDS metrics (DBClusterIdentifier)")
    add("aurora-reader-instance", default=None, web=False, help="Reader instance identifier: also read its AuroraReplicaLag")
    add("aurora-period", type=int, default=aurora_reader.REGULAR_RESOLUTION_S, web=False,
        help="Period of the AWS/RDS data points, seconds: 60, the finest RDS publishes (1, 5, 10, 20, 30 only for "
             "high-resolution data, e.g. a synthetic series in a local CloudWatch)")
    add("aurora-interval", type=float, default=15.0, web=False,
        help="Seconds between GetMetricData calls (one call for every metric)")
    add("observe-after", default=None,
        help="Keep reading Aurora's metrics this long after the users stop, to see the capacity scale back down "
             "(e.g. 5m; headless runs wait for it)")
    add("check-max-acu", default=None, help="Highest ServerlessDatabaseCapacity (ACU) allowed during the run")
    add("check-scale-up-s", default=None, help="ACU must rise within this many seconds of every load step")


def _text(value) -> str | None:
    text = (value or "").strip() if isinstance(value, str) else value
    return text or None


def observe_after_s(opts) -> float:
    text = _text(getattr(opts, "observe_after", None))
    return float(parse_timespan(str(text))) if text is not None else 0.0


@validator
def validate(opts) -> list[str]:
    """Problems with the Aurora options, one line each (empty when fine).

    A registered validator: it runs with every other option check, before the
    preflight connects to the database, and again on each web UI start.
    """
    found = []
    ids = {flag: _text(getattr(opts, attr, None)) for flag, attr in (
        ("--aurora-instance", "aurora_instance"), ("--aurora-cluster", "aurora_cluster"),
        ("--aurora-reader-instance", "aurora_reader_instance"))}
    for flag, value in ids.items():
        if value is not None and not _IDENTIFIER.match(value):
            found.append(f"{flag} {value}: not an RDS identifier (1-63 letters, digits and hyphens, starting with "
                         "a letter, no -- and no hyphen at the end)")
    reading = ids["--aurora-instance"] or ids["--aurora-cluster"]
    cw_on = bool(getattr(opts, "cloudwatch", False) or _text(getattr(opts, "cloudwatch_dashboard", None)))
    for flag, value in ids.items():
        if value is not None and not cw_on:
            found.append(f"{flag} {value}: needs --cloudwatch (the metrics are read from CloudWatch)")
    if ids["--aurora-reader-instance"] and not reading:
        found.append("--aurora-reader-instance: needs --aurora-instance or --aurora-cluster")
    period = getattr(opts, "aurora_period", aurora_reader.REGULAR_RESOLUTION_S)
    problem = aurora_reader.period_problem(period)
    if problem:
        found.append(f"--aurora-period {period}: {problem}")
    interval = getattr(opts, "aurora_interval", 15.0)
    if not 1 <= interval <= 3600:
        found.append(f"--aurora-interval {interval:g}: must be between 1 and 3600 seconds")
    try:
        after = observe_after_s(opts)
        if not 0 <= after <= 86400:
            found.append(f"--observe-after {opts.observe_after}: must be between 0 and 24h")
    except ValueError:
        found.append(f"--observe-after {opts.observe_after}: not a duration (e.g. 300, 90s, 5m, 1h)")
    for flag, attr in (("--check-max-acu", "check_max_acu"), ("--check-scale-up-s", "check_scale_up_s")):
        raw = getattr(opts, attr, None)
        try:
            value = number(raw)
        except ValueError:
            found.append(f"--{attr.replace('_', '-')} {raw}: not a number")
            continue
        if value is not None and not value > 0:
            found.append(f"{flag} {value:g}: must be greater than 0")
        if value is not None and not reading:
            found.append(f"{flag}: needs --aurora-instance or --aurora-cluster (and --cloudwatch)")
    return found


# -- reading ------------------------------------------------------------------------


def _primary() -> str:
    return "writer" if any(t.role == "writer" for t in _reader.found) else "cluster"


def series(key: str) -> list[tuple[float, float]]:
    """The primary target's points for a metric key (``acu``, ``cpu``...), in time order."""
    if _reader is None:
        return []
    return _reader.points(f"{_primary()}_{key}")


def _window_start() -> float:
    return _run.start - max(LEAD_MIN_S, 2 * _settings["period"])


def _say_once(key: str, line: str) -> None:
    if key not in _said:
        _said.add(key)
        logger.warning("Aurora metrics: %s", line)


def _read_now() -> None:
    ok = _reader.read_recent(_window_start(), time.time())
    if ok or _reader.stopped:
        if _reader.stopped:
            _say_once("stopped", f"{_reader.stopped}; the run goes on without the ACU chart"
                      + (" (the credentials need cloudwatch:GetMetricData)" if "denied" in _reader.stopped else ""))
        return
    _say_once("throttled", f"GetMetricData failed after {_reader.attempts} attempts ({_reader.last_problem}); "
              "retrying at the next read")


def _loop_forever(runner) -> None:
    last_read = 0.0
    while True:
        now = time.time()
        if _run.start is not None and not _run.finished:
            _run.users.append((now, runner.user_count if runner.state in ("spawning", "running") else 0))
            if now - last_read >= _settings["interval"] and not _reader.stopped:
                last_read = now
                try:
                    _read_now()
                except Exception:  # noqa: BLE001 - a bug must not end the run
                    logger.exception("Aurora metrics read failed")
            if _run.stop is not None and now >= _run.stop + _settings["observe_after"]:
                _run.finished = True  # web UI: stop reading until the next test
        gevent.sleep(1.0)


def _on_counts(batch: dict) -> None:
    for (name, second), n in batch.items():
        if name == "orders":
            _run.orders[second] = _run.orders.get(second, 0) + n


# -- figures ------------------------------------------------------------------------


def _work(environment) -> tuple[str, int, list[tuple[float, float]]]:
    """("orders" | "transactions", total, per-second rate)."""
    counters.total("orders")  # merges what is still pending into _run.orders
    orders = sum(_run.orders.values())  # this test's (the counter's total spans every test of the process)
    if orders > 0:
        last = int(_run.stop or time.time())
        seconds = range(int(_run.start), max(last, max(_run.orders)) + 1)
        return "orders", orders, [(float(s), float(_run.orders.get(s, 0))) for s in seconds]
    total = environment.runner.stats.total
    rate = sorted((float(s), float(n - total.num_fail_per_sec.get(s, 0))) for s, n in total.num_reqs_per_sec.items())
    return "transactions", total.num_requests - total.num_failures, rate


def figures(environment) -> dict:
    """The table's figures and what the report needs to say about them (JSON-able)."""
    if _reader is None or _run.start is None:
        return {}
    name, work, _rate = _work(environment)
    period = _settings["period"]
    points = series("acu")
    steps = aurora_figures.load_steps(_run.users, _run.start)
    end = aurora_figures.load_end(_run.users, _run.stop)
    out = aurora_figures.summary(points, period, steps, end, work, name)
    out.update(target=_target_text(), calls=_reader.calls, throttled=_reader.throttled,
               missing=_missing_reason(points), observe_after_s=_settings["observe_after"])
    return out


def _target_text() -> str:
    return ", ".join(t.describe() for t in _reader.found)


def _missing_reason(points) -> str | None:
    if points:
        return None
    if _reader.stopped:
        return _reader.stopped
    if _reader.last_problem:
        return f"GetMetricData failed on every attempt ({_reader.last_problem})"
    target = next(t for t in _reader.found if t.role == _primary())
    return (f"no ServerlessDatabaseCapacity data for {target.describe()} in {_settings['where']}: wrong identifier "
            "or region, not Aurora Serverless v2, or not ingested yet (RDS publishes once a minute; --observe-after "
            "waits longer)")


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def _fmt(value, unit="", digits=3) -> str:
    if value is None:
        return "-"
    return f"{round(value, digits):g}{unit}"


def summary_lines(f: dict) -> list[str]:
    head = (f"Aurora capacity (CloudWatch AWS/RDS {f['target']}, period {f['period_s']} s): "
            f"{f['calls']} GetMetricData calls, {f['throttled']} throttled")
    if f.get("missing"):
        return [head, f"  no ACU chart: {f['missing']}"]
    down = (f"{_fmt(f['scale_down_s'], ' s')} after the load ended" if f["scale_down_s"] is not None else
            "not seen" + ("" if f["observe_after_s"] else " (--observe-after 5m waits for it)"))
    per = f"ACU-seconds per 1,000 {f['work_name']}: "
    return [
        head,
        f"  peak ACU:                      {_fmt(f['peak_acu'])} at {_clock(f['peak_time'])}",
        f"  time to scale up:              {_fmt(f['scale_up_s'], ' s')} after the load step "
        f"(to the peak: {_fmt(f['time_to_peak_s'], ' s')})",
        f"  time to scale down:            {down}",
        f"  ACU-seconds during the load:   {_fmt(f['acu_seconds'])} "
        f"({_fmt((f['acu_seconds'] or 0) / 3600, '', 4)} ACU-hours)",
        f"  {per:<31}{_fmt(f['acu_seconds_per_1000'])} ({f['work']} {f['work_name']})",
    ]


def check_results(environment, f: dict) -> list[tuple[bool, str]]:
    opts = environment.parsed_options
    results = []
    limit = number(getattr(opts, "check_max_acu", None))
    if limit is not None:
        if f.get("peak_acu") is None:
            why = f.get("missing") or "no points during the load"
            results.append((False, f"peak ACU: no data ({why}) (limit {limit:g})"))
        else:
            results.append((f["peak_acu"] <= limit, f"peak ACU {f['peak_acu']:g} (limit {limit:g})"))
    within = number(getattr(opts, "check_scale_up_s", None))
    if within is not None:
        steps = f.get("steps") or []
        if not steps:
            results.append((False, f"scale-up: no ACU data ({f.get('missing') or 'no points'}) (limit {within:g} s)"))
        else:
            slow = [s for s in steps if s["scale_up_s"] is None or s["scale_up_s"] > within]
            times = ", ".join(_fmt(s["scale_up_s"], " s") if s["scale_up_s"] is not None else "no rise" for s in steps)
            results.append((not slow, f"ACU rose within {within:g} s of {len(steps) - len(slow)} of {len(steps)} "
                                      f"load steps ({times})"))
    return results


# -- the report, the CSV, the web UI ------------------------------------------------------


def _marks(f: dict) -> dict:
    observer = db_observer.current
    windows = []
    for provider in outage_windows:
        windows.extend(provider())
    return {"scaling_events": [e.time for e in observer.events] if observer else [],
            "outages": windows, "steps": [s["step_time"] for s in f.get("steps", [])], "load_end": f.get("load_end")}


def _user_outages() -> list[tuple[float, float, str]]:
    """The users' outage windows (run/outages.py), on the same markers as the observer's gaps."""
    return [(w["start"], w["start"] + outages.length(w), f"{w['endpoint']} outage")
            for w in outages.windows()]


def _observer_gaps() -> list[tuple[float, float, str]]:
    observer = db_observer.current
    return [(g["start"], g["end"] or time.time(), f"database unreachable: {g['error']}")
            for g in (observer.gaps if observer else [])]


def _img(name: str, png: bytes) -> str:
    return f"<figure><img alt='{name}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></figure>"


def report_section(environment, t0: float) -> tuple[str, dict]:
    """The run report's Aurora section: the seed's chart, utilisation against users, the table."""
    f = figures(environment)
    if not f:
        return "", {}
    title = "<h2>Aurora capacity against the load (CloudWatch)</h2>"
    if f["missing"]:
        return (f"{title}<p class='none' id='aurora-missing'>No ACU chart: {html.escape(f['missing'])}.</p>", {})
    name, _work_total, rate = _work(environment)
    rate_label = "Orders/s" if name == "orders" else "transactions/s"
    marks = _marks(f)
    from . import aurora_chart  # matplotlib: the master only, when it writes the report

    images = {
        "aurora_capacity.png": aurora_chart.business_vs_acu(
            t0, rate, rate_label, series("acu"),
            f"{rate_label} against Aurora capacity (ServerlessDatabaseCapacity, {_target_text()})", marks),
        "aurora_utilisation.png": aurora_chart.utilisation_vs_users(
            t0, series("acu_utilization"), series("cpu"), _run.users, marks),
    }
    rows = [
        ("peak ACU", _fmt(f["peak_acu"])),
        ("time to scale up (load step → first ACU rise)", _fmt(f["scale_up_s"], " s")),
        ("time to peak (load step → peak ACU)", _fmt(f["time_to_peak_s"], " s")),
        ("time to scale down (load end → back to the start's ACU)",
         _fmt(f["scale_down_s"], " s") if f["scale_down_s"] is not None else "not seen"),
        ("ACU-seconds during the load", _fmt(f["acu_seconds"])),
        (f"ACU-seconds per 1,000 {name}", _fmt(f["acu_seconds_per_1000"])),
        (name, f["work"]),
        ("period of the data points", f"{f['period_s']} s ({f['points']} points)"),
    ]
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    steps = "".join(
        f"<tr><td>{_clock(s['step_time'])}</td><td>{_fmt(s['baseline_acu'])}</td><td>{_fmt(s['rise_acu'])}</td>"
        f"<td>{_fmt(s['scale_up_s'], ' s') if s['scale_up_s'] is not None else 'no rise'}</td></tr>"
        for s in f["steps"])
    body = (f"{title}{_img('aurora_capacity.png', images['aurora_capacity.png'])}"
            f"<table id='aurora-figures'><tr><th>figure</th><th>value</th></tr>{table}</table>"
            f"<table id='aurora-steps'><tr><th>load step</th><th>ACU before</th><th>first rise to</th>"
            f"<th>after</th></tr>{steps}</table>"
            f"{_img('aurora_utilisation.png', images['aurora_utilisation.png'])}")
    return body, images


def _latest(points, at: float):
    value = None
    for ts, v in points:
        if ts > at:
            break
        value = v
    return value


def _sample_fields(sample: dict) -> dict:
    at = sample["time"]
    return {"acu": _latest(series("acu"), at), "acu_utilization_pct": _latest(series("acu_utilization"), at),
            "cpu_utilization_pct": _latest(series("cpu"), at)}


def _events_section():
    f = figures(_environment) if _environment is not None else {}
    if not f:
        return None
    return {**f, "series": {q["Id"]: _reader.points(q["Id"]) for q in _reader.queries},
            "users": _run.users[-100_000:]}


def web_rows() -> list[dict]:
    if _reader is None:
        return []
    if _reader.stopped:
        return [{"metric": "ACU (CloudWatch)", "value": "-", "trend": _reader.stopped}]
    rows = []
    for label, key in (("ACU (CloudWatch)", "acu"), ("ACU utilization % (CloudWatch)", "acu_utilization"),
                       ("CPU % (CloudWatch)", "cpu")):
        points = series(key)
        if points:
            ts, value = points[-1]
            rows.append({"metric": label, "value": _fmt(value, "", 2),
                         "trend": f"{web_db_tab.sparkline([v for _, v in points[-TREND_POINTS:]])} "
                                  f"(at {_clock(ts)})"})
    return rows or [{"metric": "ACU (CloudWatch)", "value": "-", "trend": "no data points yet"}]


# -- Locust events --------------------------------------------------------------------

_environment = None


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _reader, _loop, _environment
    opts = environment.parsed_options
    if opts is None or not master_or_local(environment) or environment.runner is None:
        return
    found = aurora_reader.targets(_text(getattr(opts, "aurora_instance", None)), _text(opts.aurora_cluster),
                                  _text(opts.aurora_reader_instance))
    if not found:
        return
    cw = cloudwatch.resolve(opts)
    _settings.update(period=opts.aurora_period, interval=opts.aurora_interval, observe_after=observe_after_s(opts),
                     where=cw["endpoint"] or f"AWS {cw['region']}")
    client = aurora_reader.make_client(cw["region"], cw["endpoint"])
    _reader = aurora_reader.Reader(client, found, opts.aurora_period, sleep=gevent.sleep)
    _environment = environment
    counters.subscribe(_on_counts)
    outage_windows.extend((_observer_gaps, _user_outages))
    run_report.extra_sections.append(report_section)
    db_observer.sample_fields.extend(CSV_FIELDS)
    db_observer.sample_hooks.append(_sample_fields)
    db_observer.events_sections["aurora"] = _events_section
    web_db_tab.extra_rows.append(web_rows)
    _loop = gevent.spawn(_loop_forever, environment.runner)
    logger.info("reading AWS/RDS %s from %s every %gs (period %d s)", _target_text(), _settings["where"],
                _settings["interval"], _settings["period"])


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global _run
    if _reader is not None and master_or_local(environment):
        _run = _Run()
        _run.start = time.time()
        try:  # the web UI's form may have changed it (it posts every option back as text)
            _settings["observe_after"] = min(86400.0, max(0.0, observe_after_s(environment.parsed_options)))
        except ValueError:
            logger.warning("--observe-after %s: not a duration; keeping %gs",
                           environment.parsed_options.observe_after, _settings["observe_after"])
        _run.users.append((_run.start, 0))


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    if _reader is not None and master_or_local(environment) and _run.stop is None:
        _run.stop = time.time()


def _observe_after(environment) -> None:
    """Headless: the users are gone; keep reading (the loop goes on) until --observe-after has passed."""
    wait = _run.stop + _settings["observe_after"] - time.time()
    if wait <= 0:
        return
    sys.stdout.write(f"\nObserving Aurora for {wait:.0f} s more after the load (--observe-after)...\n")
    sys.stdout.flush()
    try:
        gevent.sleep(wait)
    except (KeyboardInterrupt, gevent.GreenletExit):
        sys.stdout.write("Observing cut short.\n")


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    """Runs before the run report is written (quitting listeners run in reverse order of registration)."""
    if _reader is None or _run.start is None or not master_or_local(environment):
        return
    if _run.stop is None:
        _run.stop = time.time()
    if environment.parsed_options.headless:
        _observe_after(environment)
    _run.finished = True
    if _loop is not None:
        _loop.kill(block=False)
    if not _reader.stopped:
        _reader.read_all(_window_start(), time.time())
        if _reader.stopped:
            _say_once("stopped", f"{_reader.stopped}; the run goes on without the ACU chart")
    f = figures(environment)
    lines = summary_lines(f)
    results = check_results(environment, f)
    lines += [f"check {'PASS' if ok else 'FAIL'}: {text}" for ok, text in results]
    print_block(lines)
    if results and not all(ok for ok, _ in results):
        environment.process_exit_code = checks.EXIT_CHECK_FAILED
    if db_observer.current is not None:
        db_observer.current.write_events()
