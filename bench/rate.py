"""``make bench``: the load-control measures of issue 20, on the real local MariaDB and PostgreSQL.

Each measure runs Locust with the bench's point select (``bench/dbswarm_locustfile.py``,
in a database of its own: ``bench/run.py`` drops its one at the end) and checks
what the run reports against a record it does not compute itself: the
per-request log (``--request-log``: one line per request and per skipped task, in
every process) or, for ``--find-max-rps``, a sweep of fixed-rate runs judged by
the same rule. Each measure is a PASS/FAIL row against the issue's bound, with
its figures, in docs/benchmarks.md (between the ``rate:`` markers); the raw
figures go to reports/bench_rate.csv (one figure a row).

1. ``--rate-stages`` with 2 processes: every stage's achieved rate within 2 % of
   its target, at rates well below the closed-loop capacity measured first.
2. ``--arrival poisson``: the coefficient of variation of the merged
   inter-arrival times (scheduled starts, every process, skipped included) is
   1 +- 0.05; ``uniform``: close to 0.
3. ``--warmup``: Locust's counts equal the log's requests that ended after the
   warm-up, exactly.
4. ``--latency-limit-ms``: the late and skipped counts the run prints equal a
   recount from the log's timestamps.
5. ``--find-max-rps``: within 10 % of what a sweep of ``--target-rps`` runs finds.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import glob
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench import db, report  # noqa: E402
from bench.run import free_port, percentile  # noqa: E402
from plugins.run.rate_plan import describe_slo, parse_slo  # noqa: E402

PY = sys.executable
DATABASE = "dbswarm_bench_rate"
LOCUSTFILE = os.path.join(REPO, "bench", "dbswarm_locustfile.py")
OPERATION = "point_select"
ENGINE_NAMES = {"mysql": "MariaDB", "postgres": "PostgreSQL"}
FIELDS = ("measure", "engine", "item", "figure", "value")
# The bounds.
STAGE_ERROR = 0.02
POISSON_CV_ERROR = 0.05
UNIFORM_CV_MAX = 0.05
FIND_MAX_AGREEMENT = 0.10
# A step (or a sweep run) fails when its starts fall more than this short of its rate, as
# plugins/run/rate_control.py STEP_SHORTFALL (not imported: that module loads Locust).
STEP_SHORTFALL = 0.05
REPORT_WAIT_S = 3.5  # rate_control.REPORT_WAIT_S: a find-max step runs on this long after its window


# --- running Locust -------------------------------------------------------------------------

@dataclass
class Run:
    """One Locust run: its output, its JSON stats and its per-request log (per process, fields per line)."""

    returncode: int
    stdout: str
    stats: list = field(default_factory=list)
    log: list = field(default_factory=list)
    seconds: float = 0.0

    def count(self, name: str) -> int:
        return sum(e["num_requests"] for e in self.stats if e["name"] == name)


def locust(engine: str, args: list[str], processes: int = 2, log: bool = True, timeout: float = 600) -> Run:
    """Run Locust outside the repository (its locust.conf holds the flash sale's defaults) with every option given."""
    with tempfile.TemporaryDirectory(prefix="dbswarm-rate-") as workdir:
        cmd = [PY, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-r", "100", "--db-engine", engine,
               "--db-name", DATABASE, "--only-summary", "--loglevel", "WARNING", "--report-dir", workdir,
               "--json-file", os.path.join(workdir, "stats"), *args]
        if log:
            cmd += ["--request-log", os.path.join(workdir, "req")]
        if processes > 1:
            port = str(free_port())
            cmd += ["--processes", str(processes), "--master-port", port, "--master-bind-port", port]
        began = time.monotonic()
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - began
        stats = _read_json(os.path.join(workdir, "stats.json"))
        if proc.returncode not in (0, 1, 3) or not stats:
            raise RuntimeError(f"locust {' '.join(args)} on {engine}: rc={proc.returncode}\n"
                               f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return Run(proc.returncode, proc.stdout, stats, read_log(os.path.join(workdir, "req")) if log else [],
                   seconds)


def _read_json(path: str) -> list:
    """Locust's --json-file stats ([] when the run wrote none)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def read_log(prefix: str) -> list[list[list[str]]]:
    """The per-request log, per process: ``R end sched late ok first name``, ``K sched name``, ``W time``."""
    splits = {"R": 6, "K": 2, "W": 1}
    processes = []
    for path in sorted(glob.glob(prefix + ".*")):
        with open(path) as f:
            processes.append([line.rstrip("\n").split(" ", splits[line[0]]) for line in f if line[0] in splits])
    return processes


# --- what the log says ----------------------------------------------------------------------

def after_warmup(log: list[list[list[str]]]) -> list[list[str]]:
    """The lines every process wrote after its own warm-up mark (all of them when it has none), merged."""
    lines = []
    for process in log:
        mark = next((i for i, f in enumerate(process) if f[0] == "W"), -1)
        lines += process[mark + 1:]
    return lines


def requests(lines: list[list[str]], name: str | None = None) -> list[list[str]]:
    return [f for f in lines if f[0] == "R" and (name is None or f[6] == name)]


def scheduled_starts(lines: list[list[str]]) -> list[float]:
    """The scheduled start of every task: sent (its first request) or skipped."""
    return [float(f[2]) for f in lines if f[0] == "R" and f[5] == "1"] + [float(f[1]) for f in lines if f[0] == "K"]


def while_all_ran(log: list[list[list[str]]], trim: float = 1.0) -> list[float]:
    """The merged scheduled starts from ``trim`` s after the last process's first to ``trim`` s before the first
    process's last one.

    Locust starts and stops the users of each worker process one by one and
    the processes apart (up to 0.2 s here): near the edges only some users'
    share of the rate arrives, which is not the pacing's doing, and a CV is
    sensitive to it (two missing starts among 9,000 evenly spaced ones make it
    0.015).
    """
    per_process = [scheduled_starts(after_warmup([p])) for p in log]
    per_process = [s for s in per_process if s]
    begin, end = max(min(s) for s in per_process) + trim, min(max(s) for s in per_process) - trim
    return sorted(t for s in per_process for t in s if begin <= t <= end)


def inter_arrival_cv(times: list[float]) -> float:
    """Standard deviation over mean of the gaps between sorted times: 1 for a Poisson stream, 0 for a grid."""
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    mean = sum(gaps) / len(gaps)
    return math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps)) / mean


def log_ns(text: str) -> int:
    """A log timestamp (seconds with up to 9 decimals) as exact integer nanoseconds (a float loses the µs)."""
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0"))


def recount_late(lines: list[list[str]], limit_ms: float) -> tuple[int, int]:
    """(late, skipped) from the log's timestamps: a request that ended more than L ms after its scheduled start."""
    late = sum(1 for f in requests(lines) if log_ns(f[1]) - log_ns(f[2]) > limit_ms * 1e6)
    return late, sum(1 for f in lines if f[0] == "K")


def judge(lines: list[list[str]], rate: float, begin: float, end: float, slo: dict) -> dict:
    """A fixed-rate run judged as --find-max-rps judges a step, on the tasks scheduled in [begin, end) (wall clock).

    The step fails when its starts fall more than STEP_SHORTFALL short of the
    rate, when a percentile of the latency from the schedule is above the
    SLO's, when the failure ratio is above the SLO's, or when nothing ran.
    """
    inside = [f for f in requests(lines) if begin <= float(f[2]) < end]
    starts = sum(1 for f in inside if f[5] == "1")
    from_ms = [(float(f[1]) - float(f[2])) * 1000.0 for f in inside]
    failures = sum(1 for f in inside if f[4] == "0")
    seconds = end - begin
    result = {"rate": rate, "achieved": starts / seconds, "requests": len(inside),
              "fail_ratio": failures / len(inside) if inside else 0.0,
              "p50": percentile(from_ms, 50), "p99": percentile(from_ms, 99)}
    reasons = []
    if starts < rate * seconds * (1 - STEP_SHORTFALL):
        reasons.append(f"achieved {result['achieved']:.1f}/s")
    for key, limit in slo.items():
        if key == "fail":
            if result["fail_ratio"] > limit:
                reasons.append(f"fail {result['fail_ratio'] * 100:.2f}%")
            continue
        value = result[key] = percentile(from_ms, float(key[1:]))
        if value > limit:
            reasons.append(f"{key} {value:.1f}ms")
    if not inside:
        reasons.append("no requests")
    return {**result, "ok": not reasons, "why": ", ".join(reasons)}


# --- what the run prints --------------------------------------------------------------------

_STAGE_ROW = re.compile(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.e+]+)\s+([\d.e+]+)\s+([\d.e+]+)\s+([\d.]+)%"
                        r"\s+(\d+)\s+(\d+)\s+([\d.]+)\s*$", re.M)
_LATE_LINE = re.compile(r"late ratio [\d.]+ \((\d+) late, (\d+) skipped of (\d+)")
_STEP_ROW = re.compile(r"^\s+([\d,.]+)\s+([\d,.]+)\s+([\d.e+]+)\s+([\d.e+]+)\s+([\d.]+)\s+(ok|FAIL)\b.*?(?:\((.*)\))?$",
                       re.M)
_VERDICT = re.compile(r"^max rate meeting (.+): (none|[\d,]+/s)(.*)$", re.M)
_HDR_ROW = re.compile(r"^(\S.*?)\s+(\d+)\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s*$", re.M)


def stage_rows(stdout: str) -> list[dict]:
    """The end-of-run stage table: stage, target (mean of the ramp), achieved, p50/p99 from the schedule, late..."""
    keys = ("stage", "target", "achieved", "p50", "p99", "lag_p99", "shortfall_pct", "late", "skipped", "goodput")
    return [dict(zip(keys, (int(m[0]), *map(float, m[1:7]), int(m[7]), int(m[8]), float(m[9]))))
            for m in _STAGE_ROW.findall(stdout)]


def late_line(stdout: str) -> tuple[int, int] | None:
    """(late, skipped) of the --check-max-late-ratio line."""
    m = _LATE_LINE.search(stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


def find_max_steps(stdout: str) -> list[dict]:
    return [{"rate": float(m[0].replace(",", "")), "achieved": float(m[1].replace(",", "")), "p50": float(m[2]),
             "p99": float(m[3]), "fail_ratio": float(m[4]) / 100.0, "ok": m[5] == "ok", "why": m[6]}
            for m in _STEP_ROW.findall(stdout)]


def find_max_verdict(stdout: str) -> float | None:
    """The rate of the verdict line (None: no line, or even the first step failed)."""
    m = _VERDICT.search(stdout)
    if not m or m.group(2) == "none":
        return None
    return float(m.group(2)[:-2].replace(",", ""))


def hdr_count(stdout: str, name: str) -> int | None:
    """The count column of the µs table's row for ``name``."""
    for m in _HDR_ROW.finditer(stdout):
        if m.group(1).strip() == name:
            return int(m.group(2))
    return None


# --- the measures ---------------------------------------------------------------------------

@dataclass
class Measure:
    """One PASS/FAIL row: what, on which engine, the bound, the figures, and the raw figures for the CSV."""

    name: str
    engine: str
    bound: str
    figures: str
    passed: bool
    raw: list = field(default_factory=list)  # (item, figure, value)
    detail: dict = field(default_factory=dict)


def capacity(engine: str, cfg) -> float:
    """Closed-loop point selects per second (no pacing, no log, 2 processes): what the rates stay well below."""
    run = locust(engine, ["-u", str(cfg.capacity_users), "-t", f"{cfg.capacity_s}s"], log=False)
    entry = next(e for e in run.stats if e["name"] == OPERATION)
    return entry["num_requests"] / max(1e-9, entry["last_request_timestamp"] - entry["start_time"])


def measure_stages(engine: str, cfg, top: float) -> Measure:
    """Every stage's achieved rate (starts by scheduled second, all processes) against its target."""
    run = locust(engine, ["-u", str(cfg.users), "--rate-stages", cfg.stages], log=False)
    rows = stage_rows(run.stdout)
    for r in rows:
        r["error_pct"] = 100.0 * (r["achieved"] - r["target"]) / r["target"] if r["target"] else float("nan")
    passed = bool(rows) and all(abs(r["error_pct"]) <= STAGE_ERROR * 100 for r in rows)
    figures = "; ".join(f"stage {r['stage']}: {r['target']:g} → {r['achieved']:g}/s ({r['error_pct']:+.1f} %)"
                        for r in rows) or "no stage table in the output"
    raw = [(f"stage {r['stage']}", k, r[k]) for r in rows for k in ("target", "achieved", "error_pct", "p50", "p99")]
    return Measure("rate stages, 2 processes", engine, f"each stage within {STAGE_ERROR:.0%} of its target "
                   f"(capacity {top:,.0f}/s)", figures, passed, raw, {"rows": rows, "stages": cfg.stages})


def measure_arrivals(engine: str, cfg) -> tuple[Measure, Measure, float]:
    """Poisson and uniform runs at the same rate: the CV of the merged scheduled inter-arrival times.

    Also returns the uniform run's p90 latency from the schedule, the latency limit measure 4 uses
    (about one request in ten late: a count worth checking).
    """
    out = []
    for arrival in ("poisson", "uniform"):
        run = locust(engine, ["-u", str(cfg.users), "--target-rps", f"{cfg.arrival_rate:g}", "-t",
                              f"{cfg.arrival_s}s", "--arrival", arrival])
        lines = after_warmup(run.log)
        starts, whole = while_all_ran(run.log), scheduled_starts(lines)
        out.append((lines, starts, inter_arrival_cv(starts), inter_arrival_cv(whole), len([p for p in run.log if p])))

    def measure(kind: str, bound: str, passed, result) -> Measure:
        _lines, starts, cv, whole, procs = result
        figures = (f"CV {cv:.4f} over {len(starts):,} arrivals at {cfg.arrival_rate:g}/s while all {procs} processes "
                   f"ran, 1 s in from each end (whole run, edges included: {whole:.4f})")
        return Measure(f"{kind} arrivals, 2 processes", engine, bound, figures, passed(cv),
                       [(kind, "cv", cv), (kind, "cv_whole_run", whole), (kind, "arrivals", len(starts))])

    poisson = measure("Poisson", f"CV of merged inter-arrival times 1 ± {POISSON_CV_ERROR:g}",
                      lambda cv: abs(cv - 1) <= POISSON_CV_ERROR, out[0])
    uniform = measure("uniform", f"CV close to 0 (≤ {UNIFORM_CV_MAX:g})", lambda cv: cv <= UNIFORM_CV_MAX, out[1])
    u_lines = out[1][0]
    from_ms = [(float(f[1]) - float(f[2])) * 1000.0 for f in requests(u_lines)]
    return poisson, uniform, round(max(0.1, percentile(from_ms, 90)), 1)


def measure_warmup(engine: str, cfg) -> Measure:
    """Locust's count, the from-schedule entry's and the µs table's, against the log's requests after the warm-up."""
    run = locust(engine, ["-u", str(cfg.users), "--target-rps", f"{cfg.rate:g}", "-t", f"{cfg.warmup_run_s}s",
                          "--warmup", f"{cfg.warmup_s}s"])
    ended = len(requests(after_warmup(run.log), OPERATION))
    before = sum(len(requests(p)) for p in run.log) - ended
    counts = {"Locust": run.count(OPERATION), "from schedule": run.count(OPERATION + " (from schedule)"),
              "µs table": hdr_count(run.stdout, OPERATION)}
    passed = ended > 0 and all(v == ended for v in counts.values())
    figures = (f"log: {ended:,} ended after the {cfg.warmup_s:g} s warm-up ({before:,} before); "
               + ", ".join(f"{k} {v:,}" if v is not None else f"{k} missing" for k, v in counts.items()))
    return Measure("warm-up, 2 processes", engine, "counts = the log's requests after the warm-up, exactly", figures,
                   passed, [("warmup", "log_after", ended), ("warmup", "log_before", before)]
                   + [("warmup", k, v) for k, v in counts.items()])


def measure_latency_limit(engine: str, cfg, limit_ms: float) -> Measure:
    """The late/skipped line of --check-max-late-ratio against the log's timestamps."""
    run = locust(engine, ["-u", str(cfg.users), "--target-rps", f"{cfg.rate:g}", "-t", f"{cfg.latency_run_s}s",
                          "--latency-limit-ms", f"{limit_ms:g}", "--check-max-late-ratio", "1"])
    printed = late_line(run.stdout)
    lines = after_warmup(run.log)
    late, skipped = recount_late(lines, limit_ms)
    sent = len(requests(lines))
    passed = printed == (late, skipped) and late > 0
    shown = f"printed {printed[0]:,} late, {printed[1]:,} skipped" if printed else "no late-ratio line printed"
    figures = (f"L = {limit_ms:g} ms at {cfg.rate:g}/s: {shown}; recount {late:,} late, {skipped:,} skipped "
               f"of {sent:,} sent")
    raw = [("latency limit", "limit_ms", limit_ms), ("latency limit", "recount_late", late),
           ("latency limit", "recount_skipped", skipped), ("latency limit", "sent", sent)]
    if printed:
        raw += [("latency limit", "printed_late", printed[0]), ("latency limit", "printed_skipped", printed[1])]
    return Measure("latency limit, 2 processes", engine, "late and skipped = the log's recount, exactly", figures,
                   passed, raw)


def find_max_args(cfg) -> list[str]:
    """What --find-max-rps and every sweep run share: users, processes, the request log's cost."""
    return ["--rate-users", str(cfg.find_users)]


def run_find_max(engine: str, cfg) -> dict:
    run = locust(engine, [*find_max_args(cfg), "--find-max-rps", "--slo", cfg.slo,
                          "--find-max-rps-start", f"{cfg.start:g}", "--find-max-rps-factor", f"{cfg.factor:g}",
                          "--find-max-rps-step", f"{cfg.step_s}s", "--find-max-rps-settle", f"{cfg.settle_s}s",
                          "--find-max-rps-precision", f"{cfg.precision:g}", "--find-max-rps-limit", f"{cfg.limit:g}",
                          "-t", f"{cfg.find_max_t}s"])
    return {"found": find_max_verdict(run.stdout), "steps": find_max_steps(run.stdout), "seconds": run.seconds,
            "verdict": (_VERDICT.search(run.stdout) or [""])[0]}


def sweep_run(engine: str, cfg, rate: float, slo: dict) -> dict:
    """One fixed --target-rps run, judged on the same window a find-max step is (after the settle, for the step)."""
    length = cfg.settle_s + cfg.step_s + REPORT_WAIT_S + 1
    run = locust(engine, [*find_max_args(cfg), "--target-rps", f"{rate:g}", "-t", f"{math.ceil(length)}s"])
    lines = after_warmup(run.log)
    first = min(scheduled_starts(lines), default=0.0)  # the run's start, within a gap
    begin = first + cfg.settle_s
    return {**judge(lines, rate, begin, begin + cfg.step_s, slo), "seconds": run.seconds}


def sweep(engine: str, cfg, slo: dict) -> dict:
    """Fixed-rate runs: rising by the search's factor until one fails, then up from the best good one in steps of
    (1 + precision) until one fails: the highest good rate below the first bad one, at find-max's resolution."""
    runs = []

    def tried(rate: float) -> bool:
        runs.append(sweep_run(engine, cfg, rate, slo))
        r = runs[-1]
        print(f"bench: rate sweep {rate:,.1f}/s: achieved {r['achieved']:,.1f}/s p99 {r['p99']:.1f} ms "
              f"fail {r['fail_ratio'] * 100:.2f}% {'ok' if r['ok'] else 'FAIL ' + r['why']}", flush=True)
        return r["ok"]

    good, bad, rate = None, None, min(cfg.start, cfg.limit)
    while bad is None:
        if tried(rate):
            good = rate
            if rate >= cfg.limit:
                break
            rate = min(rate * cfg.factor, cfg.limit)
        else:
            bad = rate
    if good is not None and bad is not None:
        rate = good * (1 + cfg.precision)
        while rate < bad and tried(rate):
            good, rate = rate, rate * (1 + cfg.precision)
    return {"found": good, "runs": runs, "seconds": sum(r["seconds"] for r in runs)}


def measure_find_max(engine: str, cfg) -> Measure:
    slo = parse_slo(cfg.slo)
    found = run_find_max(engine, cfg)
    swept = sweep(engine, cfg, slo)
    a, b = found["found"], swept["found"]
    ratio = a / b if a and b else float("nan")
    # Both stopped by --find-max-rps-limit: the limit agrees with itself, the search is not compared.
    bounded = bool(a and b) and min(a, b) >= cfg.limit
    passed = bool(a and b) and abs(ratio - 1) <= FIND_MAX_AGREEMENT and not bounded
    def fmt(v):
        return "none" if not v else f"{v:,.0f}/s" + (" (the limit)" if v >= cfg.limit else "")

    figures = (f"{describe_slo(slo)}: find-max {fmt(a)} in {found['seconds']:.0f} s ({len(found['steps'])} steps), "
               f"sweep {fmt(b)} in {swept['seconds']:.0f} s ({len(swept['runs'])} runs), ratio {ratio:.3f}"
               + ("; not compared: both reached the limit" if bounded else ""))
    raw = [("find-max", "found", a or 0), ("find-max", "seconds", found["seconds"]), ("sweep", "found", b or 0),
           ("sweep", "seconds", swept["seconds"]), ("find-max", "ratio", ratio)]
    raw += [(f"find-max step {s['rate']:g}", k, s[k]) for s in found["steps"] for k in ("achieved", "p99", "ok")]
    raw += [(f"sweep {r['rate']:g}", k, r[k]) for r in swept["runs"] for k in ("achieved", "p99", "ok")]
    return Measure("--find-max-rps against a sweep", engine, f"within {FIND_MAX_AGREEMENT:.0%} of the sweep's rate",
                   figures, passed, raw, {"find_max": found, "sweep": swept, "slo": describe_slo(slo)})


# --- the section ----------------------------------------------------------------------------

def summary_table(measures: list[Measure]) -> list[str]:
    lines = ["| measure | engine | bound | figures | result |", "|---|---|---|---|---|"]
    for m in measures:
        lines.append(f"| {m.name} | {ENGINE_NAMES.get(m.engine, m.engine)} | {m.bound} | {m.figures} "
                     f"| {'PASS' if m.passed else '**FAIL**'} |")
    return lines


def stage_table(measures: list[Measure]) -> list[str]:
    lines = ["| engine | stage | target/s | achieved/s | error % | p50 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for m in measures:
        for r in m.detail.get("rows", []):
            lines.append(f"| {ENGINE_NAMES[m.engine]} | {r['stage']} | {r['target']:,.1f} | {r['achieved']:,.1f} "
                         f"| {r['error_pct']:+.2f} | {r['p50']:g} | {r['p99']:g} |")
    return lines


def search_table(m: Measure) -> list[str]:
    """find-max's steps and the sweep's runs side by side, in the order each ran."""
    lines = ["| run | rate/s | achieved/s | p50 ms | p99 ms | fail % | verdict |", "|---|---:|---:|---:|---:|---:|---|"]
    for who, rows in (("find-max step", m.detail["find_max"]["steps"]), ("sweep run", m.detail["sweep"]["runs"])):
        for i, r in enumerate(rows, 1):
            verdict = "ok" if r["ok"] else f"FAIL ({r['why']})" if r["why"] else "FAIL"
            lines.append(f"| {who} {i} | {r['rate']:,.1f} | {r['achieved']:,.1f} | {r['p50']:.1f} | {r['p99']:.1f} "
                         f"| {r['fail_ratio'] * 100:.2f} | {verdict} |")
    return lines


def section(measures: list[Measure], capacities: dict, cfg, command: str, load: tuple[float, float],
            seconds: float) -> list[str]:
    found = next((m for m in measures if m.detail.get("find_max")), None)
    cap = ", ".join(f"{ENGINE_NAMES[e]} {v:,.0f}/s" for e, v in capacities.items())
    lines = ["", f"Load control (`bench/rate.py`, issue 20), run {_now()} with `{command}` in {seconds / 60:.1f} min; "
             f"load average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the end. Point selects on "
             f"`bench_points` (`bench/dbswarm_locustfile.py`), 2 Locust processes; each measure is checked against "
             f"the per-request log (`--request-log`) or, for `--find-max-rps`, a sweep of fixed-rate runs.", "",
             f"Capacity (closed loop, {cfg.capacity_users} users, no pacing, no log, {cfg.capacity_s} s): {cap}.", "",
             *summary_table(measures), "",
             f"Rate stages `{cfg.stages}`, {cfg.users} users (target = the mean of the ramp over the stage; "
             "latency from the schedule):", "", *stage_table([m for m in measures if m.detail.get("rows")]), ""]
    if found:
        lines += [f"`--find-max-rps --slo \"{cfg.slo}\"` (start {cfg.start:g}/s, factor {cfg.factor:g}, settle "
                  f"{cfg.settle_s} s, step {cfg.step_s} s, precision {cfg.precision:g}, limit {cfg.limit:g}/s, "
                  f"{cfg.find_users} users) and the sweep of `--target-rps` runs (the same users, judged on the "
                  f"{cfg.step_s} s after a {cfg.settle_s} s settle by the same rule: p99 from the schedule, failure "
                  f"ratio, achieved ≥ {1 - STEP_SHORTFALL:.0%} of the rate; rising by the factor until a run fails, "
                  f"then from the best good rate in steps of {cfg.precision:.0%}):", "", *search_table(found), ""]
    return lines


def _now() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def write_csv(path: str, measures: list[Measure], capacities: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for engine, value in capacities.items():
            w.writerow(("capacity", engine, "closed loop", "per_s", round(value, 1)))
        for m in measures:
            w.writerow((m.name, m.engine, "result", "passed", int(m.passed)))
            for item, figure, value in m.raw:
                w.writerow((m.name, m.engine, item, figure, round(value, 4) if isinstance(value, float) else value))


# --- the command ----------------------------------------------------------------------------

def config(quick: bool) -> argparse.Namespace:
    """The runs' sizes: full (11-13 minutes here) or quick (a smoke run of about 4).

    The SLO is p99 <= 500 ms: on the shared 2-core machine other jobs stall
    the processes for 100-350 ms every few seconds, so a tighter p99 over a
    10 s window (p99 <= 50 ms failed a sweep run at 484/s minutes after
    find-max had passed 2,468/s) judges the neighbours, not the rate; 500 ms
    breaks only where the backlog grows, past what the machine serves.
    """
    full = dict(capacity_users=32, capacity_s=12, users=20, stages="15s:200,15s:200,15s:400,15s:400",
                arrival_rate=300, arrival_s=30, rate=200, warmup_run_s=20, warmup_s=6, latency_run_s=20,
                find_users=20, slo="p99=500ms,fail=0.1%", start=250, factor=2, step_s=10, settle_s=3,
                precision=0.1, limit=32000, find_max_t=360)
    if quick:
        full.update(capacity_s=5, stages="5s:100,5s:100,5s:200", arrival_rate=200, arrival_s=10, rate=100,
                    warmup_run_s=8, warmup_s=3, latency_run_s=8, step_s=3, settle_s=1, limit=1000, find_max_t=60)
    return argparse.Namespace(**full)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs, find-max up to 1000/s (a smoke run)")
    ap.add_argument("--engines", default="mysql,postgres", help="engines for the stage, warm-up and latency measures")
    ap.add_argument("--csv", default=os.path.join(REPO, "reports", "bench_rate.csv"))
    ap.add_argument("--markdown", default=os.path.join(REPO, "docs", "benchmarks.md"))
    opts = ap.parse_args(argv)
    cfg = config(opts.quick)
    engines = opts.engines.split(",")
    began, load0 = time.monotonic(), os.getloadavg()[0]
    measures, capacities = [], {}
    try:
        for engine in engines:
            db.create(engine, DATABASE)
        for engine in engines:
            capacities[engine] = capacity(engine, cfg)
            print(f"bench: rate capacity {engine} {capacities[engine]:,.0f}/s", flush=True)
            measures.append(_said(measure_stages(engine, cfg, capacities[engine])))
        poisson, uniform, limit_ms = measure_arrivals(engines[0], cfg)
        measures += [_said(poisson), _said(uniform)]
        for engine in engines:
            measures.append(_said(measure_warmup(engine, cfg)))
            measures.append(_said(measure_latency_limit(engine, cfg, limit_ms)))
        measures.append(_said(measure_find_max(engines[0], cfg)))
    finally:
        for engine in engines:
            db.drop(engine, DATABASE)
    command = "make bench" + (" BENCH_QUICK=1" if opts.quick else "")
    write_csv(opts.csv, measures, capacities)
    report.replace_block(opts.markdown, "rate", section(measures, capacities, cfg, command,
                                                       (load0, os.getloadavg()[0]), time.monotonic() - began))
    print(f"bench: wrote {opts.csv} and the rate section of {opts.markdown}", flush=True)
    return 0


def _said(m: Measure) -> Measure:
    print(f"bench: rate {'PASS' if m.passed else 'FAIL'} {m.name} ({m.engine}): {m.figures}", flush=True)
    return m


if __name__ == "__main__":
    sys.exit(main())
