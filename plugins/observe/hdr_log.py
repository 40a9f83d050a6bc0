"""HdrHistogram interval log (``.hlog``) of the run's latency, merged from every worker.

The standard format HdrHistogram's ``HistogramLogWriter`` writes (and its
``HistogramLogProcessor``, YCSB's and wrk2 users' scripts read): a header,
then one line per operation per interval, ``Tag=<operation>,<start>,<length>,
<max>,<base64 compressed histogram>``. Values are microseconds (the max column
is in milliseconds, so HistogramLogProcessor wants ``-outputValueUnitRatio
1000``). Timestamps are seconds since the run's start (``#[BaseTime]``).

The master writes what it merged during each interval: a worker's histograms
land in the interval in which its report (every 3 s) arrived. Written with
``--hdr-log FILE``; a headless run without it writes ``<report dir>/latency.hlog``
so ``plugins.observe.compare`` finds the intervals next to ``latency_us.json``.
"""

from __future__ import annotations

import os
import time

import gevent
from hdrh.log import HistogramLogWriter
from locust import events

from . import db_observer, hdr_latency
from .hdr_histograms import add, hlog_tag
from ..options import number, option_group, validator
from ..run.roles import master_or_local

DEFAULT_NAME = "latency.hlog"


class IntervalLog:
    """One .hlog file: collects merged histograms and writes them every ``interval`` seconds."""

    def __init__(self, path: str, interval: float, start: float | None = None):
        self.path = path
        self.interval = interval
        # Milliseconds, as the header writes it: the reader skips intervals that seem to start before StartTime.
        self.start = round(time.time() if start is None else start, 3)
        self.pending: dict = {}
        self.tags: dict = {}  # (type, name) -> tag
        self.interval_start = self.start
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self.file = open(path, "w", encoding="utf-8")
        self.writer = HistogramLogWriter(self.file)
        self.writer.output_comment("[Logged with dbswarm: latency in microseconds, one Tag per operation]")
        self.writer.output_log_format_version()
        # hdrh 0.10's output_start_time cannot format its date; this is the line it means to write.
        self.writer.output_comment(f"[StartTime: {self.start:.3f} (seconds since epoch), "
                                   f"{time.strftime('%a %b %d %H:%M:%S %Z %Y', time.localtime(self.start))}]")
        self.writer.output_comment(f"[BaseTime: {self.start:.3f} (seconds since epoch)]")
        self.writer.output_legend()
        self.file.flush()

    def record(self, batch: dict) -> None:
        for key, hist in batch.items():
            add(self.pending, key, hist)

    def _tag(self, key) -> str:
        tag = self.tags.get(key)
        if tag is None:
            tag = hlog_tag(key[1])
            if tag in self.tags.values():
                tag = hlog_tag(f"{key[0]}:{key[1]}")
            self.tags[key] = tag
        return tag

    def write_interval(self, now: float | None = None) -> None:
        """Write the histograms merged since the previous call, one line per operation."""
        now = time.time() if now is None else now
        pending, self.pending = self.pending, {}
        begin, end = self.interval_start - self.start, now - self.start
        self.interval_start = now
        for key in sorted(pending, key=lambda k: (k[1], k[0])):
            hist = pending[key]
            if not hist.get_total_count():
                continue
            hist.set_start_time_stamp(begin * 1000.0)  # used by the writer when begin is 0
            hist.set_end_time_stamp(end * 1000.0)
            self.file.write(f"Tag={self._tag(key)},")
            self.writer.output_interval_histogram(hist, begin, end, max_value_unit_ratio=1000.0)
        self.file.flush()

    def close(self) -> None:
        self.write_interval()
        self.file.close()


current: IntervalLog | None = None
_ticker = None


def _on_batch(batch: dict) -> None:
    if current is not None:
        current.record(batch)


hdr_latency.subscribe(_on_batch)


def _tick(log: IntervalLog) -> None:
    while True:
        gevent.sleep(max(0.0, log.interval_start + log.interval - time.time()))
        hdr_latency.flush()
        log.write_interval()


def destination(opts) -> str | None:
    """--hdr-log, else <report dir>/latency.hlog for a headless run, else nothing."""
    chosen = getattr(opts, "hdr_log", None)
    if chosen:
        return chosen
    if getattr(opts, "headless", False):
        return os.path.join(db_observer.report_dir(opts), DEFAULT_NAME)
    return None


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add_option = option_group(parser, "dbswarm HDR interval log")
    add_option("hdr-log", default=None, web=False,
               help="Write the HdrHistogram interval log (.hlog) here, one tagged histogram per operation per "
                    "interval (headless default: <report dir>/latency.hlog)")
    add_option("hdr-log-interval", type=float, default=5.0, web=False, help="Seconds per interval of the .hlog")


@validator
def validate(opts) -> list[str]:
    """Checked with every other option at launch and on each web UI start (a registered validator)."""
    problems = []
    interval = number(getattr(opts, "hdr_log_interval", None))
    if interval is not None and not 0.5 <= interval <= 3600:
        problems.append(f"--hdr-log-interval {interval:g}: must be between 0.5 and 3600 seconds")
    path = getattr(opts, "hdr_log", None)
    if path:
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            problems.append(f"--hdr-log {path}: is a directory, give a file name")
        elif os.path.exists(directory) and not os.access(directory, os.W_OK):
            problems.append(f"--hdr-log {path}: directory not writable")
    return problems


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global current, _ticker
    if not master_or_local(environment):
        return
    _stop()
    path = destination(environment.parsed_options)
    if not path:
        return
    hdr_latency.flush()  # what came before the start belongs to no interval of this run
    current = IntervalLog(path, number(environment.parsed_options.hdr_log_interval) or 5.0)
    _ticker = gevent.spawn(_tick, current)


def _stop() -> None:
    global current, _ticker
    if _ticker is not None:
        _ticker.kill(block=True, timeout=2)
        _ticker = None
    if current is not None:
        hdr_latency.flush()
        current.close()
        current = None


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    """Close the last interval; worker reports that arrive after the stop go in with it (see quitting)."""
    if master_or_local(environment) and current is not None:
        hdr_latency.flush()
        current.write_interval()


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if master_or_local(environment):
        _stop()
