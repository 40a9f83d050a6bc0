"""Aurora's capacity read back from CloudWatch: a synthetic AWS/RDS series in moto, real flash-sale runs.

The test writes a made-up instance's ServerlessDatabaseCapacity (ramp up,
plateau, drop) into moto with PutMetricData once the run has started, the
run reads it back through the counting proxy, and the report's figures are
checked against values computed here by hand from the injected series and
the load window the run reports. The proxy also answers GetMetricData with
Throttling or AccessDenied to check that the run goes on and says why.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

import browser
from conftest import REPO, order_rows, why
from moto_server import DUMMY_CREDENTIALS
from servers import free_port, stop_process, wait_port

from plugins.aws import aurora_figures, aurora_reader

INSTANCE = "synthetic-writer-1"


# -- the reader and the figures, without Locust ------------------------------------------------


class FakeClient:
    """Answers get_metric_data from a script: exceptions are raised, dicts returned."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []

    def get_metric_data(self, **kwargs):
        self.requests.append(kwargs)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _error(code, status=400):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetMetricData")


def _result(qid, points):
    return {"Id": qid, "Timestamps": [datetime.fromtimestamp(t, timezone.utc) for t, _ in points],
            "Values": [v for _, v in points], "StatusCode": "Complete"}


def test_requests_stay_within_aws_limits():
    found = aurora_reader.targets("w-1", "c-1", "r-1")
    qs = aurora_reader.queries(found, 60)
    assert len(qs) == 11 and len({q["Id"] for q in qs}) == 11
    start, end = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, 1, tzinfo=timezone.utc)
    assert aurora_reader.call_problems({"MetricDataQueries": qs, "StartTime": start, "EndTime": end}) == []
    too_many = [dict(q, Id=f"q{i}") for i, q in enumerate(qs * 46)]  # 506 queries
    assert any("506 queries" in p for p in aurora_reader.call_problems(
        {"MetricDataQueries": too_many, "StartTime": start, "EndTime": end}))
    per_second = aurora_reader.queries(found, 1)  # 11 queries x 3 hours at 1 s: 118,800 points
    late = datetime(2026, 1, 1, 3, tzinfo=timezone.utc)
    assert any("118800 data points" in p for p in aurora_reader.call_problems(
        {"MetricDataQueries": per_second, "StartTime": start, "EndTime": late}))
    pieces = aurora_reader.windows(start.timestamp(), late.timestamp(), 11, 1)
    assert len(pieces) == 2 and pieces[0][0] == start.timestamp() and pieces[-1][1] == late.timestamp()
    assert all(aurora_reader.datapoints(11, a, b, 1) <= aurora_reader.MAX_DATAPOINTS_PER_CALL for a, b in pieces)
    assert aurora_reader.period_problem(7) and aurora_reader.period_problem(90)
    assert not any(aurora_reader.period_problem(p) for p in (1, 5, 10, 20, 30, 60, 300))
    bad_id = [dict(qs[0], Id="ACU")]
    assert any("lower-case" in p for p in aurora_reader.call_problems(
        {"MetricDataQueries": bad_id, "StartTime": start, "EndTime": end}))


def test_reader_follows_next_token_retries_throttling_and_stops_when_denied():
    found = aurora_reader.targets("w-1", None, None)
    t = 1_800_000_000
    pages = [{"MetricDataResults": [_result("writer_acu", [(t, 0.5)])], "NextToken": "more"},
             {"MetricDataResults": [_result("writer_acu", [(t + 60, 2.0)])]}]
    sleeps = []
    client = FakeClient([_error("Throttling"), _error("ServiceUnavailable", 503), *pages])
    reader = aurora_reader.Reader(client, found, 60, sleep=sleeps.append)
    assert reader.read(t, t + 120)
    assert reader.points("writer_acu") == [(t, 0.5), (t + 60, 2.0)]
    assert reader.throttled == 2 and len(sleeps) == 2 and 0 < sleeps[0] <= sleeps[1] * 2
    assert client.requests[-1]["NextToken"] == "more" and client.requests[0]["ScanBy"] == "TimestampAscending"
    assert client.requests[0]["StartTime"].timestamp() % 60 == 0  # aligned as CloudWatch would round it
    # A late point replaces what an earlier read saw.
    client.answers = [{"MetricDataResults": [_result("writer_acu", [(t + 60, 3.0)])]}]
    assert reader.read(t, t + 120) and reader.points("writer_acu")[-1] == (t + 60, 3.0)
    # Throttled on every attempt: this read gives up, the reader does not.
    client.answers = [_error("Throttling")] * 3
    assert not reader.read(t, t + 120) and reader.stopped is None and reader.failed_reads == 1
    client.answers = [_error("AccessDenied", 403)]
    assert not reader.read(t, t + 120)
    assert reader.stopped.startswith("GetMetricData denied (AccessDenied")
    calls = reader.calls
    assert not reader.read(t, t + 120) and reader.calls == calls  # no more calls once denied


def test_figures_by_hand():
    # Users: 0 at 100, 10 from 101, held, 20 from 120 (a second load step), gone at 140.
    users = [(100.0, 0)] + [(100.0 + s, 10) for s in range(1, 20)] + [(120.0 + s, 20) for s in range(20)] + [(140.0, 0)]
    steps = aurora_figures.load_steps(users, 100.0)
    assert steps == [100.0, 120.0]
    assert aurora_figures.load_end(users, 141.0) == 140.0
    acu = [(90.0 + s, 0.5) for s in range(13)] + [(103.0, 2.0), (104.0, 4.0)] + [(105.0 + s, 4.0) for s in range(17)]
    acu += [(122.0, 6.0)] + [(123.0 + s, 6.0) for s in range(20)] + [(143.0, 3.0), (144.0, 0.5)]
    f = aurora_figures.summary(acu, 1, steps, 140.0, work=400, work_name="orders")
    assert f["peak_acu"] == 6.0 and f["peak_time"] == 122.0 and f["time_to_peak_s"] == 22.0
    assert f["scale_up_s"] == 3.0 and f["steps"][1]["scale_up_s"] == 2.0  # 103 - 100, 122 - 120
    assert f["scale_down_s"] == 4.0  # back to 0.5 at 144, load ended at 140
    by_hand = 3 * 0.5 + 2 + 4 + 17 * 4.0 + 6.0 + 17 * 6.0  # seconds 100..139: 100-102, 103, 104, 105-121, 122, 123-139
    assert f["acu_seconds"] == pytest.approx(by_hand)
    assert f["acu_seconds_per_1000"] == pytest.approx(by_hand / 400 * 1000)
    assert aurora_figures.acu_seconds([(100.0, 2.0)], 60, 130.0, 145.0) == 30.0  # a minute's point, 15 s of it inside


# -- real runs against moto ------------------------------------------------------------------


class LocustProcess:
    """A headless locust run whose output is read as it comes (the test acts when the load starts)."""

    def __init__(self, args, env):
        self.lines: list[str] = []
        self.started = threading.Event()
        self.proc = subprocess.Popen([sys.executable, "-m", "locust", *args], cwd=REPO, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **DUMMY_CREDENTIALS, **env})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if "Ramping to" in line or "Sending spawn jobs" in line:  # local runner, master
                self.started.set()

    def wait(self, timeout=150) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(10)
        return rc

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _flash_sale(proxy, db, reports, *extra, seconds=14, processes=True):
    ports = []
    if processes:
        port = str(free_port())
        ports = ["--processes", "2", "--master-port", port, "--master-bind-port", port]
    return ["-f", "locustfiles/flash_sale.py", "--headless", "-u", "6", "-r", "6", "-t", f"{seconds}s", *ports,
            "--db-name", db, "--db-init", "--flash-stock", "1000000", "--only-summary", "--report-dir", str(reports),
            "--cloudwatch", "--cloudwatch-endpoint", proxy.url, "--aurora-instance", INSTANCE, *extra]


def _put_series(client, series):
    dims = [{"Name": "DBInstanceIdentifier", "Value": INSTANCE}]
    data = []
    for t, acu in series:
        when = datetime.fromtimestamp(t, timezone.utc)
        data.append({"MetricName": "ServerlessDatabaseCapacity", "Dimensions": dims, "Timestamp": when, "Value": acu,
                     "StorageResolution": 1})
        data.append({"MetricName": "ACUUtilization", "Dimensions": dims, "Timestamp": when, "Value": acu / 16 * 100,
                     "Unit": "Percent", "StorageResolution": 1})
        data.append({"MetricName": "CPUUtilization", "Dimensions": dims, "Timestamp": when, "Value": acu * 9,
                     "Unit": "Percent", "StorageResolution": 1})
    for i in range(0, len(data), 500):
        client.put_metric_data(Namespace="AWS/RDS", MetricData=data[i:i + 500])


def _synthetic(base: int) -> list[tuple[int, float]]:
    """0.5 ACU until base+2, ramp 2/4/6/8 over base+3..6, plateau at 8, drop 6/4/2 from base+18, 0.5 from base+21."""
    series = []
    for t in range(base - 20, base + 40):
        if t <= base + 2:
            acu = 0.5
        elif t <= base + 6:
            acu = 2.0 * (t - base - 2)
        elif t < base + 18:
            acu = 8.0
        elif t < base + 21:
            acu = 8.0 - 2.0 * (t - base - 17)
        else:
            acu = 0.5
        series.append((t, acu))
    return series


def test_report_figures_match_the_injected_series(mysql_db, cloudwatch_endpoint, tmp_path):
    proxy, moto = cloudwatch_endpoint
    reports = tmp_path / "reports"
    proxy.refuse = {"GetMetricData": (400, "Throttling", "Rate exceeded")}  # the first reads are throttled
    run = LocustProcess(_flash_sale(proxy, mysql_db, reports, "--aurora-period", "1", "--aurora-interval", "2",
                                    "--observe-after", "12s", "--check-max-acu", "7.5", "--check-scale-up-s", "30",
                                    "--db-stats-interval", "1"), env={})
    assert run.started.wait(90), why(run.output)
    seen_start = time.time()
    base = int(seen_start)
    series = _synthetic(base)
    _put_series(moto.client(), series)
    deadline = time.monotonic() + 20
    while proxy.count("GetMetricData") < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    proxy.refuse = {}
    rc = run.wait()
    out = run.output
    assert rc == 3, out[-3000:]  # --check-max-acu 7.5 fails: the series peaks at 8

    events = json.load(open(reports / "db_events.json"))["aurora"]
    start, end = events["load_start"], events["load_end"]
    assert seen_start - 5 < start <= seen_start + 2 and 12 < end - start < 18
    # By hand, from the series above and the load window the run reports:
    orders = order_rows(mysql_db)
    acu_s = sum(v * max(0.0, min(t + 1, end) - max(t, start)) for t, v in series)
    assert orders > 0 and events["work"] == orders and events["work_name"] == "orders"
    assert events["peak_acu"] == 8.0 and events["peak_time"] == base + 6
    assert events["scale_up_s"] == pytest.approx(base + 3 - start, abs=0.001)
    assert events["time_to_peak_s"] == pytest.approx(base + 6 - start, abs=0.001)
    assert events["scale_down_s"] == pytest.approx(base + 21 - end, abs=0.001)
    assert events["acu_seconds"] == pytest.approx(acu_s, abs=0.001)
    assert events["acu_seconds_per_1000"] == pytest.approx(acu_s / orders * 1000, abs=0.001)
    assert events["throttled"] >= 3 and events["missing"] is None, out[-3000:]

    # The console says the same.
    assert f"peak ACU:                      8 at" in out
    assert re.search(rf"ACU-seconds per 1,000 orders:\s+{events['acu_seconds_per_1000']:g} \({orders} orders\)", out)
    assert f"time to scale up:              {events['scale_up_s']:g} s" in out
    assert "check FAIL: peak ACU 8 (limit 7.5)" in out
    assert "check PASS: ACU rose within 30 s of 1 of 1 load steps" in out
    assert "Observing Aurora for" in out and "GetMetricData failed after 3 attempts (Throttling" in out

    # Bounded calls: about one per 2 s interval over ~30 s (each retried up to 3 times), and the final re-read.
    calls = proxy.count("GetMetricData")
    assert 6 <= calls <= 40, calls
    for body in proxy.bodies("GetMetricData"):
        assert len(body["MetricDataQueries"]) == 5 and body["ScanBy"] == "TimestampAscending"

    # db_stats.csv: the ACU as known at each sample.
    with open(reports / "db_stats.csv") as f:
        rows = list(csv.DictReader(f))
    acus = [float(r["acu"]) for r in rows if r.get("acu")]
    assert acus and set(acus) <= {v for _, v in series}

    # The report: the chart, the table, and what it looks like.
    page = (reports / "run_report.html").read_text()
    assert "Aurora capacity against the load" in page and "aurora_capacity.png" in page
    assert re.search(rf"<td>ACU-seconds per 1,000 orders</td><td>{events['acu_seconds_per_1000']:g}</td>", page)
    png = reports / "aurora_capacity.png"
    assert png.stat().st_size > 20000
    shot = os.path.join(browser.screenshot_dir(tmp_path), "run_report_aurora.png")
    result = browser.screenshot(f"file://{reports / 'run_report.html'}", shot, size="1200,1400", wait_ms=3000)
    assert result.returncode == 0 and os.path.getsize(shot) > 20000, result.stderr[-2000:]
    loaded = browser.dom(f"file://{reports / 'run_report.html'}", wait_ms=3000)
    assert 'data-plots-loaded="6/6"' in loaded.stdout


def test_denied_get_metric_data_run_goes_on_and_says_why(mysql_db, cloudwatch_endpoint, tmp_path):
    proxy, _moto = cloudwatch_endpoint
    reports = tmp_path / "reports"
    proxy.refuse = {"GetMetricData": (403, "AccessDenied", "User: arn:aws:iam::1:user/x is not authorized to "
                                      "perform: cloudwatch:GetMetricData")}
    run = LocustProcess(_flash_sale(proxy, mysql_db, reports, "--aurora-interval", "2", seconds=6, processes=False),
                        env={})
    rc = run.wait()
    out = run.output
    assert rc == 0, out[-3000:]
    assert order_rows(mysql_db) > 0
    denied = [line for line in out.splitlines() if "GetMetricData denied" in line and "WARNING" in line]
    assert len(denied) == 1 and "cloudwatch:GetMetricData" in denied[0], out[-3000:]
    assert proxy.count("GetMetricData") == 1  # no more calls once denied
    assert "no ACU chart: GetMetricData denied (AccessDenied" in out
    page = (reports / "run_report.html").read_text()
    assert "No ACU chart: GetMetricData denied (AccessDenied" in page
    assert not (reports / "aurora_capacity.png").exists()


def test_throttled_throughout_and_wrong_instance(mysql_db, cloudwatch_endpoint, tmp_path):
    proxy, _moto = cloudwatch_endpoint
    reports = tmp_path / "reports"
    proxy.refuse = {"GetMetricData": (400, "Throttling", "Rate exceeded")}
    run = LocustProcess(_flash_sale(proxy, mysql_db, reports, "--aurora-interval", "2", "--check-max-acu", "4",
                                    seconds=5, processes=False), env={})
    rc = run.wait()
    out = run.output
    assert rc == 3, out[-3000:]  # the check has no data to pass on
    assert order_rows(mysql_db) > 0
    assert "no ACU chart: GetMetricData failed on every attempt (Throttling: Rate exceeded)" in out
    assert "check FAIL: peak ACU: no data" in out
    assert "No ACU chart: GetMetricData failed on every attempt" in (reports / "run_report.html").read_text()

    proxy.refuse = {}  # a reachable CloudWatch without the instance's data: the identifier is wrong
    run = LocustProcess(_flash_sale(proxy, mysql_db, reports, seconds=3, processes=False), env={})
    assert run.wait() == 0, why(run.output)
    assert f"no ACU chart: no ServerlessDatabaseCapacity data for DBInstanceIdentifier={INSTANCE}" in run.output


@pytest.mark.parametrize("args, message", [
    (["--cloudwatch", "--aurora-instance", "w-1", "--aurora-period", "7"], "--aurora-period 7: must be 1, 5, 10"),
    (["--cloudwatch", "--aurora-instance", "w-1", "--observe-after", "soon"], "--observe-after soon: not a duration"),
    (["--aurora-cluster", "c-1"], "--aurora-cluster c-1: needs --cloudwatch"),
    (["--cloudwatch", "--check-max-acu", "8"], "--check-max-acu: needs --aurora-instance or --aurora-cluster"),
    (["--cloudwatch", "--aurora-instance", "1bad--id"], "--aurora-instance 1bad--id: not an RDS identifier"),
])
def test_bad_aurora_options_refused_before_load(locust, args, message):
    # A database that does not exist: the options are checked before the preflight connects.
    run = locust("-f", "locustfiles/flash_sale.py", "--headless", "-u", "1", "-t", "2s", "--db-name", "no_such_db",
                 "--cloudwatch-endpoint", "http://127.0.0.1:9", *args, timeout=60, env=DUMMY_CREDENTIALS)
    assert run.returncode == 2, why(run.output)
    assert f"dbswarm: {message}" in run.stderr
    assert run.requests() == 0


def test_database_tab_shows_acu_beside_the_servers_figures(mysql_db, cloudwatch_endpoint, tmp_path):
    import urllib.request


    proxy, moto = cloudwatch_endpoint
    now = int(time.time())
    _put_series(moto.client(), [(t, 3.5) for t in range(now - 60, now + 90)])
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "locustfiles/flash_sale.py", "--db-name", mysql_db, "--db-init",
         "--web-host", "127.0.0.1", "--web-port", str(port), "--autostart", "-u", "2", "-r", "2", "-t", "30s",
         "--db-stats-interval", "1", "--report-dir", str(tmp_path / "reports"), "--cloudwatch",
         "--cloudwatch-endpoint", proxy.url, "--aurora-instance", INSTANCE, "--aurora-period", "1",
         "--aurora-interval", "1"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, **DUMMY_CREDENTIALS})
    try:
        wait_port(port, timeout=30)
        rows = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=10) as resp:
                stats = json.loads(resp.read())
            tabs = {t["key"]: t["data"] for t in stats.get("extended_stats", [])}
            rows = {r["metric"]: r for r in tabs.get("database", [])}
            if "ACU (CloudWatch)" in rows and "connections" in rows and rows["ACU (CloudWatch)"]["value"] != "-":
                break
            time.sleep(1)
        assert rows["ACU (CloudWatch)"]["value"] == "3.5", rows
        assert rows["ACU utilization % (CloudWatch)"]["value"] == f"{round(3.5 / 16 * 100, 2):g}"
        assert int(rows["connections"]["value"]) >= 3  # the server's own figure, in the same table
        url = f"http://127.0.0.1:{port}/?tab=database"
        result = browser.dom(url, wait_ms=6000)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "ACU (CloudWatch)" in result.stdout and "history list length" in result.stdout
        shot = os.path.join(browser.screenshot_dir(tmp_path), "web_ui_database_tab_acu.png")
        result = browser.screenshot(url, shot, size="1400,1100", wait_ms=6000)
        assert result.returncode == 0 and os.path.getsize(shot) > 20000, result.stderr[-2000:]
    finally:
        stop_process(proc, timeout=30)
