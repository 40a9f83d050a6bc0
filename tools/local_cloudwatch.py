#!/usr/bin/env python3
"""A local CloudWatch (moto's server) for `make run`, and the Orders check at the end.

    tools/local_cloudwatch.py start --state DIR       # prints the endpoint URL
    tools/local_cloudwatch.py stop --state DIR        # stops the server started with DIR
    tools/local_cloudwatch.py orders --endpoint URL --since EPOCH

``orders`` prints how many Orders CloudWatch holds since the run started next
to the order rows in the flash sale's database.
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
    args = parser.parse_args()
    if args.command == "start":
        start(args.state)
    elif args.command == "stop":
        stop(args.state)
    else:
        orders(args.endpoint, args.since, args.namespace, args.offer_type)


if __name__ == "__main__":
    main()
