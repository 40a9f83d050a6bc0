#!/usr/bin/env python3
"""A local CloudWatch (moto's server) for `make run`, and the Orders check at the end.

    tools/local_cloudwatch.py start --state DIR       # prints the endpoint URL
    tools/local_cloudwatch.py stop --state DIR        # stops the server started with DIR
    tools/local_cloudwatch.py orders --endpoint URL --since EPOCH
    tools/local_cloudwatch.py acu --endpoint URL --instance ID --run-time 60s

``orders`` prints how many Orders CloudWatch holds since the run started next
to the order rows in the flash sale's database. ``acu`` writes a SYNTHETIC
Aurora Serverless v2 series for a made-up instance into a local CloudWatch
(AWS/RDS, high resolution, one point a second), shaped like the lab's
picture: idle at 0.5 ACU, a ramp up to 9 ACU when the load starts, a
plateau, and a drop back to 0.5 after the load ends, so `make run
AURORA_DEMO=1` can draw the lab's chart without an Aurora cluster. Never
point it at real CloudWatch.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(state: str) -> None:
    os.makedirs(state, exist_ok=True)
    port = _free_port()
    log = open(os.path.join(state, "moto.log"), "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    with open(os.path.join(state, "moto.pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                print(f"http://127.0.0.1:{port}")
                return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.terminate()
    sys.exit(f"local CloudWatch (moto) did not start on port {port}; see {state}/moto.log")


def stop(state: str) -> None:
    path = os.path.join(state, "moto.pid")
    if not os.path.exists(path):
        return
    with open(path) as f:
        pid = int(f.read().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    os.remove(path)


def orders(endpoint: str | None, since: int, namespace: str, offer_type: str) -> None:
    import boto3
    import pymysql

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    client = boto3.session.Session().client("cloudwatch", region_name=region, endpoint_url=endpoint or None)
    start = datetime.fromtimestamp(since, timezone.utc) - timedelta(minutes=1)
    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    points = client.get_metric_statistics(
        Namespace=namespace, MetricName="Orders", Dimensions=[{"Name": "OfferType", "Value": offer_type}],
        StartTime=start, EndTime=end, Period=60, Statistics=["Sum"],
    )["Datapoints"]
    in_cloudwatch = int(sum(p["Sum"] for p in points))
    env = os.environ.get
    conn = pymysql.connect(
        host=env("DBSWARM_DB_HOST", "127.0.0.1"), port=int(env("DBSWARM_DB_PORT", "3306")),
        user=env("DBSWARM_DB_USER", "root"), password=env("DBSWARM_DB_PASSWORD", ""),
        database=env("DBSWARM_DB_NAME", "myshop"),
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM orders")
        in_database = int(cur.fetchone()[0])
    finally:
        conn.close()
    print(f"Orders in CloudWatch for this run: {in_cloudwatch} (database: {in_database})")


def synthetic_acu(start: int, run_s: int, low: float = 0.5, high: float = 9.0) -> list[tuple[int, float]]:
    """(epoch second, ACU): idle, a ramp over a fifth of the run, a plateau, a drop after the load.

    ``start`` is when the series is written, a few seconds before Locust's
    users start (the master forks its workers and seeds the database first).
    """
    ramp_from, ramp_s = start + 10 + run_s // 20, max(5, run_s // 5)
    drop_from, drop_s = start + run_s + 10, max(5, run_s // 4)
    points = []
    for t in range(start - 30, drop_from + drop_s + 60):
        if t < ramp_from:
            acu = low
        elif t < ramp_from + ramp_s:
            acu = low + (high - low) * (t - ramp_from + 1) / ramp_s
        elif t < drop_from:
            acu = high
        elif t < drop_from + drop_s:
            acu = high - (high - low) * (t - drop_from + 1) / drop_s
        else:
            acu = low
        points.append((t, round(acu * 2) / 2))  # Aurora moves in half ACUs
    return points


def seed_acu(endpoint: str, instance: str, run_s: int, max_acu: float = 9.0) -> None:
    import boto3

    if not endpoint or "amazonaws.com" in endpoint or endpoint == "aws":
        sys.exit("acu: synthetic data go to a local CloudWatch only (--endpoint http://127.0.0.1:PORT)")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    client = boto3.session.Session().client("cloudwatch", region_name=region, endpoint_url=endpoint)
    dims = [{"Name": "DBInstanceIdentifier", "Value": instance}]
    data = []
    for t, acu in synthetic_acu(int(time.time()), run_s, high=max_acu):
        when = datetime.fromtimestamp(t, timezone.utc)
        share = acu / max_acu * 100
        for name, value, unit in (("ServerlessDatabaseCapacity", acu, "None"), ("ACUUtilization", share, "Percent"),
                                  ("CPUUtilization", min(100.0, share * 0.8 + 3), "Percent"),
                                  ("DatabaseConnections", acu * 20, "Count"),
                                  ("FreeableMemory", (max_acu * 2 - acu) * 2**30, "Bytes")):
            data.append({"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": value, "Unit": unit,
                         "StorageResolution": 1})
    for i in range(0, len(data), 1000):
        client.put_metric_data(Namespace="AWS/RDS", MetricData=data[i:i + 1000])
    seconds = len(data) // 5
    print(f"Synthetic ACU series for {instance} in {endpoint}: {seconds} seconds (0.5 -> {max_acu:g} -> 0.5 ACU)",
          file=sys.stderr)
    # The options that read it back (stdout, for tools/cloudwatch_run.sh): one point a second, and long
    # enough after the load to see the drop.
    after = max(5, run_s // 4) + 20
    print(f"--aurora-instance {instance} --aurora-period 1 --aurora-interval 5 --observe-after {after}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop"):
        sub.add_parser(name).add_argument("--state", required=True, help="directory for the pid and log")
    check = sub.add_parser("orders")
    check.add_argument("--endpoint", default=None)
    check.add_argument("--since", type=int, required=True, help="epoch second the run started")
    check.add_argument("--namespace", default="MyFlashSale/Orders")
    check.add_argument("--offer-type", default="FlashSale")
    acu = sub.add_parser("acu")
    acu.add_argument("--endpoint", required=True)
    acu.add_argument("--instance", required=True)
    acu.add_argument("--run-time", default="60s", help="the run's -t (e.g. 60s, 2m)")
    args = parser.parse_args()
    if args.command == "acu":
        seed_acu(args.endpoint, args.instance, _seconds(args.run_time))
    elif args.command == "start":
        start(args.state)
    elif args.command == "stop":
        stop(args.state)
    else:
        orders(args.endpoint, args.since, args.namespace, args.offer_type)


def _seconds(text: str) -> int:
    total, number = 0, ""
    for ch in text.strip():
        if ch.isdigit():
            number += ch
        elif ch in "hms" and number:
            total += int(number) * {"h": 3600, "m": 60, "s": 1}[ch]
            number = ""
        else:
            sys.exit(f"--run-time {text}: not a duration (e.g. 60s, 2m)")
    return total + int(number or 0)


if __name__ == "__main__":
    main()
