"""The scaling dashboard: the scenario's business metric against ACU (the lab's Orders-vs-ACU graph),
plus latency (with the warm-up marked) and the database's own metrics.

``body`` builds the dashboard, ``problems`` checks it against the documented
dashboard body structure before it is sent (the test endpoint accepts
anything, real CloudWatch refuses a malformed body with a vague message).
"""

from __future__ import annotations

import json
import re

GRID_WIDTH = 24
_STATS = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?|p100|tm\d+|tc\d+|ts\d+|wm\d+|IQM)$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
MAX_BODY_BYTES = 1_000_000


def _widget(x, y, title, properties, width=12, height=6):
    return {"type": "metric", "x": x, "y": y, "width": width, "height": height,
            "properties": {"title": title, "view": "timeSeries", "stacked": False, **properties}}


def body(*, region: str, instance: str, namespace: str, run_id: str,
         business: tuple[str, str, str, str] | None = None) -> dict:
    """``business``: (namespace, metric name, dimension name, dimension value) of the scenario's metric."""
    rds = ("AWS/RDS",)
    by_instance = ("DBInstanceIdentifier", instance)
    search = (
        f"SEARCH('{{{namespace},Engine,Operation,RunId}} MetricName=\"Latency\" RunId=\"{run_id}\"', '{{stat}}', 10)"
    )
    latency = [
        [{"expression": search.replace("{stat}", stat), "id": stat, "label": f"{stat} ${{PROP('Dim.Operation')}}"}]
        for stat in ("p50", "p99")
    ]
    return {
        "widgets": [
            _widget(0, 0, f"{business[1]} vs Aurora capacity (ACU)" if business else "Aurora capacity (ACU)", {
                "metrics": [
                    [*rds, "ServerlessDatabaseCapacity", *by_instance, {"yAxis": "right"}],
                    *([[*business, {"stat": "Sum"}]] if business else []),
                ],
                "region": region,
                "stat": "Average",
                "period": 1,
                "yAxis": {
                    "left": {"label": business[1] if business else "", "min": 0, "showUnits": False},
                    "right": {"label": "ACU", "min": 0, "showUnits": False},
                },
            }, width=24),
            _widget(0, 6, f"Latency p50 / p99 per operation (run {run_id})", {
                # WarmUp on the right: 1 over the --warmup the results leave out.
                "metrics": [*latency, [namespace, "WarmUp", "RunId", run_id,
                                       {"stat": "Maximum", "yAxis": "right", "label": "warm-up (1 = left out)"}]],
                "region": region,
                "period": 10,
                "yAxis": {"left": {"label": "ms", "min": 0, "showUnits": False},
                          "right": {"label": "warm-up", "min": 0, "max": 1, "showUnits": False}},
            }),
            _widget(12, 6, "Database connections", {
                "metrics": [[*rds, "DatabaseConnections", *by_instance]],
                "region": region,
                "stat": "Average",
                "period": 60,
            }),
            _widget(0, 12, "ACU utilization (%)", {
                "metrics": [[*rds, "ACUUtilization", *by_instance]],
                "region": region,
                "stat": "Average",
                "period": 60,
                "yAxis": {"left": {"min": 0, "max": 100}},
            }),
        ]
    }


def _metric_problems(where: str, row) -> list[str]:
    if not isinstance(row, list) or not row:
        return [f"{where}: a metric must be a non-empty array"]
    options = row[-1] if isinstance(row[-1], dict) else None
    names = row[:-1] if options is not None else row
    problems = []
    if options and "expression" in options:
        if names:
            problems.append(f"{where}: an expression row takes no namespace or metric name")
        if not options.get("id") or not re.match(r"^[a-z][A-Za-z0-9_]*$", options["id"]):
            problems.append(f"{where}: an expression needs an id starting with a lower-case letter")
        return problems
    if len(names) < 2 or len(names) % 2:
        problems.append(f"{where}: expected namespace, metric name and dimension name/value pairs")
    if not all(isinstance(part, str) and part for part in names):
        problems.append(f"{where}: namespace, metric name and dimensions must be non-empty strings")
    stat = (options or {}).get("stat")
    if stat is not None and not _STATS.match(stat):
        problems.append(f"{where}: unknown statistic {stat!r}")
    if options and options.get("yAxis") not in (None, "left", "right"):
        problems.append(f"{where}: yAxis must be left or right")
    return problems


def problems(dashboard: dict) -> list[str]:
    """What CloudWatch would reject in this body, one line each (empty when fine)."""
    found = []
    widgets = dashboard.get("widgets")
    if not isinstance(widgets, list) or not widgets:
        return ["dashboard: 'widgets' must be a non-empty array"]
    if len(json.dumps(dashboard)) > MAX_BODY_BYTES:
        found.append("dashboard: body larger than 1 MB")
    for i, w in enumerate(widgets):
        where = f"widget {i}"
        if w.get("type") != "metric":
            found.append(f"{where}: type must be metric")
        x, y, width, height = (w.get(k) for k in ("x", "y", "width", "height"))
        if not all(isinstance(v, int) for v in (x, y, width, height)):
            found.append(f"{where}: x, y, width and height must be integers")
        elif not (0 <= x and 1 <= width and x + width <= GRID_WIDTH and y >= 0 and 1 <= height <= 1000):
            found.append(f"{where}: outside the 24-column grid")
        props = w.get("properties") or {}
        if not props.get("region"):
            found.append(f"{where}: properties.region is required")
        period = props.get("period", 300)
        if not isinstance(period, int) or not (period in (1, 5, 10, 30) or period % 60 == 0):
            found.append(f"{where}: period must be 1, 5, 10, 30 or a multiple of 60")
        if props.get("stat") is not None and not _STATS.match(props["stat"]):
            found.append(f"{where}: unknown statistic {props['stat']!r}")
        metrics = props.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            found.append(f"{where}: properties.metrics must be a non-empty array")
            continue
        for j, row in enumerate(metrics):
            found.extend(_metric_problems(f"{where} metric {j}", row))
    return found


def name_problem(name: str) -> str | None:
    return None if _NAME.match(name or "") else "use 1-255 letters, digits, - and _"
