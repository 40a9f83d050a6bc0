"""Prometheus/OpenMetrics ``/metrics`` on the master or local runner (``--prometheus-port``).

Locust's own exporters publish averages, which cannot be added across workers
or turned into percentiles. The master already holds everything merged:
Locust's request and failure counts, exact µs HDR histograms per operation
(``hdr_latency.totals``), the database observer's last sample, the scenario's
business counters. A custom collector reads them when Prometheus scrapes, so
the request path pays nothing: no metric object is touched per request.

Labels are bounded by the code, never by the data: ``operation`` is a
statement or transaction name, ``engine`` Locust's request type (``MySQL``,
``PostgreSQL``, ``schedule`` for --target-rps), ``error_class`` one of
``errors.py``'s classes. The latency histogram has fixed buckets from 50 µs to
60 s; its ``_count`` is every request of the operation, failures included, as
Locust counts them.

The users' outage windows per endpoint (``run/outages.py``) and the observer's
own unreachable windows are exported as counters. ``dbswarm_warmup`` is 1 while
the run is in its ``--warmup`` and 0 otherwise: the series themselves keep the
whole run (Locust's counters start again when the warm-up ends, which rate()
reads as a counter reset), so a dashboard shades the warm-up with it instead of
splitting every series by a phase label.
"""

from __future__ import annotations

import logging
import re
import time

import gevent
from gevent.pywsgi import WSGIServer
from locust import events
from locust.runners import MasterRunner
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.process_collector import ProcessCollector

from .. import errors
from ..run import counters, outages, warmup
from . import db_observer, hdr_latency
from ..run.arrival import LAG_SUFFIX, PACE_TYPE
from ..options import number, option_group, validator
from ..run.roles import master_or_local, refuse

logger = logging.getLogger("dbswarm")

# Upper bounds in seconds: 50 µs .. 60 s, about three buckets per decade (1, 2, 5).
BUCKETS_S = (
    0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
    0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0,
)
BUCKETS_US = tuple(round(b * 1_000_000) for b in BUCKETS_S)
ERROR_CLASSES = frozenset(v.name for v in vars(errors).values() if isinstance(v, errors.ErrorClass))
_DB_ERROR = re.compile(r"^DatabaseError\(['\"]\S+ \S+ ([a-z-]+):")
# Database observer sample key -> (metric, help). A key the engine does not give is None and left out.
DB_GAUGES = (
    ("connections", "dbswarm_db_connections", "Client connections to the database (observer's last sample)"),
    ("threads_running", "dbswarm_db_threads_running", "Connections running a statement now"),
    ("max_connections", "dbswarm_db_max_connections", "The server's max_connections"),
    ("buffer_pool_bytes", "dbswarm_db_buffer_pool_bytes", "InnoDB buffer pool / shared_buffers size"),
    ("history_list_length", "dbswarm_db_history_list_length", "InnoDB history list length (undo not yet purged)"),
    ("longest_tx_s", "dbswarm_db_longest_transaction_seconds", "Age of the oldest open transaction"),
    ("replica_lag_s", "dbswarm_db_replica_lag_seconds", "Replication lag, where the engine gives it"),
)

_server: WSGIServer | None = None
scrapes_started = 0  # scrapes begun / served by this process (read by --prometheus-final-scrape)
scrapes_done = 0
last_collect_s = 0.0  # CPU time of the previous collect, exported as dbswarm_scrape_collect_cpu_seconds


def error_class(error: str) -> str:
    """The bounded class of one of Locust's error strings (``DatabaseError('MySQL 1213 deadlock: ...')``)."""
    m = _DB_ERROR.match(error or "")
    if m and m.group(1) in ERROR_CLASSES:
        return m.group(1)
    return "other"


_geometry: dict = {}  # histogram layout -> (counts slot of each bucket bound, median value of each slot)


def _layout(hist) -> tuple:
    """Which counts slot each bucket bound falls in, and each slot's median value: computed once."""
    key = (hist.counts_len, hist.sub_bucket_half_count_magnitude, hist.unit_magnitude)
    found = _geometry.get(key)
    if found is None:
        import numpy as np  # the master only, at its first scrape: workers never load it

        bounds = np.array([hist._counts_index_for(bound) for bound in BUCKETS_US])
        medians = np.array([hist._hdr_median_equiv_value(hist.get_value_from_index(i))
                            for i in range(hist.counts_len)], dtype=np.float64)
        found = _geometry[key] = (bounds, medians)
    return found


def cumulative_buckets(hist) -> tuple[list[tuple[str, int]], float]:
    """``(le, count)`` pairs of an HDR histogram in µs, ending with ``+Inf`` = its total count,
    and the sum of its values in seconds.

    A value counts under a bound when the lowest value of its HDR slot is at most the bound.
    The counts array is read in place with numpy: a scrape does not walk the histogram in Python.
    """
    import numpy as np

    bounds, medians = _layout(hist)
    used = hist._counts_index_for(hist.max_value) + 1 if hist.max_value else 1  # slots up to the max value
    counts = np.frombuffer(hist.counts, dtype=np.uint64, count=used)
    cumulative = np.cumsum(counts)
    out = [(repr(b), int(cumulative[min(i, used - 1)])) for b, i in zip(BUCKETS_S, bounds)]
    out.append(("+Inf", hist.get_total_count()))
    return out, float((counts * medians[:used]).sum()) / 1_000_000  # not np.dot: BLAS threads on a busy host


def _windows(windows, now: float) -> tuple[int, float]:
    seconds = sum(((w["end"] if w.get("end") is not None else now) - w["start"]) for w in windows)
    return len(windows), max(0.0, seconds)


class DbswarmCollector:
    """Reads dbswarm's merged state at scrape time."""

    def __init__(self, environment):
        self.environment = environment

    def collect(self):
        global last_collect_s
        started = time.thread_time()  # CPU, not wall: a busy host must not inflate it
        yield from self._requests()
        yield from self._latency()
        yield from self._runner()
        yield from self._database()
        yield from self._outages()
        yield from self._counters()
        gauge = GaugeMetricFamily("dbswarm_scrape_collect_cpu_seconds",
                                  "CPU time the previous scrape spent reading dbswarm's state")
        gauge.add_metric([], last_collect_s)
        yield gauge
        last_collect_s = time.thread_time() - started

    def _requests(self):
        stats = self.environment.runner.stats
        requests = CounterMetricFamily("dbswarm_requests", "Requests per operation, failures included (Locust's count)",
                                       labels=["operation", "engine"])
        failures = CounterMetricFamily("dbswarm_failures", "Failed requests per operation and error class",
                                       labels=["operation", "engine", "error_class"])
        for (name, method), entry in list(stats.entries.items()):
            requests.add_metric([name, method], entry.num_requests)
        by_class: dict[tuple[str, str, str], int] = {}
        for err in list(stats.errors.values()):
            key = (err.name, err.method, error_class(err.error))
            by_class[key] = by_class.get(key, 0) + err.occurrences
        for labels, n in sorted(by_class.items()):
            failures.add_metric(list(labels), n)
        yield requests
        yield failures

    def _latency(self):
        hdr_latency.flush()
        engines = {name_type: name_type[0] for name_type in hdr_latency.totals}
        family = HistogramMetricFamily("dbswarm_request_duration_seconds",
                                       "Request latency from the merged HDR histograms (µs resolution)",
                                       labels=["operation", "engine"])
        for (request_type, name), hist in sorted(hdr_latency.totals.items()):
            if not hist.get_total_count():
                continue
            buckets, total_s = cumulative_buckets(hist)
            family.add_metric([name, engines[(request_type, name)]], buckets, total_s)
        yield family

    def _runner(self):
        runner = self.environment.runner
        opts = self.environment.parsed_options
        users = GaugeMetricFamily("dbswarm_users", "Running users (all workers)")
        users.add_metric([], runner.user_count)
        yield users
        workers = GaugeMetricFamily("dbswarm_workers", "Connected workers (0 for a local runner)")
        workers.add_metric([], runner.worker_count if isinstance(runner, MasterRunner) else 0)
        yield workers
        warming = GaugeMetricFamily("dbswarm_warmup", "1 while the run is in its --warmup (left out of the results), else 0")
        warming.add_metric([], 0 if warmup.warm else 1)
        yield warming
        target = number(getattr(opts, "target_rps", None))
        if target:
            gauge = GaugeMetricFamily("dbswarm_target_arrival_rate", "--target-rps: task starts per second wanted")
            gauge.add_metric([], target)
            yield gauge
            started = sum(e.num_requests for (name, method), e in list(runner.stats.entries.items())
                          if method == PACE_TYPE and name.endswith(LAG_SUFFIX))
            arrivals = CounterMetricFamily("dbswarm_arrivals", "Paced task starts (rate() of it is the actual arrival rate)")
            arrivals.add_metric([], started)
            yield arrivals

    def _database(self):
        observer = db_observer.current
        if observer is None:
            return
        now = time.time()
        engine = observer.cfg.label  # the requests' engine label (MySQL, PostgreSQL)
        down = bool(observer.gaps) and observer.gaps[-1]["end"] is None
        up = GaugeMetricFamily("dbswarm_db_up", "1 while the observer's last sample answered, 0 while unreachable",
                               labels=["engine"])
        up.add_metric([engine], 0 if down or observer.last is None else 1)
        yield up
        last = observer.last or {}
        for key, metric, text in DB_GAUGES:
            if last.get(key) is not None and not down:
                gauge = GaugeMetricFamily(metric, text, labels=["engine"])
                gauge.add_metric([engine], float(last[key]))
                yield gauge
        scaling = CounterMetricFamily("dbswarm_scaling_events", "Another instance took over the endpoint",
                                      labels=["engine"])
        scaling.add_metric([engine], len(observer.events))
        yield scaling
        n, seconds = _windows(observer.gaps, now)
        count = CounterMetricFamily("dbswarm_db_unreachable_windows", "Times the observer lost the database",
                                    labels=["engine"])
        count.add_metric([engine], n)
        yield count
        total = CounterMetricFamily("dbswarm_db_unreachable_seconds", "Seconds the observer could not reach the database",
                                    labels=["engine"])
        total.add_metric([engine], seconds)
        yield total

    def _outages(self):
        """The users' outage windows per endpoint (run/outages.py), merged from every process."""
        windows = outages.windows()
        now = time.time()
        count = CounterMetricFamily("dbswarm_outages", "Outage windows the users met (first failure to first success)",
                                    labels=["endpoint"])
        seconds = CounterMetricFamily("dbswarm_outage_seconds", "Seconds the application could not write (writer) "
                                      "or read (reader)", labels=["endpoint"])
        for endpoint in outages.ENDPOINTS:
            mine = [w for w in windows if w["endpoint"] == endpoint]
            count.add_metric([endpoint], len(mine))
            seconds.add_metric([endpoint], sum(outages.length(w, now) for w in mine))
        yield count
        yield seconds

    def _counters(self):
        names = sorted(counters.totals)
        if not names:
            return
        family = CounterMetricFamily("dbswarm_scenario_events", "The scenario's business counters, e.g. orders",
                                     labels=["counter"])
        for name in names:
            family.add_metric([name], counters.total(name))
        yield family


def registry_for(environment) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DbswarmCollector(environment))
    ProcessCollector(registry=registry)  # the master's own CPU and memory
    return registry


class _Counted(list):
    """A response body that counts the scrape as served once the server has sent it (WSGI close())."""

    def close(self):
        global scrapes_done
        scrapes_done += 1


def _counting(app):
    def wrapped(environ, start_response):
        global scrapes_started
        scrapes_started += 1
        return _Counted(app(environ, start_response))

    return wrapped


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm Prometheus")
    # Read once, when the process starts: a value typed into the web UI's start form would do nothing.
    add("prometheus-port", type=int, default=None, web=False,
        help="Serve /metrics (Prometheus/OpenMetrics) on this port of the master or local runner")
    add("prometheus-final-scrape", type=float, default=0.0, web=False,
        help="At the end, wait up to this many seconds for one more scrape, so Prometheus holds the final totals")


@validator
def validate(opts) -> list[str]:
    """Checked with every other option at launch and on each web UI start (a registered validator)."""
    problems = []
    port = number(getattr(opts, "prometheus_port", None))
    if port is not None and (port != int(port) or not 1 <= port <= 65535):
        problems.append(f"--prometheus-port {port:g}: must be between 1 and 65535")
    wait = number(getattr(opts, "prometheus_final_scrape", None))
    if wait is not None and not 0 <= wait <= 600:
        problems.append(f"--prometheus-final-scrape {wait:g}: must be between 0 and 600 seconds")
    return problems


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _server
    if not master_or_local(environment):
        return
    opts = environment.parsed_options
    port = number(getattr(opts, "prometheus_port", None))
    if not port or _server is not None:
        return
    app = _counting(make_wsgi_app(registry_for(environment)))
    try:
        _server = WSGIServer(("", int(port)), app, log=None, error_log=logger)
        _server.start()
    except OSError as exc:
        refuse([f"--prometheus-port {int(port)}: cannot listen: {exc.strerror or exc}"])


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    """Let Prometheus take one scrape of the final state before the process exits (bounded)."""
    if _server is None or not master_or_local(environment):
        return
    wait = number(getattr(environment.parsed_options, "prometheus_final_scrape", 0)) or 0
    begun, deadline = scrapes_started, time.monotonic() + wait
    while scrapes_done <= begun and time.monotonic() < deadline:
        gevent.sleep(0.05)
