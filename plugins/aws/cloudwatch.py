"""CloudWatch metrics for a run: the scenario's business metric (the flash sale's Orders, as the lab reads them),
latency per operation, users, outages.

Off the request path: the request listener only counts a rounded response
time into a dict. Workers ship those per-second counts to the master
(``run/aggregate.py``); the master (or a local runner) merges them with the
business counters and hands them, from one background greenlet, to the
publisher, which sends about one PutMetricData call per interval. On test
stop and on quit whatever is left is flushed (with a time limit) and the
summary says what was sent and what, if anything, was dropped. Each outage
window (``outages``) becomes one ``OutageSeconds`` datum (dimensions Endpoint
and RunId, timestamped at the window's start) once it has closed; a window
still open when the run quits is sent with its length so far.

The warm-up (``--warmup``) is published like the rest of the run, so the
dashboard shows the whole run, and tagged by a ``WarmUp`` datum next to
``Users`` each interval (1 while the warm-up runs, 0 after): a dimension
would split every series (and the lab's Orders widget) in two.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import uuid
from urllib.parse import urlparse

import gevent
from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING

from ..options import option_group, validator
from ..run import aggregate, counters, outages, warmup
from ..run.roles import is_worker, master_or_local, refuse
from ..scenario import Metric, metric_in_use
from . import cw_batch, cw_dashboard
from .cw_publisher import BUFFER_BYTES, Publisher, make_client

STOP_FLUSH_SECONDS = 5.0
QUIT_FLUSH_SECONDS = 15.0
logger = logging.getLogger("dbswarm")

# (name, request_type, epoch second) -> [{response ms: count}, failures]; every process
_latency: dict = {}
# (counter name, epoch second) -> count; master or local runner
_counts: dict = {}
_listening = False
_publisher: Publisher | None = None
_loop = None
_settings: dict = {}
_metric: Metric | None = None  # the scenario's business metric, if it declares one
_reported_drops = 0
_sent_outages: set = set()  # (endpoint, start second) of the windows already published


def _on_request(request_type, name, response_time, exception=None, **_kwargs):
    """The hot path: one dict update per request, nothing else."""
    key = (name, request_type, int(time.time()))
    entry = _latency.get(key)
    if entry is None:
        entry = _latency[key] = [{}, 0]
    values = entry[0]
    ms = round(response_time, 3) if response_time is not None else float("nan")
    values[ms] = values.get(ms, 0) + 1
    if exception is not None:
        entry[1] += 1


def _listen(enabled: bool) -> None:
    global _listening
    if enabled and not _listening:
        events.request.add_listener(_on_request)
    elif not enabled and _listening:
        events.request.remove_listener(_on_request)
    _listening = enabled


def _take_latency() -> dict:
    global _latency
    batch, _latency = _latency, {}
    return batch


def _merge_latency(rows) -> None:
    """A worker's rows, into this (master) process's own; taken together by ``collect``."""
    if _publisher is None:
        return
    for name, request_type, second, pairs, failures in rows:
        entry = _latency.get((name, request_type, second))
        if entry is None:
            entry = _latency[(name, request_type, second)] = [{}, 0]
        values = entry[0]
        for ms, n in pairs:
            values[ms] = values.get(ms, 0) + n
        entry[1] += failures


_AGGREGATE = aggregate.register(
    "dbswarm_cloudwatch", _take_latency, _merge_latency,
    encode=lambda batch: [[name, request_type, second, list(values.items()), failures]
                          for (name, request_type, second), (values, failures) in batch.items()],
)


def _on_counts(batch: dict) -> None:
    for key, n in batch.items():
        _counts[key] = _counts.get(key, 0) + n


# -- options ------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs):
    # Launch-only: the publisher and the dashboard are set up at init, so the web form does not offer them.
    add = functools.partial(option_group(
        parser, "dbswarm CloudWatch",
        "Publish the scenario's business metric (e.g. Orders), latency per operation and users to CloudWatch"), web=False)
    add("cloudwatch", action="store_true", default=False, help="Publish metrics to CloudWatch (batched, in the background)")
    add("cloudwatch-namespace", default="dbswarm", help="Namespace for latency, requests, users and counters")
    add("cloudwatch-orders-namespace", default=None,
        help="Namespace of the scenario's business metric (default: the scenario's; the flash sale's is the lab's MyFlashSale/Orders)")
    add("cloudwatch-offer-type", default=None,
        help="Dimension value of the scenario's business metric (default: the scenario's; the flash sale's OfferType is FlashSale)")
    add("cloudwatch-region", default=None, help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1)")
    add("cloudwatch-endpoint", default=None, help="Endpoint URL, e.g. a local moto server (default: AWS_ENDPOINT_URL_CLOUDWATCH, else AWS)")
    add("cloudwatch-interval", type=float, default=1.0, help="Seconds between PutMetricData calls")
    add("cloudwatch-run-id", default=None, help="RunId dimension so runs do not mix (default: generated)")
    add("cloudwatch-dashboard", default=None, help="Create or update this CloudWatch dashboard (needs --aurora-instance)")
    add("aurora-instance", default=None,
        help="Writer instance identifier: the dashboard's AWS/RDS metrics, and ACU read back into the run report")


def _known_regions() -> set[str]:
    import boto3

    session = boto3.session.Session()
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("cloudwatch", partition_name=partition))
    return regions


def resolve(opts, metric: Metric | None = None) -> dict:
    """Effective region, endpoint and names (options first, then the scenario's metric and the AWS environment)."""
    region = opts.cloudwatch_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = opts.cloudwatch_endpoint or os.environ.get("AWS_ENDPOINT_URL_CLOUDWATCH") or os.environ.get("AWS_ENDPOINT_URL")
    run_id = opts.cloudwatch_run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    return dict(region=region, endpoint=endpoint or None, run_id=run_id, namespace=opts.cloudwatch_namespace,
                orders_namespace=opts.cloudwatch_orders_namespace or (metric.namespace if metric else None),
                offer_type=opts.cloudwatch_offer_type or (metric.dimension[1] if metric else None),
                interval=opts.cloudwatch_interval)


@validator
def _validate_when_used(opts) -> list[str]:
    return validate(opts) if opts.cloudwatch or opts.cloudwatch_dashboard else []


def validate(opts, metric: Metric | None = None) -> list[str]:
    """Problems with the CloudWatch options, one line each (empty when fine)."""
    s = resolve(opts, metric)
    found = []
    if s["region"] not in _known_regions():
        found.append(f"--cloudwatch-region {s['region']}: not a known AWS region (e.g. us-east-1, eu-west-1)")
    if s["endpoint"]:
        url = urlparse(s["endpoint"])
        if url.scheme not in ("http", "https") or not url.hostname:
            found.append(f"--cloudwatch-endpoint {s['endpoint']}: not an http(s) URL (e.g. http://127.0.0.1:5000)")
        else:
            try:
                url.port
            except ValueError:
                found.append(f"--cloudwatch-endpoint {s['endpoint']}: bad port")
    business = ("orders_namespace", "offer_type")  # None: no scenario metric, nothing to check
    for flag, key in (("--cloudwatch-namespace", "namespace"), ("--cloudwatch-orders-namespace", "orders_namespace")):
        problem = None if key in business and s[key] is None else cw_batch.namespace_problem(s[key])
        if problem:
            found.append(f"{flag} {s[key]!r}: {problem}")
    for flag, key in (("--cloudwatch-offer-type", "offer_type"), ("--cloudwatch-run-id", "run_id")):
        if key in business and s[key] is None:
            continue
        if not s[key] or len(s[key]) > 255 or not s[key].isprintable():
            found.append(f"{flag} {s[key]!r}: must be 1-255 printable characters")
    if not 0 < s["interval"] <= 60:
        found.append(f"--cloudwatch-interval {s['interval']:g}: must be greater than 0 and at most 60 seconds")
    dashboard = opts.cloudwatch_dashboard
    if dashboard is not None:
        problem = cw_dashboard.name_problem(dashboard)
        if problem:
            found.append(f"--cloudwatch-dashboard {dashboard!r}: {problem}")
        if not opts.aurora_instance:
            found.append("--cloudwatch-dashboard: needs --aurora-instance (the writer instance identifier)")
    return found


# -- turning aggregates into data -----------------------------------------------


def outage_data(final: bool = False) -> list[dict]:
    """One OutageSeconds datum per window not sent yet: closed ones, and with ``final`` open ones too."""
    data = []
    now = time.time()
    for w in outages.windows():
        key = (w["endpoint"], int(w["start"]))
        if key in _sent_outages or (w["end"] is None and not final):
            continue
        _sent_outages.add(key)
        seconds = outages.length(w, now)
        dims = cw_batch.dimensions({"Endpoint": w["endpoint"], "RunId": _settings["run_id"]})
        data.append(cw_batch.count_datum("OutageSeconds", dims, int(w["start"]), round(seconds, 3), unit="Seconds"))
    return data


def collect(runner=None, final: bool = False) -> dict[str, list[dict]]:
    """Everything aggregated since the last call, as data per namespace."""
    global _counts, _reported_drops
    s = _settings
    run = cw_batch.dimensions({"RunId": s["run_id"]})
    out: dict[str, list[dict]] = {s["namespace"]: []}
    business = out.setdefault(s["orders_namespace"], []) if _metric is not None else None
    data = out[s["namespace"]]
    rejected = 0
    for (name, request_type, second), (values, failures) in _take_latency().items():
        dims = cw_batch.dimensions({"Operation": name, "Engine": request_type, "RunId": s["run_id"]})
        latency, bad = cw_batch.distribution_data("Latency", dims, second, values)
        data.extend(latency)
        rejected += bad
        data.append(cw_batch.count_datum("Requests", dims, second, sum(values.values())))
        data.append(cw_batch.count_datum("Failures", dims, second, failures))
    batch, _counts = _counts, {}
    for (name, second), n in batch.items():
        data.append(cw_batch.count_datum(cw_batch.metric_name(name), run, second, n))
        if business is not None and name == _metric.counter:
            dims = cw_batch.dimensions({_metric.dimension[0]: s["offer_type"]})
            business.append(cw_batch.count_datum(_metric.name, dims, second, n))
    if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
        now = int(time.time())
        data.append(cw_batch.count_datum("Users", run, now, runner.user_count))
        data.append(cw_batch.count_datum("WarmUp", run, now, 0 if warmup.warm else 1, unit="None"))
    data.extend(outage_data(final))
    if rejected and _publisher is not None:
        _publisher.dropped["value CloudWatch refuses"] += rejected
    if _publisher is not None and _publisher.dropped_total() > _reported_drops:
        now_dropped = _publisher.dropped_total()
        data.append(cw_batch.count_datum("DroppedSamples", run, int(time.time()), now_dropped - _reported_drops))
        _reported_drops = now_dropped
    return out


def _publish(runner, send: bool = True, final: bool = False) -> None:
    for namespace, data in collect(runner, final).items():
        if data:
            _publisher.add(namespace, data)
    if send:
        _publisher.tick()


def _publish_forever(runner, interval: float) -> None:
    while True:
        gevent.sleep(interval)
        try:
            _publish(runner)
        except Exception:  # noqa: BLE001 - metrics must never end the run
            logger.exception("CloudWatch publishing failed; will try again")


# -- Locust events ------------------------------------------------------------------


@events.init.add_listener
def _on_init(environment, **_kwargs):
    global _publisher, _loop, _metric
    opts = environment.parsed_options
    if opts is None:
        return
    if is_worker(environment):
        _listen(opts.cloudwatch)
        return
    if environment.runner is None or not (opts.cloudwatch or opts.cloudwatch_dashboard):
        return
    _metric = metric_in_use(environment)
    refuse(validate(opts, _metric))
    _settings.update(resolve(opts, _metric))
    opts.cloudwatch_run_id = _settings["run_id"]
    client = make_client(_settings)
    where = _settings["endpoint"] or f"AWS {_settings['region']}"
    if opts.cloudwatch_dashboard:
        _put_dashboard(client, opts)
    if not opts.cloudwatch:
        return
    _publisher = Publisher(client)
    counters.subscribe(_on_counts)
    _listen(True)
    _loop = gevent.spawn(_publish_forever, environment.runner, _settings["interval"])
    logger.info("CloudWatch metrics to %s, namespace %s, run id %s (buffer bound %d MiB)",
                where, _settings["namespace"], _settings["run_id"], BUFFER_BYTES // 2**20)


def _put_dashboard(client, opts) -> None:
    business = None
    if _metric is not None:
        business = (_settings["orders_namespace"], _metric.name, _metric.dimension[0], _settings["offer_type"])
    body = cw_dashboard.body(region=_settings["region"], instance=opts.aurora_instance,
                             namespace=_settings["namespace"], run_id=_settings["run_id"], business=business)
    refuse([f"--cloudwatch-dashboard: invalid body: {p}" for p in cw_dashboard.problems(body)])
    import json

    try:
        answer = client.put_dashboard(DashboardName=opts.cloudwatch_dashboard, DashboardBody=json.dumps(body))
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        refuse([f"--cloudwatch-dashboard {opts.cloudwatch_dashboard}: cannot create it at "
               f"{_settings['endpoint'] or _settings['region']}: {exc}"])
    messages = answer.get("DashboardValidationMessages") or []
    for m in messages:
        logger.warning("dashboard %s: %s %s", opts.cloudwatch_dashboard, m.get("DataPath", ""), m.get("Message", ""))
    logger.info("CloudWatch dashboard %s created or updated", opts.cloudwatch_dashboard)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    # Workers get the master's options with the spawn message.
    if is_worker(environment) and environment.parsed_options is not None:
        _listen(bool(getattr(environment.parsed_options, "cloudwatch", False)))


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    if _publisher is not None and master_or_local(environment):
        _publish(environment.runner, send=False)
        _publisher.flush(STOP_FLUSH_SECONDS)


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if _publisher is None or not master_or_local(environment):
        return
    if _loop is not None:
        _loop.kill(block=False)
    _publish(environment.runner, send=False, final=True)
    _publish(environment.runner, send=False)  # the DroppedSamples datum for drops found just now
    left = _publisher.flush(QUIT_FLUSH_SECONDS)
    if left:
        _publisher.abandon("endpoint unreachable at exit")
    summary = summary_line(_publisher)
    sys.stdout.write("\n" + summary + "\n")
    sys.stdout.flush()
    if _publisher.dropped_total():
        reasons = ", ".join(f"{n} {reason}" for reason, n in _publisher.dropped.items())
        logger.warning("CloudWatch dropped %d samples: %s", _publisher.dropped_total(), reasons)


def summary_line(publisher: Publisher) -> str:
    return (f"CloudWatch: {publisher.calls} PutMetricData calls, {publisher.data_sent} data sent, "
            f"{publisher.dropped_total()} samples dropped (run id {_settings['run_id']})")
