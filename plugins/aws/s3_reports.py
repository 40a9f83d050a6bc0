"""Upload the run's reports to S3 when the master quits, so they outlive its pod.

A headless run on Kubernetes ends with its pod; with ``--report-s3-bucket``
the master (or local runner) uploads what the run wrote (``--html``,
``--json-file``) and the request, failure and exception tables of ``--csv``
to ``s3://BUCKET/PREFIX/<UTC start time>/``. The tables are taken on
``quitting`` (saving the JSON report clears Locust's per-request stats), the
upload runs on ``quit``, after the HTML and JSON reports are written. ``--report-s3-endpoint``
points at an S3-compatible server (moto, MinIO); credentials and region come
from the usual AWS sources (environment, profile, pod role).
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import re
import sys
import time

from locust import events
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from ..options import option_group, validator
from ..run.roles import master_or_local, refuse

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
logger = logging.getLogger("dbswarm")
_run = {}


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    # Launch-only: the upload is arranged at init, so the web form does not offer these.
    add = functools.partial(option_group(parser, "dbswarm S3 reports", "Upload the reports to S3 when the run ends"),
                            web=False)
    add("report-s3-bucket", default=None, help="Bucket for the reports (none: no upload)")
    add("report-s3-prefix", default="dbswarm", help="Key prefix; each run goes under PREFIX/<UTC start time>/")
    add("report-s3-endpoint", default=None, help="S3-compatible endpoint URL (default: AWS)")
    add("report-s3-region", default=None, help="Region (default: the AWS configuration's)")


@validator
def validate(opts) -> list[str]:
    bucket = getattr(opts, "report_s3_bucket", None)
    if bucket and not _BUCKET.match(bucket):
        return [f"--report-s3-bucket {bucket!r}: not a valid bucket name (3-63 lowercase letters, digits, '.', '-')"]
    endpoint = getattr(opts, "report_s3_endpoint", None)
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        return [f"--report-s3-endpoint {endpoint!r}: must be an http(s):// URL"]
    return []


@events.init.add_listener
def _on_init(environment, **_kwargs):
    opts = environment.parsed_options
    if not master_or_local(environment):
        return
    refuse(validate(opts))
    if opts.report_s3_bucket:
        _run["environment"] = environment
        _run["started"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def report_files(environment, tables: dict[str, bytes]) -> dict[str, bytes]:
    """Report name -> content: the files this run wrote, plus the CSV tables."""
    opts = environment.parsed_options
    files: dict[str, bytes] = {}
    for path in (getattr(opts, "html_file", None), _json_path(opts)):
        if path and os.path.isfile(path):
            with open(path, "rb") as f:
                files[os.path.basename(path)] = f.read()
    return {**files, **tables}


def csv_tables(environment) -> dict[str, bytes]:
    """The request, failure and exception tables of ``--csv``, as Locust writes them."""
    opts = environment.parsed_options
    files: dict[str, bytes] = {}
    if getattr(opts, "csv_prefix", None):
        # Locust closes its CSV files only after the last event: write the same tables from the stats.
        tables = StatsCSV(environment, PERCENTILES_TO_REPORT)
        base = os.path.basename(opts.csv_prefix)
        for suffix, write in (("stats", tables.requests_csv), ("failures", tables.failures_csv),
                              ("exceptions", tables.exceptions_csv)):
            buf = io.StringIO()
            write(csv.writer(buf))
            files[f"{base}_{suffix}.csv"] = buf.getvalue().encode()
    return files


def _json_path(opts) -> str | None:
    path = getattr(opts, "json_file", None)
    return f"{path}.json" if path else None  # Locust always appends .json


def upload(environment, started: str, tables: dict[str, bytes]) -> str:
    import boto3

    opts = environment.parsed_options
    client = boto3.client("s3", endpoint_url=opts.report_s3_endpoint or None, region_name=opts.report_s3_region or None)
    prefix = "/".join(p for p in ((opts.report_s3_prefix or "").strip("/"), started) if p)
    for name, body in report_files(environment, tables).items():
        client.put_object(Bucket=opts.report_s3_bucket, Key=f"{prefix}/{name}", Body=body)
    return f"s3://{opts.report_s3_bucket}/{prefix}/"


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if _run.get("environment") is environment:
        _run["tables"] = csv_tables(environment)


@events.quit.add_listener
def _on_quit(**_kwargs):
    environment = _run.get("environment")
    if environment is None:
        return
    try:
        where = upload(environment, _run["started"], _run.get("tables", {}))
    except Exception as exc:  # botocore raises many types; the run itself is over, say why in one line
        sys.stderr.write(f"dbswarm: could not upload the reports to s3://{environment.parsed_options.report_s3_bucket}: {exc}\n")
        return
    sys.stdout.write(f"Reports uploaded to {where}\n")
    sys.stdout.flush()
