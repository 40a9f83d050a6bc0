"""``make bench``: point selects through every generator, same table, same machine.

For each engine, user count and process count it runs the bare driver loop,
the hand-written reference locustfile, dbswarm's own user and (1 process)
sysbench/pgbench, each repeated; it measures queries/s, p50/p99, generator
CPU per query and database server CPU over the same window, writes the raw
rows to a CSV and the medians to docs/benchmarks.md. It waits for a quiet
machine first, and records the load average of every run. The generators
of one configuration take turns (rep 1: A B C, rep 2: B C A, ...), so a
machine that drifts slower or faster during the run shifts them alike.

Then, at 32 users and 1 process, it splits dbswarm's CPU per query: Locust's
own cost per request (``floor_locustfile.py``, no database) plus the bare loop
driving the database the way dbswarm does (``bare.py --client dbswarm``),
against the dbswarm user's row.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench import cpu, db, native, report  # noqa: E402

PY = sys.executable
GENERATORS = ("bare", "reference", "dbswarm", "dbswarm-simple", "native")
BREAKDOWN_USERS = 32
FIELDS = ("engine", "generator", "users", "processes", "rep", "qps", "p50_us", "p99_us", "cpu_us_per_query",
          "server_cpu_pct", "load1", "queries", "seconds")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_quiet(max_load: float, timeout: float) -> float:
    """Wait until the 1-minute load average is at most max_load (or timeout); return it."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


def generator_command(engine: str, generator: str, users: int, procs: int, seconds: int, workdir: str) -> list[str]:
    if generator in ("bare", "bare-dbswarm"):
        return [PY, os.path.join(REPO, "bench", "bare.py"), "--engine", engine, "--users", str(users),
                "--procs", str(procs), "--client", "dbswarm" if generator == "bare-dbswarm" else "driver"]
    locustfile = {"reference": "reference_locustfile.py", "dbswarm": "dbswarm_locustfile.py",
                  "dbswarm-simple": "dbswarm_locustfile.py", "locust-floor": "floor_locustfile.py"}[generator]
    cmd = [PY, "-m", "locust", "-f", os.path.join(REPO, "bench", locustfile), "--headless", "-u", str(users),
           "-r", str(users), "-t", f"{seconds}s", "--only-summary", "--loglevel", "WARNING"]
    if generator.startswith("dbswarm"):
        cmd += ["--db-engine", engine, "--report-dir", workdir]
    if generator == "dbswarm-simple":
        cmd += ["--db-query-mode", "simple"]
    if procs > 1:
        port = str(free_port())
        cmd += ["--processes", str(procs), "--master-port", port, "--master-bind-port", port]
    return cmd


def measure(engine, generator, users, procs, rep, opts) -> dict:
    """One run on a quiet machine: a row of the CSV."""
    load = wait_quiet(opts.max_load, opts.quiet_timeout)
    if generator == "native":
        row = run_native(engine, users, opts)
    else:
        row = run_python(engine, generator, users, procs, opts)
    row.pop("_out")
    row.update(engine=engine, generator=generator, users=users, processes=procs, rep=rep, load1=round(load, 2))
    print("bench: " + " ".join(f"{k}={row[k]}" for k in FIELDS), flush=True)
    return row


def run_python(engine, generator, users, procs, opts) -> dict:
    """A Python generator: CPU and queries over the shared window (see probe.py)."""
    with tempfile.TemporaryDirectory(prefix="dbswarm-bench-") as workdir:
        launch = time.time()
        t0 = launch + opts.startup + (2.0 if procs > 1 else 0.0) + opts.warmup
        t1 = t0 + opts.measure
        env = {**os.environ, "BENCH_OUT": workdir, "BENCH_T0": repr(t0), "BENCH_T1": repr(t1),
               "BENCH_ENGINE": engine, "BENCH_DB": db.DATABASE}
        seconds = int(t1 - launch) + 2
        cmd = generator_command(engine, generator, users, procs, seconds, workdir)
        # Outside the repository: its locust.conf holds the design card's defaults (db-init, the flash sale).
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True)
        _sleep_until(t0)
        gen0, srv0 = cpu.tree(proc.pid), cpu.servers(engine)
        _sleep_until(t1)
        gen1, srv1 = cpu.tree(proc.pid), cpu.servers(engine)
        try:
            out, _ = proc.communicate(timeout=seconds + 90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        results = []
        for name in os.listdir(workdir):
            if name.endswith(".json") and name[:-5].isdigit():
                with open(os.path.join(workdir, name)) as f:
                    results.append(json.load(f))
        if proc.returncode not in (0, 1) or not results or any(r["late"] for r in results):
            raise RuntimeError(f"{generator} {engine} u={users} p={procs}: rc={proc.returncode}, "
                               f"{len(results)} windows, late={[r['late'] for r in results]}\n{out[-3000:]}")
        latencies = [x for r in results for x in r["latencies_us"]]
        queries = sum(r["count"] for r in results)
        return _row(queries, latencies, cpu.delta(gen0, gen1), cpu.delta(srv0, srv1), t1 - t0, out)


def run_native(engine, users, opts) -> dict:
    """sysbench/pgbench: whole-run counts and the child's own rusage (start-up is negligible in C).

    The server is sampled inside the run (connections open), like for the Python generators.
    """
    with tempfile.TemporaryDirectory(prefix="dbswarm-bench-") as workdir:
        seconds = max(1, int(round(opts.warmup + opts.measure)))
        cmd = native.command(engine, users, seconds, workdir)
        start = time.time()
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _sleep_until(start + opts.warmup)
        srv0, s0 = cpu.servers(engine), time.time()
        _sleep_until(start + seconds - 0.3)
        srv1, s1 = cpu.servers(engine), time.time()
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{out[-3000:]}")
        queries, latencies = native.parse(engine, out, workdir)
        return _row(queries, latencies, usage.ru_utime + usage.ru_stime, cpu.delta(srv0, srv1), seconds, out,
                    server_seconds=s1 - s0)


def _row(queries, latencies, gen_cpu, srv_cpu, seconds, out, server_seconds=None) -> dict:
    return {
        "qps": round(queries / seconds, 1),
        "p50_us": round(percentile(latencies, 50), 1),
        "p99_us": round(percentile(latencies, 99), 1),
        "cpu_us_per_query": round(gen_cpu / queries * 1e6, 1) if queries else float("nan"),
        "server_cpu_pct": round(100.0 * srv_cpu / (server_seconds or seconds), 1),
        "queries": queries,
        "seconds": round(seconds, 2),
        "_out": out,
    }


def hdr_p50(stdout: str) -> float | None:
    """dbswarm's own p50 for point_select from its end-of-run µs table."""
    m = re.search(r"^point_select\s+\d+\s+(\d+)", stdout, re.M)
    return float(m.group(1)) if m else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repetition, 8 users, 1 process, short runs")
    ap.add_argument("--engines", default="mysql,postgres")
    ap.add_argument("--generators", default=",".join(GENERATORS))
    ap.add_argument("--users", default="8,32,128")
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--measure", type=float, default=10.0, help="seconds measured per run")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--startup", type=float, default=4.0, help="seconds allowed for a generator to start")
    ap.add_argument("--max-load", type=float, default=1.0, help="wait until the 1-minute load average is at most this")
    ap.add_argument("--quiet-timeout", type=float, default=300.0, help="give up waiting for a quiet machine after this")
    ap.add_argument("--breakdown-reps", type=int, default=3,
                    help="runs of Locust's floor and the bare dbswarm client at 32 users, 1 process (0: skip)")
    ap.add_argument("--accuracy-reps", type=int, default=3, help="1-user runs for the latency accuracy check (0: skip)")
    ap.add_argument("--accuracy-only", action="store_true",
                    help="only the latency accuracy runs: rewrite that part of the markdown, keep the table and CSV")
    ap.add_argument("--csv", default=os.path.join(REPO, "reports", "bench.csv"))
    ap.add_argument("--markdown", default=os.path.join(REPO, "docs", "benchmarks.md"))
    ap.add_argument("--keep-db", action="store_true", help="leave the bench database in place")
    opts = ap.parse_args(argv)
    if opts.quick:
        opts.users, opts.processes, opts.reps = "8", "1", 1
        opts.measure, opts.warmup, opts.startup, opts.quiet_timeout = 2.0, 0.5, 3.0, 0.0
        opts.accuracy_reps = opts.breakdown_reps = 0
    engines = opts.engines.split(",")
    generators = opts.generators.split(",")
    users_list = [int(u) for u in opts.users.split(",")]
    procs_list = [int(p) for p in opts.processes.split(",")]
    load_start = wait_quiet(opts.max_load, opts.quiet_timeout)
    print(f"bench: load average {load_start:.2f} at start", flush=True)
    rows, breakdown, accuracy = [], [], []
    try:
        for engine in engines:
            db.create(engine)
            if "native" in generators and native.available(engine) and not opts.accuracy_only:
                native.prepare(engine)
            for users in [] if opts.accuracy_only else users_list:
                for procs in procs_list:
                    gens = [g for g in generators if g != "native" or (procs == 1 and native.available(engine))]
                    for rep in range(1, opts.reps + 1):
                        turn = (rep - 1) % len(gens)
                        for generator in gens[turn:] + gens[:turn]:
                            rows.append(measure(engine, generator, users, procs, rep, opts))
            for rep in range(1, 0 if opts.accuracy_only else opts.breakdown_reps + 1):
                for generator in ("locust-floor", "bare-dbswarm")[::1 if rep % 2 else -1]:
                    breakdown.append(measure(engine, generator, BREAKDOWN_USERS, 1, rep, opts))
            for rep in range(opts.accuracy_reps):
                bare = run_python(engine, "bare", 1, 1, opts)
                same_client = run_python(engine, "bare-dbswarm", 1, 1, opts)
                ours = run_python(engine, "dbswarm", 1, 1, opts)
                accuracy.append({"engine": engine, "bare_p50_us": bare["p50_us"],
                                 "bare_dbswarm_p50_us": same_client["p50_us"], "dbswarm_probe_p50_us": ours["p50_us"],
                                 "dbswarm_hdr_p50_us": hdr_p50(ours["_out"])})
                print(f"bench: accuracy {accuracy[-1]}", flush=True)
    finally:
        if not opts.keep_db:
            for engine in engines:
                db.drop(engine)
    args = sys.argv[1:] if argv is None else argv
    command = "make bench" + (" BENCH_QUICK=1" if opts.quick else "") + (
        f' BENCH_ARGS="{" ".join(a for a in args if a != "--quick")}"' if [a for a in args if a != "--quick"] else "")
    if accuracy:
        report.write_accuracy(opts.markdown, accuracy, command)
    if opts.accuracy_only:
        print(f"bench: wrote the accuracy part of {opts.markdown}", flush=True)
        return 0
    os.makedirs(os.path.dirname(opts.csv) or ".", exist_ok=True)
    with open(opts.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: r[k] for k in FIELDS} for r in rows + breakdown)
    report.write_markdown(opts.markdown, summarize(rows), command, load_start, os.getloadavg()[0], opts,
                          parts=summarize(breakdown))
    print(f"bench: wrote {opts.csv} and {opts.markdown}", flush=True)
    return 0


def summarize(rows: list[dict]) -> list[dict]:
    """Median of the repetitions per configuration, with the CPU ratio to the bare loop."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["engine"], r["users"], r["processes"], r["generator"]), []).append(r)
    out = []
    for (engine, users, procs, generator), rs in groups.items():
        m = {k: statistics.median(r[k] for r in rs) for k in ("qps", "p50_us", "p99_us", "cpu_us_per_query",
                                                              "server_cpu_pct", "load1")}
        out.append({"engine": engine, "users": users, "processes": procs, "generator": generator, "reps": len(rs), **m})
    for s in out:
        bare = next((b for b in out if b["generator"] == "bare" and b["engine"] == s["engine"]
                     and b["users"] == s["users"] and b["processes"] == s["processes"]), None)
        s["ratio"] = round(s["cpu_us_per_query"] / bare["cpu_us_per_query"], 2) if bare else None
    return out


if __name__ == "__main__":
    sys.exit(main())
