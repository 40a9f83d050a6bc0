"""docs/benchmarks.md: the generated table between markers, the hand-written method and findings kept."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib.metadata import version

NAMES = {"bare": "bare driver loop", "reference": "hand-written Locust user", "dbswarm": "dbswarm user",
         "dbswarm-simple": "dbswarm user, `--db-query-mode simple`", "native": "sysbench/pgbench"}
ORDER = {"bare": 0, "reference": 1, "dbswarm": 2, "dbswarm-simple": 3, "native": 4}


def _tool(argv) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "not installed"


def _server(engine: str) -> str:
    from bench import db

    try:
        conn = db.connect(engine, database=None)
        cur = conn.cursor()
        cur.execute("SELECT version()")
        v = cur.fetchone()[0]
        conn.close()
        return str(v).split(" on ")[0]
    except Exception as exc:  # the table is still worth writing
        return f"unknown ({exc.__class__.__name__})"


def versions() -> str:
    libs = ", ".join(f"{p} {version(p)}" for p in ("locust", "gevent", "PyMySQL", "psycopg2-binary"))
    return (f"Python {platform.python_version()}, {libs}; {_tool(['sysbench', '--version'])}; "
            f"{_tool(['pgbench', '--version'])}; MariaDB {_server('mysql')}; {_server('postgres')}; "
            f"{os.cpu_count()} CPUs")


def _fmt(v, digits=0) -> str:
    if v is None or v != v:
        return "—"
    return f"{v:,.{digits}f}"


def server_us_per_query(s: dict) -> float | None:
    """Database server CPU per query: the server's share of the box that each query costs."""
    return s["server_cpu_pct"] / 100.0 * 1e6 / s["qps"] if s["qps"] else None


def table(summary: list[dict]) -> list[str]:
    lines = ["| engine | users | processes | generator | queries/s | p50 µs | p99 µs | generator CPU µs/query "
             "| × bare | server CPU % | server CPU µs/query | load |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in sorted(summary, key=lambda s: (s["engine"], s["users"], s["processes"], ORDER[s["generator"]])):
        lines.append(f"| {s['engine']} | {s['users']} | {s['processes']} | {NAMES[s['generator']]} | {_fmt(s['qps'])} "
                     f"| {_fmt(s['p50_us'])} | {_fmt(s['p99_us'])} | {_fmt(s['cpu_us_per_query'], 1)} "
                     f"| {_fmt(s['ratio'], 2)} | {_fmt(s['server_cpu_pct'])} | {_fmt(server_us_per_query(s), 1)} "
                     f"| {_fmt(s['load1'], 2)} |")
    return lines


def scaling(summary: list[dict]) -> list[str]:
    """Queries/s and server CPU per query as users grow, per generator: the 8 -> 32 -> 128 drop."""
    lines = []
    keys = sorted({(s["engine"], s["processes"], s["generator"]) for s in summary},
                  key=lambda k: (k[0], k[1], ORDER[k[2]]))
    for engine, procs, gen in keys:
        runs = sorted((s for s in summary if (s["engine"], s["processes"], s["generator"]) == (engine, procs, gen)),
                      key=lambda s: s["users"])
        if len(runs) < 2:
            continue
        steps = " → ".join(f"{s['users']} users {_fmt(s['qps'])}/s ({_fmt(server_us_per_query(s))} µs server, "
                           f"{_fmt(s['cpu_us_per_query'])} µs generator)" for s in runs)
        lines.append(f"- {engine}, {procs} process(es), {NAMES[gen]}: {steps}")
    return lines


def targets(summary: list[dict]) -> list[str]:
    """The issue's targets, computed from this run."""
    def get(engine, users, procs, gen):
        return next((s for s in summary if (s["engine"], s["users"], s["processes"], s["generator"])
                     == (engine, users, procs, gen)), None)

    lines = []
    for engine, limit in (("mysql", 1.3), ("postgres", 2.0)):
        for s in sorted((s for s in summary if s["engine"] == engine and s["generator"].startswith("dbswarm")),
                        key=lambda s: (s["users"], s["processes"], ORDER[s["generator"]])):
            ref = get(engine, s["users"], s["processes"], "reference")
            qps = f"{s['qps'] / ref['qps']:.2f}× the reference's queries/s" if ref and ref["qps"] else "no reference"
            lines.append(f"- {engine}, {s['users']} users, {s['processes']} process(es), {NAMES[s['generator']]}: "
                         f"CPU {_fmt(s['ratio'], 2)}× "
                         f"bare (target ≤ {limit}), {qps} (target ≥ 1.3 at 32 users)")
    return lines


def breakdown(summary: list[dict], parts: list[dict]) -> list[str]:
    """dbswarm's generator CPU per query split into Locust's own cost and the driver path, from this run.

    ``parts`` are the medians of ``floor_locustfile.py`` (a plain Locust user
    that fires one request per task and queries nothing) and of the bare loop
    with dbswarm's client, at the users and process count they ran with; what
    the dbswarm user spends beyond their sum is its session, listeners and
    task, and the two sharing one process (caches, the core the backends
    preempt).
    """
    def get(rows, engine, gen, users, procs):
        return next((r for r in rows if (r["engine"], r["generator"], r["users"], r["processes"])
                     == (engine, gen, users, procs)), None)

    lines = []
    for p in sorted((p for p in parts if p["generator"] == "locust-floor"), key=lambda p: p["engine"]):
        engine, users, procs = p["engine"], p["users"], p["processes"]
        client, ours = get(parts, engine, "bare-dbswarm", users, procs), get(summary, engine, "dbswarm", users, procs)
        ref = get(summary, engine, "reference", users, procs)
        if client is None:
            continue
        floor, drive = p["cpu_us_per_query"], client["cpu_us_per_query"]
        line = (f"- {engine}, {users} users, {procs} process: Locust's own cost per request {_fmt(floor, 1)} µs + "
                f"the bare loop with dbswarm's client {_fmt(drive, 1)} µs = {_fmt(floor + drive, 1)} µs")
        if ours:
            line += (f"; the dbswarm user {_fmt(ours['cpu_us_per_query'], 1)} µs "
                     f"({ours['cpu_us_per_query'] - floor - drive:+.1f} µs beyond the sum: dbswarm's session, listeners "
                     f"and task, and Locust and the driver sharing one process)")
        if ref:
            line += f"; the hand-written reference {_fmt(ref['cpu_us_per_query'], 1)} µs"
        lines.append(line + ".")
    return lines


def accuracy_table(accuracy: list[dict]) -> list[str]:
    """p50 at 1 user: the median of the repetitions per engine, each repetition's runs beside it.

    Two references: the bare loop with the driver's own cursor (what the issue
    compares with), and the bare loop sending the queries the way dbswarm does
    (prepared statements; the lean cursor on MySQL), which isolates what dbswarm's timing
    and Locust add from what its faster client takes away.
    """
    import statistics

    reps = len(accuracy) // max(1, len({a["engine"] for a in accuracy}))
    lines = [f"Latency accuracy at 1 user (p50 µs, median of {reps} alternating runs):", "",
             "| engine | bare loop, driver's cursor | bare loop, dbswarm's client | dbswarm (HDR table) "
             "| dbswarm (request events) | vs driver's cursor | vs dbswarm's client | each run: bare / same client / dbswarm |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for engine in sorted({a["engine"] for a in accuracy}):
        runs = [a for a in accuracy if a["engine"] == engine]
        bare = statistics.median(a["bare_p50_us"] for a in runs)
        same = statistics.median(a["bare_dbswarm_p50_us"] for a in runs)
        hdr_values = [a["dbswarm_hdr_p50_us"] for a in runs if a["dbswarm_hdr_p50_us"]]
        hdr = statistics.median(hdr_values) if hdr_values else None
        probe = statistics.median(a["dbswarm_probe_p50_us"] for a in runs)
        diff = (hdr / bare - 1) * 100 if hdr and bare else None
        diff_same = (hdr / same - 1) * 100 if hdr and same else None
        each = ", ".join(f"{_fmt(a['bare_p50_us'])} / {_fmt(a['bare_dbswarm_p50_us'])} / {_fmt(a['dbswarm_hdr_p50_us'])}"
                         for a in runs)
        lines.append(f"| {engine} | {_fmt(bare)} | {_fmt(same)} | {_fmt(hdr)} | {_fmt(probe)} | {_fmt(diff, 1)} % "
                     f"| {_fmt(diff_same, 1)} % | {each} |")
    return lines + [""]


def write_markdown(path, summary, command, load_start, load_end, opts, now: str | None = None,
                   parts: list[dict] = ()) -> None:
    now = now or _now()
    block = ["", "", f"Run {now} with `{command}` ({opts.reps} repetition(s), median shown; "
             f"{opts.measure:g} s measured after {opts.warmup:g} s warm-up per run).", "",
             f"Versions: {versions()}.", "",
             f"Load average (1 min): {load_start:.2f} at the start, {load_end:.2f} at the end "
             f"(each run waited for ≤ {opts.max_load:g}, at most {opts.quiet_timeout:g} s; the `load` column is the "
             f"value when the run started).", "", *table(summary), "", "Against the targets:", "",
             *(targets(summary) or ["- (no dbswarm rows in this run)"]), "",
             "As users grow (queries/s, database server CPU per query, generator CPU per query):", "",
             *(scaling(summary) or ["- (one user count in this run)"]), ""]
    split = breakdown(summary, list(parts))
    if split:
        block += ["Where the generator CPU per query goes (generator CPU µs per query, medians; Locust's own cost: "
                  "`bench/floor_locustfile.py`, one request event per task and no database):", "", *split, ""]
    replace_block(path, "bench", block[1:])


def write_accuracy(path, accuracy: list[dict], command: str, now: str | None = None) -> None:
    replace_block(path, "accuracy", ["", f"Run {now or _now()} with `{command}`.", "", *accuracy_table(accuracy)])


def _now() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def replace_block(path: str, name: str, lines: list[str]) -> None:
    """Replace the generated block ``name`` in the markdown file, keeping the hand-written text around it."""
    begin, end = f"<!-- {name}:begin (generated by make bench) -->", f"<!-- {name}:end -->"
    text = f"# Benchmarks\n\n{begin}\n{end}\n"
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if begin not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + "\n".join(lines) + "\n" + end + tail)
