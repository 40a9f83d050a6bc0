"""A self-contained HTML report of the run, with the database next to the load.

Written at the end of every headless run (and on demand from the web UI's
Download Data tab) to ``<report dir>/run_report.html``, with its plots also as
PNG files: requests/s and failures/s, p50/p99 per operation (from the HDR
histograms, so sub-millisecond values are real), users, and the database's
connections against ``max_connections``; scaling events are vertical markers
on every plot, and the outage windows the users met (``outages``) are shaded
on every plot (writer red, reader orange) and listed in a table. The µs percentiles also go to ``latency_us.json``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import time
from datetime import datetime

import gevent
from locust import events

from ..run import counters, outages, verdict, warmup
from ..run.roles import master_or_local, print_block
from . import db_observer, hdr_latency

WINDOW_S = 3.0  # p50/p99 over time: one point per window per operation

latency_series: list[tuple[float, dict]] = []  # (time, {operation: {"p50": us, "p99": us}})
# A scenario's own result table: callables environment -> (title, rows, columns) or None (e.g. TPC-C's NOPM/TPM).
sections: list = []
_sampler = None
# Other plugins add a section near the top of the report (e.g. Aurora capacity from CloudWatch):
# provider(environment, t0) -> (html, {png file name: bytes}); t0 is the plots' "seconds since start" origin.
extra_sections: list = []


def _users(environment) -> list[tuple[float, int]]:
    """(time, users) from Locust's own history (one point every 5 s)."""
    history = warmup.before.get("history", []) + environment.runner.stats.history  # --warmup reset the latter
    return [(datetime.fromisoformat(e["time"]).timestamp(), e["user_count"][1]) for e in history]


OUTAGE_COLORS = {"writer": "red", "reader": "orange"}


def _markers(ax, observer, t0, windows=()) -> None:
    if warmup.span is not None:
        ax.axvspan(warmup.span[0] - t0, warmup.span[1] - t0, color="gold", alpha=0.2, label="warm-up (left out)")
    for i, event in enumerate(observer.events if observer else ()):
        ax.axvline(event.time - t0, color="crimson", linestyle="--", linewidth=1.2,
                   label="scaling event" if i == 0 else None)
    for gap in observer.gaps if observer else ():
        end = gap["end"] if gap["end"] is not None else time.time()
        ax.axvspan(gap["start"] - t0, end - t0, color="grey", alpha=0.25)
    labelled = set()
    for w in windows:
        end = w["start"] + outages.length(w)
        ep = w["endpoint"]
        ax.axvspan(w["start"] - t0, end - t0, color=OUTAGE_COLORS.get(ep, "red"), alpha=0.18,
                   label=None if ep in labelled else f"{ep} outage")
        labelled.add(ep)


def _pyplot():
    """matplotlib: only the master (or a local runner) draws, so a worker never imports it
    (``_on_init`` imports it on the master before any load)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _figure(title, ylabel):
    fig, ax = _pyplot().subplots(figsize=(9, 3.2))
    ax.set_title(title)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _per_second(environment) -> tuple[dict, dict]:
    """Requests and failures per wall-clock second, merged from every worker, the warm-up included."""
    total = environment.runner.stats.total
    return ({**warmup.before.get("per_sec", {}), **total.num_reqs_per_sec},
            {**warmup.before.get("fail_per_sec", {}), **total.num_fail_per_sec})


def start_time(environment, observer) -> float:
    """The origin of every plot's time axis: the first thing the run recorded."""
    users = _users(environment)
    samples = observer.samples if observer else []
    seconds = sorted(_per_second(environment)[0])
    starts = seconds[:1] + [t for t, _ in users[:1]] + [s["time"] for s in samples[:1]] + [t for t, _ in latency_series[:1]]
    return min(starts) if starts else time.time()


def plots(environment, observer, windows=None) -> dict[str, bytes]:
    """PNG bytes by file name."""
    windows = outages.windows() if windows is None else windows
    users = _users(environment)
    samples = observer.samples if observer else []
    per_sec, fail_per_sec = _per_second(environment)
    seconds = sorted(per_sec)
    t0 = start_time(environment, observer)
    out = {}

    fig, ax = _figure("Requests and failures per second", "per second")
    ax.plot([t - t0 for t in seconds], [per_sec[t] for t in seconds], label="requests/s")
    ax.plot([t - t0 for t in seconds], [fail_per_sec.get(t, 0) for t in seconds],
            label="failures/s", color="tab:red")
    _markers(ax, observer, t0, windows)
    ax.legend(loc="upper left")
    out["throughput.png"] = _png(fig)

    fig, ax = _figure("Latency per operation (HDR, p50 solid, p99 dashed)", "ms")
    names = sorted({name for _, window in latency_series for name in window})
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        points = [(t - t0, w[name]) for t, w in latency_series if name in w]
        ax.plot([p[0] for p in points], [p[1]["p50"] / 1000 for p in points], color=color, label=f"{name} p50")
        ax.plot([p[0] for p in points], [p[1]["p99"] / 1000 for p in points], color=color, linestyle="--")
    if names:
        ax.set_yscale("log")
        ax.legend(loc="upper left", fontsize="small")
    _markers(ax, observer, t0, windows)
    out["latency.png"] = _png(fig)

    fig, ax = _figure("Users", "users")
    ax.plot([t - t0 for t, _ in users], [n for _, n in users], color="tab:green", label="users")
    _markers(ax, observer, t0, windows)
    out["users.png"] = _png(fig)

    fig, ax = _figure("Database connections", "connections")
    xs = [s["time"] - t0 for s in samples]
    ax.plot(xs, [s["connections"] for s in samples], marker=".", label="connections")
    ax.step(xs, [s["max_connections"] for s in samples], where="post", color="black", label="max_connections")
    ax.plot(xs, [s["threads_running"] for s in samples], color="tab:orange", label="running")
    _markers(ax, observer, t0, windows)
    ax.legend(loc="upper left", fontsize="small")
    out["connections.png"] = _png(fig)
    return out


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "<p class='none'>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _lost_workers_section() -> str:
    """Workers lost mid-run, with what they may have taken with them (only when there are any)."""
    lines = verdict.summary_lines()
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<h2>Workers lost</h2><ul class='lost'>{items}</ul>\n"


def outage_rows(windows: list[dict]) -> list[dict]:
    return [
        {"endpoint": w["endpoint"], "from": _when(w["start"]), "to": _when(w["end"]) if w["end"] else "still open",
         "seconds": "" if w["seconds"] is None else f"{w['seconds']:.2f}", "users hit": w["users_hit"],
         "failures": w["failures"], "classes": ", ".join(f"{k} {n}" for k, n in w["classes"].items()),
         "recovery p50 s": "" if w["recovery_p50_s"] is None else f"{w['recovery_p50_s']:.2f}",
         "recovery max s": "" if w["recovery_max_s"] is None else f"{w['recovery_max_s']:.2f}"}
        for w in windows
    ]


OUTAGE_COLUMNS = ["endpoint", "from", "to", "seconds", "users hit", "failures", "classes", "recovery p50 s",
                  "recovery max s"]


def render(environment, observer, images: dict[str, bytes], latency: list[dict], windows=None,
           extra_html: str = "") -> str:
    windows = outages.windows() if windows is None else windows
    events_rows = [
        {"time": _when(e.time), "reasons": ", ".join(e.reasons),
         "changes": "; ".join(f"{k}: {c['old']} -> {c['new']}" for k, c in e.changes.items()),
         "gap_s": e.gap_s}
        for e in (observer.events if observer else ())
    ]
    gap_rows = [
        {"from": _when(g["start"]), "to": _when(g["end"]) if g["end"] else "still down",
         "seconds": round((g["end"] or time.time()) - g["start"], 1), "error": g["error"]}
        for g in (observer.gaps if observer else ())
    ]
    last = observer.last if observer else None
    stats = environment.runner.stats.total
    imgs = "".join(
        f"<figure><img alt='{name}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></figure>"
        for name, png in images.items()
    )
    endpoint = f"{observer.cfg.label} at {observer.cfg.where()}" if observer else "not observed"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dbswarm run report</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; font-size: 90%; }}
th {{ background: #eee; }} td:first-child {{ text-align: left; }}
figure {{ margin: .5em 0; }} img {{ max-width: 100%; }} .none {{ color: #777; }}
</style></head>
<body>
<h1>dbswarm run report</h1>
<p>Written {html.escape(_when(time.time()))}. Database: {html.escape(endpoint)}.
Requests: {stats.num_requests}, failures: {stats.num_failures}.</p>
{_lost_workers_section()}{_sections(environment)}{extra_html}
<h2>Scaling events</h2>{_table(events_rows, ["time", "reasons", "changes", "gap_s"])}
<h2>Outages (users' side)</h2>{_table(outage_rows(windows), OUTAGE_COLUMNS)}
<h2>Database unreachable (observer)</h2>{_table(gap_rows, ["from", "to", "seconds", "error"])}
<h2>Latency in µs (HDR histograms)</h2>
{_table(latency, ["name", "count", "p50", "p90", "p99", "p99.9", "max"])}
<h2>Plots</h2>{imgs}
<h2>Last database sample</h2>{_table([{"field": k, "value": v} for k, v in (last or {}).items()], ["field", "value"])}
<script>
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-plots-loaded", ok + "/" + imgs.length);
}});
</script>
</body></html>
"""


def _sections(environment) -> str:
    out = []
    for section in sections:
        found = section(environment)
        if found:
            title, rows, columns = found
            out.append(f"<h2>{html.escape(title)}</h2>{_table(rows, columns)}")
    return "".join(out)


def write(environment, directory: str | None = None) -> str:
    """Write run_report.html, the PNGs and latency_us.json; return the HTML's path."""
    observer = db_observer.current
    directory = directory or db_observer.report_dir(environment.parsed_options)
    os.makedirs(directory, exist_ok=True)
    latency = hdr_latency.table()
    windows = outages.windows()
    images = plots(environment, observer, windows)
    t0 = start_time(environment, observer)
    extra_html, extra_images = "", {}
    for provider in extra_sections:
        section, pngs = provider(environment, t0)
        extra_html += section
        extra_images.update(pngs)
    for name, png in {**extra_images, **images}.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(png)
    with open(os.path.join(directory, "latency_us.json"), "w") as f:
        json.dump(latency, f, indent=2)
    path = os.path.join(directory, "run_report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(environment, observer, images, latency, windows, extra_html))
    return path


def _sample_windows():
    while True:
        gevent.sleep(WINDOW_S)
        latency_series.append((time.time(), hdr_latency.window()))


@events.init.add_listener
def _on_init(environment, **_kwargs):
    # At init, not when the first plot is drawn: an import at the end of a run
    # would run while a stop signal is being handled, beside other greenlets.
    if master_or_local(environment):
        _pyplot()


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global _sampler
    if not master_or_local(environment):
        return
    latency_series.clear()
    hdr_latency.window()
    if _sampler is None:
        _sampler = gevent.spawn(_sample_windows)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    global _sampler
    if _sampler is not None and master_or_local(environment):
        _sampler.kill(block=False)
        _sampler = None
        latency_series.append((time.time(), hdr_latency.window()))


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    if not master_or_local(environment) or not environment.parsed_options.headless:
        return
    lines = hdr_latency.format_table(hdr_latency.table())
    if db_observer.current is not None:
        lines.append(f"Scaling events: {counters.total('scaling_events')}")
    try:
        lines.append(f"Run report: {write(environment)}")
    except Exception as exc:  # the run's results are already in; say why the report is missing
        lines.append(f"dbswarm: run report not written: {exc}")
    print_block(lines)
