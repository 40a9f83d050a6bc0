"""Watch the database while it is loaded: one connection, one sample every few seconds.

Runs on the master or local runner only, from test start to test stop. Each
sample (see ``db_probes``) goes to ``<report dir>/db_stats.csv``, to the
headless console as one row of a compact table, to the web UI's Database tab
and to the run report. Consecutive samples are compared by
``swap_detector``: a scaling event (another instance behind the endpoint) is
logged, printed, counted as the ``scaling_events`` counter (published to
CloudWatch like every counter) and kept for ``db_events.json``, beside the
outage windows the users met (``outages``; written again at quit, after the
workers' last reports). When the
database does not answer the observer records the gap and retries with a short
backoff; nothing it meets ends its greenlet or the run.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import time

import gevent
from locust import events

from ..run import counters, outages
from . import db_probes
from ..engines.drivers import driver_for
from ..options import option_group, validator
from ..run.roles import master_or_local
from ..scenario import in_use
from .swap_detector import ScalingEvent, detect

logger = logging.getLogger("dbswarm")

GIB = 1024**3
HEADER_EVERY = 20
RETRY_FIRST_S = 0.5
RATE_FIELDS = tuple(f"{key}_per_s" for key in db_probes.COUNTERS)
CSV_FIELDS = (*db_probes.FIELDS, *RATE_FIELDS, "error")
COLUMNS = (  # console table: title, width, how to show a sample
    ("time", 8, lambda s: time.strftime("%H:%M:%S", time.localtime(s["time"]))),
    ("conns", 6, lambda s: s["connections"]),
    ("running", 7, lambda s: s["threads_running"]),
    ("max_conn", 8, lambda s: s["max_connections"]),
    ("buf_GiB", 7, lambda s: None if s["buffer_pool_bytes"] is None else f"{s['buffer_pool_bytes'] / GIB:.2f}"),
    ("hist_len", 8, lambda s: s["history_list_length"]),
    ("queries/s", 9, lambda s: s["questions_per_s"]),
    ("commit/s", 8, lambda s: s["commits_per_s"]),
    ("long_tx_s", 9, lambda s: s["longest_tx_s"]),
    ("host", 0, lambda s: s["host"] if not s["server_id"] else f"{s['host']} ({s['server_id']})"),
)


# Other plugins add figures (registered before the test starts), e.g. Aurora's ACU read from CloudWatch:
sample_fields: list[str] = []  # extra db_stats.csv columns
sample_hooks: list = []  # hook(sample) -> {column: value}, called for every sample that answered
events_sections: dict = {}  # name -> provider() -> JSON-able data, one more key in db_events.json


def report_dir(opts) -> str:
    """--report-dir, else the directory of --html, else ./reports."""
    chosen = getattr(opts, "report_dir", None)
    if chosen:
        return chosen
    html = getattr(opts, "html_file", None)
    if html:
        return os.path.dirname(os.path.abspath(html))
    return "reports"


def format_row(sample: dict) -> str:
    cells = []
    for _title, width, show in COLUMNS:
        value = show(sample)
        text = "-" if value is None else str(value)
        cells.append(text.rjust(width) if width else text)
    return "  ".join(cells)


def format_header() -> str:
    return "  ".join(title.rjust(width) if width else title for title, width, _ in COLUMNS)


class Observer:
    """Samples one endpoint; keeps samples, gaps and scaling events in memory and on disk."""

    def __init__(self, cfg, interval: float, directory: str | None, console: bool):
        self.cfg = cfg
        self.interval = interval
        self.console = console
        self.driver = driver_for(cfg.engine)
        self.samples: list[dict] = []
        self.events: list[ScalingEvent] = []
        self.gaps: list[dict] = []  # {"start", "end", "error"}
        self.last: dict | None = None  # last sample that answered
        self._conn = None
        self._failures = 0
        self._rows = 0
        self._greenlet = None
        self._csv = None
        self.directory = directory
        if directory:
            os.makedirs(directory, exist_ok=True)
            self._csv_file = open(os.path.join(directory, "db_stats.csv"), "w", newline="")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=(*CSV_FIELDS, *sample_fields))
            self._csv.writeheader()

    # -- lifecycle
    def start(self) -> None:
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=5)
            self._greenlet = None
        self._close()
        if self._csv is not None:
            self._csv_file.close()
            self._csv = None
        self.write_events()

    def _loop(self) -> None:
        while True:
            try:
                ok = self.sample_once()
            except Exception:  # a bug must not end the observing, nor the run
                logger.exception("database observer failed a sample")
                ok = False
            if ok:
                delay = self.interval
            else:
                delay = min(self.interval, RETRY_FIRST_S * 2 ** min(self._failures - 1, 6))
            gevent.sleep(delay)

    # -- one sample
    def sample_once(self) -> bool:
        now = time.time()
        try:
            with gevent.Timeout(max(self.cfg.connect_timeout, self.interval) * 2):
                if self._conn is None:
                    self._conn = self.driver.connect(self.cfg)
                sample = db_probes.sample(self._conn.cursor(), self.cfg.engine, self.driver.errors, now)
        except (*self.driver.errors, gevent.Timeout) as exc:
            self._unreachable(now, exc)
            return False
        self._answered(sample)
        return True

    def _unreachable(self, now: float, exc: BaseException) -> None:
        self._close()
        self._failures += 1
        if isinstance(exc, gevent.Timeout):
            message = "no answer in time"
        else:
            message = str(self.driver.classify(exc))
        if not self.gaps or self.gaps[-1]["end"] is not None:
            self.gaps.append({"start": now, "end": None, "error": message})
            self._say(f"db unreachable at {self.cfg.where()}: {message}")
            logger.warning("database observer lost %s: %s", self.cfg.where(), message)
        self._write_csv({"time": now, "error": message})

    def _answered(self, sample: dict) -> None:
        gap_s = 0.0
        if self.gaps and self.gaps[-1]["end"] is None:
            gap = self.gaps[-1]
            gap["end"] = sample["time"]
            gap_s = gap["end"] - gap["start"]
            self._say(f"db back after {gap_s:.1f}s unreachable")
        self._failures = 0
        event = detect(self.last, sample, gap_s)
        sample.update(db_probes.rates(None if event else self.last, sample))
        for hook in sample_hooks:
            sample.update(hook(sample))
        self.samples.append(sample)
        self.last = sample
        self._write_csv(sample)
        if event is not None:
            self._scaled(event)
        if self._rows % HEADER_EVERY == 0:
            self._say(format_header())
        self._rows += 1
        self._say(format_row(sample))

    def _scaled(self, event: ScalingEvent) -> None:
        self.events.append(event)
        counters.incr("scaling_events")
        self._say(f"*** {event.describe()}")
        logger.warning("%s at %s", event.describe(), self.cfg.where())
        self.write_events()
        self._rows = 0  # repeat the header after an event line

    # -- output
    def _say(self, line: str) -> None:
        if self.console:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def _write_csv(self, row: dict) -> None:
        if self._csv is not None:
            self._csv.writerow(row)
            self._csv_file.flush()

    def write_events(self) -> None:
        if not self.directory:
            return
        with open(os.path.join(self.directory, "db_events.json"), "w") as f:
            json.dump(self.as_dict(), f, indent=2, default=str)

    def as_dict(self) -> dict:
        return {
            "endpoint": self.cfg.where(),
            "engine": self.cfg.engine,
            "interval_s": self.interval,
            "samples": len(self.samples),
            "scaling_events": [e.as_dict() for e in self.events],
            "gaps": list(self.gaps),
            "outages": outages.windows(),  # the users' side, every endpoint (see outages.py)
            **{name: provider() for name, provider in events_sections.items()},
        }

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


current: Observer | None = None  # the run's observer (master or local runner)


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm database observer", "Server stats and scaling events while the load runs")
    add("db-stats-interval", type=float, default=5.0,
        help="Seconds between samples of the database's own stats; 0 turns the observer off")
    add("no-db-stats-console", action="store_true", default=False, web=False,
        help="Do not print the live database table in headless runs")
    add("report-dir", default=None,
        help="Where db_stats.csv, db_events.json, latency_us.json and the run report go "
             "(default: next to --html, else ./reports)")


@validator
def validate(opts) -> list[str]:
    interval = getattr(opts, "db_stats_interval", 5.0)
    if interval is not None and interval < 0:
        return [f"--db-stats-interval {interval}: must be 0 (off) or more"]
    if interval and interval < 0.2:
        return [f"--db-stats-interval {interval}: must be at least 0.2 seconds"]
    directory = getattr(opts, "report_dir", None)
    if directory:
        problem = _unwritable(directory)
        if problem:
            return [f"--report-dir {directory}: {problem}"]
    return []


def _unwritable(directory: str) -> str | None:
    """Why files cannot be written under ``directory`` (created later if missing), or None."""
    path = os.path.abspath(directory)
    if os.path.exists(path):
        if not os.path.isdir(path):
            return "not a directory"
        return None if os.access(path, os.W_OK | os.X_OK) else "not writable"
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is not a directory"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"cannot create it ({parent} is not writable)"


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global current
    if not master_or_local(environment):
        return
    opts = environment.parsed_options
    scenarios = in_use(environment)
    if not opts.db_stats_interval or not scenarios:
        return
    if current is not None:
        current.stop()
    current = Observer(
        scenarios[0].config(opts),
        interval=opts.db_stats_interval,
        directory=report_dir(opts),
        console=bool(opts.headless) and not opts.no_db_stats_console,
    )
    current.start()


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    if current is not None and master_or_local(environment):
        current.stop()


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if current is not None and master_or_local(environment):
        current.write_events()  # the workers' last reports (outage records) came after test stop
