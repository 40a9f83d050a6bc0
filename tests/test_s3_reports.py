"""Reports uploaded to S3 on quit, against moto's real S3 server."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import boto3
import pytest

from servers import free_port, wait_port
from conftest import why

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_endpoint():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_reports_are_uploaded_when_the_run_ends(locust, mysql_db, s3_endpoint, tmp_path):
    s3 = _s3(s3_endpoint)
    s3.create_bucket(Bucket="dbswarm-reports")
    run = locust(
        "-f", "locustfiles/flash_sale.py", "--headless", "-u", "5", "-r", "5", "-t", "4s",
        "--db-name", mysql_db, "--db-init", "--wait-min", "0.05", "--wait-max", "0.1",
        "--html", str(tmp_path / "run.html"), "--csv", str(tmp_path / "run"),
        "--report-s3-bucket", "dbswarm-reports", "--report-s3-prefix", "nightly/",
        "--report-s3-endpoint", s3_endpoint, env=AWS, timeout=90,
    )
    assert run.returncode == 0, why(run.output)
    listed = s3.list_objects_v2(Bucket="dbswarm-reports", Prefix="nightly/")["Contents"]
    keys = {o["Key"] for o in listed}
    run_dirs = {k.split("/")[1] for k in keys}
    assert len(run_dirs) == 1
    (run_dir,) = run_dirs
    assert f"Reports uploaded to s3://dbswarm-reports/nightly/{run_dir}/" in run.stdout
    names = {k.split("/", 2)[2] for k in keys}
    json_name = next(n for n in names if n.endswith(".json"))
    assert names == {"run.html", json_name, "run_stats.csv", "run_failures.csv", "run_exceptions.csv"}

    def body(name):
        return s3.get_object(Bucket="dbswarm-reports", Key=f"nightly/{run_dir}/{name}")["Body"].read()

    assert json.loads(body(json_name)) == run.stats  # the very file the run wrote
    assert body("run.html") == (tmp_path / "run.html").read_bytes()
    rows = {r["Name"]: r for r in csv.DictReader(io.StringIO(body("run_stats.csv").decode()))}
    assert int(rows["place_order"]["Request Count"]) == run.count("place_order") > 0
    assert int(rows["Aggregated"]["Request Count"]) == run.requests()


def test_a_bad_bucket_name_stops_before_load(locust, mysql_db):
    run = locust("-f", "locustfiles/flash_sale.py", "--headless", "-u", "1", "-t", "2s", "--db-name", mysql_db,
                 "--db-init", "--report-s3-bucket", "Bad_Bucket", timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("dbswarm: --report-s3-bucket 'Bad_Bucket': not a valid bucket")
    assert run.requests() == 0


def test_an_unreachable_endpoint_is_one_line_and_keeps_the_exit_code(locust, mysql_db, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    run = locust("-f", "locustfiles/flash_sale.py", "--headless", "-u", "2", "-t", "2s", "--db-name", mysql_db,
                 "--db-init", "--html", str(tmp_path / "r.html"), "--report-s3-bucket", "dbswarm-reports",
                 "--report-s3-endpoint", closed, env={**AWS, "AWS_MAX_ATTEMPTS": "1"}, timeout=90)
    assert run.returncode == 0, why(run.output)
    lines = [ln for ln in run.stderr.splitlines() if "s3://" in ln]
    assert len(lines) == 1 and lines[0].startswith("dbswarm: could not upload the reports to s3://dbswarm-reports:")
