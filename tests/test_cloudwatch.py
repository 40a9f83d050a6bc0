"""CloudWatch plugin against a real moto server and the real MariaDB.

Every run goes through a counting proxy in front of moto, so the tests see
each PutMetricData call exactly as the plugin sent it.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import mysql_conn, order_rows, run_locust, unique_name, why
from moto_server import DUMMY_CREDENTIALS, EndpointProxy, MotoServer
from request_log import warmup_ends
from servers import free_port

from plugins.aws import cw_batch, cw_dashboard

ORDERS = ("MyFlashSale/Orders", "Orders", [{"Name": "OfferType", "Value": "FlashSale"}])


def _stats(client, namespace, metric, dims, start, end, period=60):
    """Sum, SampleCount, Minimum, Maximum over [start, end] (one figure each)."""
    answer = client.get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=dims, StartTime=start, EndTime=end,
        Period=period, Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
    )
    points = answer["Datapoints"]
    if not points:
        return dict(Sum=0.0, SampleCount=0.0, Minimum=None, Maximum=None, points=[])
    return dict(
        Sum=sum(p["Sum"] for p in points), SampleCount=sum(p["SampleCount"] for p in points),
        Minimum=min(p["Minimum"] for p in points), Maximum=max(p["Maximum"] for p in points), points=points,
    )


def _window():
    now = datetime.now(timezone.utc)
    return now - timedelta(minutes=10), now + timedelta(minutes=2)


def _flash_sale(endpoint, db, *extra, users=40, seconds=20, processes=True):
    return [
        "-f", "locustfiles/flash_sale.py", "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
        *(_processes() if processes else []), "--db-name", db, "--db-init", "--flash-stock", "1000000",
        "--cloudwatch", "--cloudwatch-endpoint", endpoint, *extra,
    ]


def _processes():
    """Two worker processes on a master port of their own (other runs may hold Locust's default 5557)."""
    port = str(free_port())
    return ["--processes", "2", "--master-bind-port", port, "--master-port", port]


def _assert_within_limits(proxy: EndpointProxy):
    now = time.time()
    for body, (wire, plain) in zip(proxy.bodies(), proxy.sizes()):
        assert wire <= plain <= cw_batch.MAX_PAYLOAD_BYTES  # within 1 MB even before botocore's gzip
        assert cw_batch.check_call(body["Namespace"], body["MetricData"], now) == []


@pytest.fixture(scope="module")
def full_load_run(tmp_path_factory):
    """One 20 s flash sale at full load with --processes 2, shared by the round-trip tests."""
    db = unique_name()
    with mysql_conn() as conn:
        conn.cursor().execute(f"CREATE DATABASE `{db}`")
    moto = MotoServer().start()
    proxy = EndpointProxy(moto.port).start()
    try:
        run = run_locust(_flash_sale(proxy.url, db, "--cloudwatch-run-id", "full-load"),
                         tmp_path_factory.mktemp("cw"), timeout=120, env=DUMMY_CREDENTIALS)
        assert run.returncode == 0, why(run.output)
        yield run, proxy, moto.client(), db
    finally:
        proxy.stop()
        moto.stop()
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_orders_in_cloudwatch_equal_database_and_locust(full_load_run):
    run, _proxy, client, db = full_load_run
    orders = _stats(client, *ORDERS, *_window())
    rows = order_rows(db)
    assert rows > 0 and run.failures() == 0
    assert orders["Sum"] == rows == run.count("place_order")
    assert f"orders placed (this run):   {rows}" in run.stdout
    assert "0 samples dropped" in run.stdout
    # One datum per second at most per report: many seconds, each holding that second's orders.
    assert len(orders["points"]) >= 1 and orders["SampleCount"] >= 15


def test_latency_round_trips_per_operation(full_load_run):
    run, _proxy, client, _db = full_load_run
    start, end = _window()
    checked = 0
    for entry in run.stats:
        dims = [{"Name": "Operation", "Value": entry["name"]}, {"Name": "Engine", "Value": entry["method"]},
                {"Name": "RunId", "Value": "full-load"}]
        latency = _stats(client, "dbswarm", "Latency", dims, start, end)
        n = entry["num_requests"]
        assert latency["SampleCount"] == n, entry["name"]
        # Values are rounded to microseconds: the sum may drift by half a microsecond per request.
        assert latency["Sum"] == pytest.approx(entry["total_response_time"], abs=0.0005 * n + 1e-6)
        assert latency["Minimum"] == pytest.approx(entry["min_response_time"], abs=0.0006)
        assert latency["Maximum"] == pytest.approx(entry["max_response_time"], abs=0.0006)
        assert _stats(client, "dbswarm", "Requests", dims, start, end)["Sum"] == n
        assert _stats(client, "dbswarm", "Failures", dims, start, end)["Sum"] == entry["num_failures"]
        checked += 1
    assert checked >= 3  # browse_category, place_order, lookup_order (and connect)
    users = _stats(client, "dbswarm", "Users", [{"Name": "RunId", "Value": "full-load"}], start, end)
    assert users["Maximum"] == 40


def test_put_metric_data_calls_stay_near_one_per_second(full_load_run):
    run, proxy, _client, _db = full_load_run
    calls = proxy.count("PutMetricData")
    assert 5 <= calls <= 25, calls
    assert f"CloudWatch: {calls} PutMetricData calls" in run.stdout
    _assert_within_limits(proxy)


def test_burst_is_split_within_aws_limits(locust, cloudwatch_endpoint):
    proxy, moto = cloudwatch_endpoint
    run = locust("-f", "tests/locustfiles/cw_burst.py", "--headless", "-u", "1", "-r", "1", "-t", "6s",
                 "--cloudwatch", "--cloudwatch-endpoint", proxy.url, "--cloudwatch-run-id", "burst",
                 timeout=120, env=DUMMY_CREDENTIALS)
    assert run.returncode == 0, why(run.output)
    bodies = proxy.bodies()
    _assert_within_limits(proxy)
    latency_data = [d for b in bodies for d in b["MetricData"] if d["MetricName"] == "Latency"]
    per_op: dict[str, list[float]] = {}
    for d in latency_data:
        per_op.setdefault(d["Dimensions"][0]["Value"], []).extend(d["Values"])
        assert set(d["Counts"]) == {1.0}
    assert len(per_op) == 40 and all(sorted(v) == sorted(set(v)) and len(v) == 5000 for v in per_op.values())
    assert len(latency_data) >= 40 * 34  # 5000 values in data of at most 150 (more if a second ended mid-burst)
    assert max(len(d["Values"]) for d in latency_data) == cw_batch.MAX_VALUES_PER_DATUM
    # More than fits in one call (1000 data or 1 MB), so the limits, and only they, forced extra calls.
    assert len(bodies) >= 3
    client = moto.client()
    start, end = _window()
    for op in (0, 17, 39):
        dims = [{"Name": "Operation", "Value": f"op_{op:02d}"}, {"Name": "Engine", "Value": "BURST"},
                {"Name": "RunId", "Value": "burst"}]
        latency = _stats(client, "dbswarm", "Latency", dims, start, end)
        assert latency["SampleCount"] == 5000
        assert latency["Minimum"] == 1.0 and latency["Maximum"] == pytest.approx(5.999)
    assert "0 samples dropped" in run.stdout


def test_outage_loses_no_orders_and_load_goes_on(locust, mysql_db, cloudwatch_endpoint):
    proxy, moto = cloudwatch_endpoint
    result = {}
    worker = threading.Thread(target=lambda: result.update(run=locust(
        *_flash_sale(proxy.url, mysql_db, "--cloudwatch-run-id", "outage", users=20, seconds=22),
        timeout=150, env=DUMMY_CREDENTIALS)))
    worker.start()
    time.sleep(6)
    proxy.stop()
    down = time.time()
    time.sleep(10)
    proxy.start()
    up = time.time()
    worker.join(200)
    run = result["run"]
    assert run.returncode == 0, why(run.output)
    client = moto.client()
    rows = order_rows(mysql_db)
    assert rows > 0
    assert _stats(client, *ORDERS, *_window())["Sum"] == rows == run.count("place_order")
    assert "CloudWatch call failed" in run.output
    assert "0 samples dropped" in run.stdout
    # The load went on while the endpoint was down: those seconds' requests arrived later.
    during = _stats(client, "dbswarm", "Requests", [{"Name": "RunId", "Value": "outage"}],
                    datetime.fromtimestamp(int(down) + 1, timezone.utc), datetime.fromtimestamp(int(up) - 1, timezone.utc))
    assert during["Sum"] > 0
    orders_during = _stats(client, *ORDERS, datetime.fromtimestamp(int(down) + 1, timezone.utc),
                           datetime.fromtimestamp(int(up) - 1, timezone.utc), period=1)
    assert orders_during["Sum"] > 0


def test_dashboard_widgets_and_the_warm_up_tagged(locust, mysql_db, cloudwatch_endpoint, tmp_path):
    proxy, moto = cloudwatch_endpoint
    log = tmp_path / "req"
    run = locust(*_flash_sale(proxy.url, mysql_db, "--cloudwatch-dashboard", "aurora-serverless-v2",
                              "--aurora-instance", "writer-1", "--cloudwatch-run-id", "dash", "--warmup", "2s",
                              "--request-log", str(log), users=2, seconds=5, processes=False),
                 timeout=60, env=DUMMY_CREDENTIALS)
    assert run.returncode == 0, why(run.output)
    # WarmUp, read back per second: 1 in the seconds that ended before the warm-up did, 0 from its end on.
    (warm_end,) = warmup_ends(log)
    points = _stats(moto.client(), "dbswarm", "WarmUp", [{"Name": "RunId", "Value": "dash"}], *_window(),
                    period=1)["points"]
    by_second = {int(p["Timestamp"].timestamp()): p["Maximum"] for p in points}
    assert 1.0 in by_second.values() and 0.0 in by_second.values(), by_second
    for second, value in by_second.items():
        if second + 1 <= warm_end:
            assert value == 1.0, (second, warm_end, by_second)
        elif second >= warm_end:
            assert value == 0.0, (second, warm_end, by_second)
    body = json.loads(moto.client().get_dashboard(DashboardName="aurora-serverless-v2")["DashboardBody"])
    assert cw_dashboard.problems(body) == []
    widgets = body["widgets"]
    by_title = {w["properties"]["title"]: w["properties"] for w in widgets}
    assert len(widgets) == 4
    scaling = by_title["Orders vs Aurora capacity (ACU)"]
    assert scaling["metrics"] == [
        ["AWS/RDS", "ServerlessDatabaseCapacity", "DBInstanceIdentifier", "writer-1", {"yAxis": "right"}],
        ["MyFlashSale/Orders", "Orders", "OfferType", "FlashSale", {"stat": "Sum"}],
    ]
    assert scaling["period"] == 1 and scaling["region"] == "us-east-1"
    latency = by_title["Latency p50 / p99 per operation (run dash)"]
    expressions = [row[0]["expression"] for row in latency["metrics"] if isinstance(row[0], dict)]
    assert len(expressions) == 2
    assert latency["metrics"][2][:4] == ["dbswarm", "WarmUp", "RunId", "dash"]
    assert latency["metrics"][2][4]["yAxis"] == "right" and latency["yAxis"]["right"]["max"] == 1
    assert all('MetricName="Latency"' in e and 'RunId="dash"' in e for e in expressions)
    assert "'p50'" in expressions[0] and "'p99'" in expressions[1]
    assert by_title["Database connections"]["metrics"] == [["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "writer-1"]]
    assert by_title["ACU utilization (%)"]["metrics"] == [["AWS/RDS", "ACUUtilization", "DBInstanceIdentifier", "writer-1"]]


def test_dashboard_body_validation_finds_mistakes():
    body = cw_dashboard.body(region="us-east-1", instance="w", namespace="dbswarm", run_id="r",
                             business=("MyFlashSale/Orders", "Orders", "OfferType", "FlashSale"))
    assert cw_dashboard.problems(body) == []
    body["widgets"][0]["properties"]["metrics"][1][-1]["stat"] = "Median"
    body["widgets"][1]["width"] = 30
    body["widgets"][2]["properties"]["period"] = 7
    found = cw_dashboard.problems(body)
    assert len(found) == 3, found


@pytest.mark.parametrize("args, message", [
    (["--cloudwatch-region", "mars-north-1"], "--cloudwatch-region mars-north-1: not a known AWS region"),
    (["--cloudwatch-endpoint", "ftp://127.0.0.1:1"], "--cloudwatch-endpoint ftp://127.0.0.1:1: not an http(s) URL"),
    (["--cloudwatch-interval", "0"], "--cloudwatch-interval 0: must be greater than 0"),
    (["--cloudwatch-namespace", "AWS/Mine"], "--cloudwatch-namespace 'AWS/Mine': namespaces starting with AWS/"),
    (["--cloudwatch-dashboard", "d"], "--cloudwatch-dashboard: needs --aurora-instance"),
])
def test_bad_options_stop_before_load(locust, mysql_db, args, message):
    run = locust(*_flash_sale("http://127.0.0.1:1", mysql_db, *args, users=1, seconds=1, processes=False),
                 timeout=60, env=DUMMY_CREDENTIALS)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.startswith("dbswarm:")]
    assert len(lines) == 1 and message in lines[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr and run.requests() == 0


def test_endpoint_from_environment_is_validated(locust, mysql_db):
    args = _flash_sale("http://127.0.0.1:1", mysql_db, users=1, seconds=1, processes=False)
    args = args[: args.index("--cloudwatch-endpoint")]
    run = locust(*args, timeout=60, env={**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL_CLOUDWATCH": "not a url"})
    assert run.returncode == 2
    assert "dbswarm: --cloudwatch-endpoint not a url: not an http(s) URL" in run.stderr


def test_buffer_bound_counts_what_it_drops_and_delivers_the_rest(cloudwatch_endpoint):
    """The publisher against the real endpoint: down, over its bound, then back."""
    from plugins.aws.cw_publisher import Publisher

    proxy, moto = cloudwatch_endpoint
    proxy.stop()
    publisher = Publisher(moto_client_via(proxy), bound_bytes=20_000)
    second = int(time.time()) - 5
    dims = cw_batch.dimensions({"RunId": "bound"})
    data = [cw_batch.count_datum("Ticks", dims, second, 1) for _ in range(400)]
    publisher.add("dbswarm", data)
    publisher.tick()
    assert publisher.failures == 1 and publisher.calls == 0
    kept = publisher.pending
    assert 0 < kept < 400 and publisher.buffered_bytes <= 20_000
    assert publisher.dropped["buffer full"] == 400 - kept
    proxy.start()
    assert publisher.flush(20) == 0
    total = _stats(moto.client(), "dbswarm", "Ticks", dims, *_window())
    assert total["Sum"] == kept
    assert publisher.dropped_total() + total["Sum"] == 400


def moto_client_via(proxy: EndpointProxy):
    """The plugin's own client (its retry and timeout settings), pointed at the proxy."""
    import boto3

    from plugins.aws.cw_publisher import make_client

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return make_client(dict(region="us-east-1", endpoint=proxy.url), session=session)
