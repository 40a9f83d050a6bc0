"""The web UI's "Database" and "Latency (microseconds)" tabs, and the report on demand.

Uses Locust 2.47's extension points: ``extended_tabs`` / ``extended_tables``
in ``web_ui.template_args`` declare the tabs, and ``extended_stats`` added to
each ``/stats/requests`` answer fills them (the UI polls it every two
seconds). The Database tab shows the latest sample with a sparkline of recent
samples per figure, then the scaling events, unreachable gaps and the
outage windows the users met (``outages``); other plugins add rows to it
(``extra_rows``) or tabs of their own (``extra_tabs``, e.g. load control), so
one hook fills every tab in the one answer the page already polls; the
Download Data tab gets links to ``db_stats.csv`` and to a freshly written run
report.
"""

from __future__ import annotations

import json
import os
import time

from flask import Response, request, send_file
from locust import events

from ..run import outages, web_stop
from . import db_observer, hdr_latency, run_report

TAB, LATENCY_TAB = "database", "latency-us"
BARS = "▁▂▃▄▅▆▇█"
TREND_SAMPLES = 30
FIGURES = (  # label, sample key
    ("connections", "connections"),
    ("threads running", "threads_running"),
    ("max_connections", "max_connections"),
    ("idle in transaction", "idle_in_tx"),
    ("buffer pool GiB", "buffer_pool_bytes"),
    ("history list length", "history_list_length"),
    ("longest transaction s", "longest_tx_s"),
    ("questions/s", "questions_per_s"),
    ("commits/s", "commits_per_s"),
    ("rollbacks/s", "rollbacks_per_s"),
    ("deadlocks/s", "deadlocks_per_s"),
    ("uptime s", "uptime_s"),
    ("host", "host"),
    ("server id", "server_id"),
)


# Other plugins add rows after the server's own figures: provider() -> [{"metric", "value", "trend"}].
extra_rows: list = []
# Other plugins add tabs of their own: (title, key, [(column key, column title)], rows(environment) -> [dict]).
extra_tabs: list = []


def sparkline(values) -> str:
    nums = [v for v in values if isinstance(v, (int, float))]
    if not nums:
        return ""
    lo, hi = min(nums), max(nums)
    span = (hi - lo) or 1
    return "".join(BARS[int((v - lo) / span * (len(BARS) - 1))] if isinstance(v, (int, float)) else " "
                   for v in values)


def _show(key, value):
    if value is None:
        return "-"
    if key == "buffer_pool_bytes":
        return f"{value / db_observer.GIB:.2f}"
    return value


def outage_rows() -> list[dict]:
    rows = []
    for w in outages.windows():
        end = time.strftime("%H:%M:%S", time.localtime(w["end"])) if w["end"] else "now"
        length = "still open" if w["end"] is None else f"{w['seconds']:.2f}s"
        recovery = "" if w["recovery_p50_s"] is None else (
            f"; recovered p50 {w['recovery_p50_s']:.2f}s, max {w['recovery_max_s']:.2f}s")
        rows.append({"metric": f"OUTAGE {w['endpoint']} {time.strftime('%H:%M:%S', time.localtime(w['start']))}-{end}",
                     "value": length,
                     "trend": f"{w['users_hit']} users hit, {w['failures']} failures: "
                              + ", ".join(f"{k} {n}" for k, n in w["classes"].items()) + recovery})
    return rows


def database_rows(observer) -> list[dict]:
    if observer is None:
        return [{"metric": "observer", "value": "not running (starts with the test; --db-stats-interval 0 turns it off)",
                 "trend": ""}, *outage_rows()]
    last = observer.last
    recent = observer.samples[-TREND_SAMPLES:]
    rows = [{"metric": "endpoint", "value": f"{observer.cfg.label} at {observer.cfg.where()}",
             "trend": f"{len(observer.samples)} samples every {observer.interval:g}s"}]
    if last is not None:
        rows.append({"metric": "sampled at", "value": time.strftime("%H:%M:%S", time.localtime(last["time"])),
                     "trend": ""})
        for label, key in FIGURES:
            if last.get(key) is None:
                continue
            rows.append({"metric": label, "value": _show(key, last[key]),
                         "trend": sparkline([s.get(key) for s in recent])})
    for provider in extra_rows:
        rows.extend(provider())
    for event in observer.events:
        rows.append({"metric": f"SCALING EVENT {time.strftime('%H:%M:%S', time.localtime(event.time))}",
                     "value": ", ".join(event.reasons),
                     "trend": "; ".join(f"{k}: {c['old']} -> {c['new']}" for k, c in event.changes.items())})
    for gap in observer.gaps:
        end = time.strftime("%H:%M:%S", time.localtime(gap["end"])) if gap["end"] else "now"
        rows.append({"metric": f"unreachable {time.strftime('%H:%M:%S', time.localtime(gap['start']))}-{end}",
                     "value": gap["error"], "trend": ""})
    rows.extend(outage_rows())
    return rows


def latency_rows() -> list[dict]:
    return [{"name": r["name"], "count": r["count"], "p50": r["p50"], "p90": r["p90"], "p99": r["p99"],
             "p999": r["p99.9"], "max": r["max"]} for r in hdr_latency.table()]


@events.init.add_listener
def _on_init(environment, web_ui=None, **_kwargs):
    if web_ui is None:
        return
    web_ui.template_args["extended_tabs"] = [
        {"title": "Database", "key": TAB},
        {"title": "Latency (microseconds)", "key": LATENCY_TAB},
        *({"title": title, "key": key} for title, key, _columns, _rows in extra_tabs),
    ]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB, "structure": [{"key": "metric", "title": "Database"}, {"key": "value", "title": "Latest"},
                                   {"key": "trend", "title": "Recent samples / details"}]},
        {"key": LATENCY_TAB, "structure": [{"key": k, "title": t} for k, t in (
            ("name", "Operation"), ("count", "Count"), ("p50", "p50 µs"), ("p90", "p90 µs"),
            ("p99", "p99 µs"), ("p999", "p99.9 µs"), ("max", "max µs"))]},
        *({"key": key, "structure": [{"key": k, "title": t} for k, t in columns]}
          for _title, key, columns, _rows in extra_tabs),
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./dbswarm/db_stats.csv", "title": "Download database samples CSV (dbswarm)"},
        {"href": "./dbswarm/report", "title": "Write and open the run report with plots (dbswarm)"},
    ]

    @web_ui.app.after_request
    def _extend_stats(response):
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        try:
            data = response.get_json()
        except Exception:  # never break Locust's own stats polling
            return response
        if not isinstance(data, dict):
            return response
        web_stop.hold_back(data)  # before the tabs: a tab that fails must not let a stopping run show stopped
        try:
            data["extended_stats"] = [
                {"key": TAB, "data": database_rows(db_observer.current)},
                {"key": LATENCY_TAB, "data": latency_rows()},
                *({"key": key, "data": rows(environment)} for _title, key, _columns, rows in extra_tabs),
            ]
        except Exception:  # never break Locust's own stats polling
            pass
        response.set_data(json.dumps(data))
        return response

    @web_ui.app.route("/dbswarm/db_stats.csv")
    @web_ui.auth_required_if_enabled
    def _db_stats_csv():
        observer = db_observer.current
        path = os.path.join(observer.directory, "db_stats.csv") if observer and observer.directory else None
        if not path or not os.path.exists(path):
            return Response("no database samples yet (start a test)\n", status=404, mimetype="text/plain")
        return send_file(os.path.abspath(path), mimetype="text/csv", as_attachment=True)

    @web_ui.app.route("/dbswarm/report")
    @web_ui.auth_required_if_enabled
    def _report():
        path = run_report.write(environment)
        with open(path, encoding="utf-8") as f:
            return Response(f.read(), mimetype="text/html")
