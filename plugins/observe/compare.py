"""Compare two runs' reports: ``python -m plugins.observe.compare reports/a reports/b [--html FILE]``.

A load test is only useful against a baseline, and two runs of the same code
never give the same p99. Per operation this prints requests/s, p50, p99,
p99.9 and the failure ratio of both runs side by side with the change in %,
and marks a change as beyond noise only when it is larger than the spread the
runs show within themselves: each run's HDR interval log (``latency.hlog``)
gives one value per interval, and a difference counts when it exceeds both
runs' interval-to-interval spread (standard deviation). Without interval logs
the noise is unknown and nothing is marked. The same goes to an HTML page
with plots (latency by percentile, p99 per interval).

Reads from each report directory: ``latency_us.json`` (whole-run µs
percentiles), ``run_summary.json`` (Locust's counts; a Locust ``*_stats.csv``
also does) and ``latency.hlog``. No Locust import: it runs anywhere.
"""

from __future__ import annotations

import argparse
import base64
import csv
import glob
import html
import io
import json
import math
import os
import statistics
import sys

from hdrh.log import HistogramLogReader

from .hdr_histograms import add, hlog_tag, new

EXIT_BAD_INPUT = 2
METRICS = (  # key, title, unit; higher is worse except requests/s
    ("rps", "requests/s", ""),
    ("p50", "p50", "µs"),
    ("p99", "p99", "µs"),
    ("p99.9", "p99.9", "µs"),
    ("fail", "failures", "%"),
)
MIN_REQUESTS = 20  # operations with fewer requests in a run are listed, not judged
MAX_INTERVALS = 100_000


class BadReport(Exception):
    pass


class Run:
    """One report directory."""

    def __init__(self, directory: str):
        self.directory = directory
        if not os.path.isdir(directory):
            raise BadReport(f"{directory}: no such directory")
        latency = os.path.join(directory, "latency_us.json")
        if not os.path.isfile(latency):
            raise BadReport(f"{directory}: no latency_us.json (not the --report-dir of a headless dbswarm run)")
        try:
            with open(latency) as f:
                self.latency = {(r["type"], r["name"]): r for r in json.load(f)}
        except (ValueError, KeyError, TypeError) as exc:
            raise BadReport(f"{latency}: not a dbswarm latency file ({exc})") from None
        self.counts, self.duration_s = self._locust_counts()
        self.intervals = self._intervals()

    def _locust_counts(self) -> tuple[dict, float | None]:
        """{(type, name): (requests, failures, requests/s)} from run_summary.json or a Locust stats CSV."""
        summary = os.path.join(self.directory, "run_summary.json")
        if os.path.isfile(summary):
            with open(summary) as f:
                data = json.load(f)
            return ({(o["type"], o["name"]): (o["requests"], o["failures"], o["requests_per_s"])
                     for o in data["operations"]}, data.get("duration_s"))
        for path in sorted(glob.glob(os.path.join(self.directory, "*_stats.csv"))):
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("Name") != "Aggregated"]
            return ({(r["Type"], r["Name"]): (int(r["Request Count"]), int(r["Failure Count"]),
                                              float(r["Requests/s"])) for r in rows}, None)
        raise BadReport(f"{self.directory}: no run_summary.json or Locust *_stats.csv (request counts)")

    def _intervals(self) -> dict:
        """{tag: [(start_s, length_s, HdrHistogram)]} from latency.hlog, read with hdrh's own reader."""
        path = os.path.join(self.directory, "latency.hlog")
        out: dict = {}
        if not os.path.isfile(path):
            return out
        reader = HistogramLogReader(path, new())
        try:
            for _ in range(MAX_INTERVALS):
                hist = reader.get_next_interval_histogram()
                if hist is None:
                    break
                start = hist.get_start_time_stamp() / 1000.0 - reader.get_start_time_sec()
                length = (hist.get_end_time_stamp() - hist.get_start_time_stamp()) / 1000.0
                out.setdefault(hist.get_tag(), []).append((start, length, hist))
        finally:
            reader.input_file.close()
        return out

    def intervals_of(self, key) -> list:
        return self.intervals.get(hlog_tag(key[1])) or self.intervals.get(hlog_tag(f"{key[0]}:{key[1]}")) or []

    def value(self, key, metric: str):
        if metric in ("p50", "p99", "p99.9"):
            row = self.latency.get(key)
            return None if row is None else row[metric]
        requests, failures, rps = self.counts.get(key, (0, 0, 0.0))
        if metric == "rps":
            return rps
        return 100.0 * failures / requests if requests else None

    def requests(self, key) -> int:
        return self.counts.get(key, (0, 0, 0.0))[0]


def interval_values(intervals: list, metric: str) -> list[float]:
    """One value of ``metric`` per interval; partial intervals (the last, a short first) are left out."""
    if not intervals:
        return []
    nominal = statistics.median(length for _s, length, _h in intervals)
    values = []
    for _start, length, hist in intervals:
        if length < 0.5 * nominal or hist.get_total_count() < 10:
            continue
        if metric == "rps":
            values.append(hist.get_total_count() / length)
        elif metric in ("p50", "p99", "p99.9"):
            values.append(hist.get_value_at_percentile(float(metric[1:])))
    return values


def noise(values: list[float]) -> float | None:
    """The interval-to-interval spread (standard deviation); None with fewer than 3 intervals."""
    return statistics.pstdev(values) if len(values) >= 3 else None


def failure_noise(a: Run, b: Run, key) -> float | None:
    """Three binomial standard errors of the pooled failure ratio, in percentage points."""
    n_a, n_b = a.requests(key), b.requests(key)
    if not n_a or not n_b:
        return None
    f = (a.counts[key][1] + b.counts[key][1]) / (n_a + n_b)
    return 300.0 * math.sqrt(max(f * (1 - f), 1e-12) * (1 / n_a + 1 / n_b))


def compare(a: Run, b: Run) -> list[dict]:
    """One row per operation and metric: values, change in %, noise, whether the change is beyond it."""
    keys = sorted(set(a.latency) | set(b.latency) | set(a.counts) | set(b.counts), key=lambda k: (k[1], k[0]))
    rows = []
    for key in keys:
        judged = a.requests(key) >= MIN_REQUESTS and b.requests(key) >= MIN_REQUESTS
        for metric, title, unit in METRICS:
            va, vb = a.value(key, metric), b.value(key, metric)
            if metric == "fail":
                spread = failure_noise(a, b, key)
            else:
                spreads = [noise(interval_values(run.intervals_of(key), metric)) for run in (a, b)]
                spread = None if None in spreads else max(spreads)
            change = None
            if va is not None and vb is not None and va:
                change = 100.0 * (vb - va) / va
            beyond = bool(judged and spread is not None and va is not None and vb is not None
                          and abs(vb - va) > spread and (va != vb))
            worse = None
            if beyond:
                worse = (vb < va) if metric == "rps" else (vb > va)
            rows.append({"type": key[0], "name": key[1], "metric": metric, "title": title, "unit": unit,
                         "a": va, "b": vb, "change_pct": change, "noise": spread, "beyond_noise": beyond,
                         "worse": worse, "judged": judged, "requests_a": a.requests(key), "requests_b": b.requests(key)})
    return rows


def _num(v, metric) -> str:
    if v is None:
        return "-"
    if metric in ("rps", "fail"):
        return f"{v:.2f}"
    return f"{int(v)}"


def _change(row) -> str:
    if row["change_pct"] is None:
        return "-"
    return f"{row['change_pct']:+.1f} %"


def _verdict(row) -> str:
    if not row["judged"]:
        return "too few requests"
    if row["noise"] is None:
        return "noise unknown"
    if not row["beyond_noise"]:
        return ""
    return "BEYOND NOISE: " + ("worse" if row["worse"] else "better")


def format_text(a: Run, b: Run, rows: list[dict]) -> list[str]:
    lines = [f"A: {a.directory}", f"B: {b.directory}",
             "Noise: each run's spread (std. dev.) over its .hlog intervals; failures: 3 binomial std. errors", ""]
    head = f"  {'metric':<16}{'A':>12}{'B':>12}{'change':>11}{'noise ±':>11}  verdict"
    for key in dict.fromkeys((r["type"], r["name"]) for r in rows):
        mine = [r for r in rows if (r["type"], r["name"]) == key]
        lines.append(f"{key[1]} ({key[0]}): {mine[0]['requests_a']} vs {mine[0]['requests_b']} requests")
        lines.append(head)
        for r in mine:
            title = f"{r['title']} {r['unit']}".strip()
            lines.append(f"  {title:<16}{_num(r['a'], r['metric']):>12}{_num(r['b'], r['metric']):>12}"
                         f"{_change(r):>11}{_num(r['noise'], r['metric']):>11}  {_verdict(r)}".rstrip())
        lines.append("")
    flagged = [r for r in rows if r["beyond_noise"]]
    if flagged:
        lines.append("Beyond run-to-run noise:")
        lines += [f"  {r['name']} {r['title']}: {_change(r)} ({'worse' if r['worse'] else 'better'})" for r in flagged]
    else:
        lines.append("No difference beyond run-to-run noise.")
    return lines


def _plots(a: Run, b: Run, rows: list[dict]) -> list[tuple[str, bytes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    keys = [k for k in dict.fromkeys((r["type"], r["name"]) for r in rows if r["judged"])][:12]
    for key in keys:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
        fig.suptitle(f"{key[1]} ({key[0]})", y=1.04)
        for run, label, color in ((a, "A", "tab:blue"), (b, "B", "tab:red")):
            whole = {}
            for _s, _l, hist in run.intervals_of(key):
                add(whole, key, hist)
            hist = whole.get(key)
            if hist is not None and hist.get_total_count():
                pcts = [50, 75, 90, 95, 99, 99.5, 99.9, 99.99]
                left.plot([1 / (1 - p / 100) for p in pcts], [hist.get_value_at_percentile(p) / 1000 for p in pcts],
                          marker=".", color=color, label=label)
            series = [(s, h.get_value_at_percentile(99.0) / 1000) for s, _l, h in run.intervals_of(key)
                      if h.get_total_count()]
            right.plot([s for s, _ in series], [v for _, v in series], marker=".", color=color, label=label)
        left.set_xscale("log")
        left.set_xticks([2, 10, 100, 1000, 10000], ["p50", "p90", "p99", "p99.9", "p99.99"])
        left.set_ylabel("ms")
        left.set_title("latency by percentile (whole run)")
        right.set_xlabel("seconds since start")
        right.set_ylabel("ms")
        right.set_title("p99 per interval")
        for ax in (left, right):
            ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            ax.legend(loc="upper left", fontsize="small")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        out.append((f"{key[1]} ({key[0]})", buf.getvalue()))
    return out


def render_html(a: Run, b: Run, rows: list[dict]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("operation", "metric", "A", "B", "change", "noise ±", "verdict"))
    body = []
    for r in rows:
        cls = " class='beyond'" if r["beyond_noise"] else ""
        cells = (f"{r['name']} ({r['type']})", f"{r['title']} {r['unit']}".strip(), _num(r["a"], r["metric"]),
                 _num(r["b"], r["metric"]), _change(r), _num(r["noise"], r["metric"]), _verdict(r))
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    figures = "".join(
        f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for title, png in _plots(a, b, rows)
    )
    flagged = [r for r in rows if r["beyond_noise"]]
    summary = ("<ul>" + "".join(f"<li>{html.escape(r['name'])} {html.escape(r['title'])}: {_change(r)} "
                                f"({'worse' if r['worse'] else 'better'})</li>" for r in flagged) + "</ul>"
               if flagged else "<p>No difference beyond run-to-run noise.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dbswarm: compare runs</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; font-size: 90%; }}
th {{ background: #eee; }} td:first-child, td:nth-child(2), td:last-child {{ text-align: left; }}
tr.beyond td {{ background: #fde2e2; font-weight: bold; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>dbswarm: compare runs</h1>
<p>A: {html.escape(a.directory)}<br>B: {html.escape(b.directory)}</p>
<p>A change is beyond noise when it exceeds both runs' spread (standard deviation) over their HDR log intervals
(failures: three binomial standard errors).</p>
<h2>Beyond run-to-run noise</h2>{summary}
<h2>Side by side</h2><table><tr>{head}</tr>{''.join(body)}</table>
<h2>Plots</h2>{figures}
</body></html>
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plugins.observe.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="report directory of the baseline run (--report-dir)")
    parser.add_argument("b", help="report directory of the run to compare with it")
    parser.add_argument("--html", default=None, help="write the HTML page here (default: <b>/compare.html)")
    args = parser.parse_args(argv)
    try:
        a, b = Run(args.a), Run(args.b)
    except BadReport as exc:
        sys.stderr.write(f"dbswarm: {exc}\n")
        return EXIT_BAD_INPUT
    rows = compare(a, b)
    print("\n".join(format_text(a, b, rows)))
    path = args.html or os.path.join(args.b, "compare.html")
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_html(a, b, rows))
    except OSError as exc:
        sys.stderr.write(f"dbswarm: --html {path}: {exc.strerror or exc}\n")
        return EXIT_BAD_INPUT
    print(f"HTML: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
