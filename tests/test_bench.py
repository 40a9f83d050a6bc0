"""`make bench BENCH_QUICK=1` end to end on the real databases: the harness runs and writes sane numbers.

No speed is asserted: the machine is shared. What is checked is that every
generator completed queries in its window, that CPU and latency were measured,
and that the CSV and the markdown table were written.
"""

import csv
import os
import subprocess
import sys
import uuid

import pytest

from conftest import REPO


@pytest.mark.serial  # its generators must start within the bench's startup allowance
def test_quick_bench_writes_csv_and_markdown(tmp_path):
    out_csv, out_md = tmp_path / "bench.csv", tmp_path / "benchmarks.md"
    env = {**os.environ, "BENCH_DB": f"dbswarm_bench_t{uuid.uuid4().hex[:8]}"}
    proc = subprocess.run([sys.executable, "bench/run.py", "--quick", "--csv", str(out_csv), "--markdown", str(out_md)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    generators = {(r["engine"], r["generator"]) for r in rows}
    for engine in ("mysql", "postgres"):
        for generator in ("bare", "reference", "dbswarm", "native"):
            assert (engine, generator) in generators
    for r in rows:
        assert int(r["queries"]) > 100, r
        assert 0 < float(r["p50_us"]) <= float(r["p99_us"]) < 1_000_000, r
        assert 1 < float(r["cpu_us_per_query"]) < 10_000, r
        assert float(r["server_cpu_pct"]) > 0, r
    text = out_md.read_text()
    assert "| mysql | 8 | 1 | dbswarm user |" in text and "| postgres | 8 | 1 | bare driver loop |" in text
    assert "Load average" in text and "Against the targets" in text
    assert "dbswarm_bench_t" not in subprocess.run(
        ["mariadb", "-h127.0.0.1", "-uroot", "-N", "-e", "SHOW DATABASES"], capture_output=True, text=True).stdout


def test_accuracy_part_is_rewritten_alone(tmp_path):
    """`--accuracy-only` rewrites its own block: the table, the scale figures and the hand-written text stay."""
    from bench import report

    path = tmp_path / "benchmarks.md"
    report.replace_block(str(path), "bench", ["the table"])
    report.replace_block(str(path), "scale", ["the scale figures"])
    path.write_text("# Benchmarks\n\nhand-written findings\n\n" + path.read_text().split("\n\n", 1)[1])
    runs = [{"engine": "mysql", "bare_p50_us": b, "bare_dbswarm_p50_us": s, "dbswarm_probe_p50_us": d,
             "dbswarm_hdr_p50_us": d} for b, s, d in ((200.0, 100.0, 104.0), (220.0, 110.0, 110.0), (180.0, 90.0, 95.0))]
    for _ in range(2):  # written twice: replaced, not appended
        report.write_accuracy(str(path), runs, "make bench BENCH_ARGS=--accuracy-only", now="2026-01-01 00:00 UTC")
    text = path.read_text()
    assert "hand-written findings" in text and "the table" in text and "the scale figures" in text
    assert text.count("Latency accuracy at 1 user") == 1
    # Medians: bare 200, same client 100, dbswarm 104 -> -48.0 % against the driver's cursor, +4.0 % like for like.
    assert "| mysql | 200 | 100 | 104 | 104 | -48.0 % | 4.0 % | 200 / 100 / 104, 220 / 110 / 110, 180 / 90 / 95 |" in text


def test_breakdown_splits_dbswarm_cpu_per_query():
    """Locust's floor + the bare dbswarm client, against the dbswarm and reference rows of the same configuration."""
    from bench import report

    def row(gen, cpu, engine="postgres", users=32, procs=1):
        return {"engine": engine, "generator": gen, "users": users, "processes": procs, "cpu_us_per_query": cpu}

    summary = [row("dbswarm", 34.3), row("reference", 35.7), row("dbswarm", 50.0, procs=2)]
    parts = [row("locust-floor", 7.0), row("bare-dbswarm", 20.6), row("locust-floor", 7.1, engine="mysql")]
    lines = report.breakdown(summary, parts)
    assert lines == ["- postgres, 32 users, 1 process: Locust's own cost per request 7.0 µs + the bare loop with "
                     "dbswarm's client 20.6 µs = 27.6 µs; the dbswarm user 34.3 µs (+6.7 µs beyond the sum: dbswarm's "
                     "session, listeners and task, and Locust and the driver sharing one process); the hand-written "
                     "reference 35.7 µs."]  # mysql has no bare-dbswarm part: no line


def test_rate_bench_judges_from_the_log():
    """bench/rate.py's helpers on a hand-made log: CV, recount, the sweep's judging rule, the printed tables."""
    from bench import rate

    def line(i, took, late):
        return ["R", f"{100 + i * 0.01 + took:.9f}", f"{100 + i * 0.01:.9f}", late, "1", "1", "q"]

    grid = [[line(i, 0.001, "0") for i in range(0, 100, 2)], [line(i, 0.004, "1") for i in range(1, 100, 2)]]
    grid[1] += [["K", "101.5", "q"]]  # one process ran on alone: outside the span both ran
    starts = rate.while_all_ran(grid, trim=0.1)
    assert (starts[0], starts[-1], len(starts)) == (100.11, 100.88, 78) and rate.inter_arrival_cv(starts) < 1e-6
    assert rate.inter_arrival_cv([0.0, 1.0, 3.0]) == pytest.approx(1 / 3)
    lines = rate.after_warmup(grid)
    assert rate.recount_late(lines, 3.0) == (50, 1) and rate.recount_late(lines, 4.0) == (0, 1)
    assert rate.log_ns("1.000000001") - rate.log_ns("1.0") == 1
    slo = {"p99": 3.0, "fail": 0.0}
    ok = rate.judge(lines, 100.0, 100.0, 100.5, {"p99": 5.0})
    assert ok["ok"] and ok["achieved"] == 100.0 and ok["p99"] == pytest.approx(4.0)
    bad = rate.judge(lines, 110.0, 100.0, 100.5, slo)
    assert not bad["ok"] and bad["why"] == "achieved 100.0/s, p99 4.0ms"
    out = ("  stage  target/s achieved/s   p50 ms   p99 ms  lag p99 shortfall   late skipped goodput/s\n"
           "      1     100.0       99.8      1.4        9      6.1      0.2%      0       0      99.8\n"
           "    1,600.0    1,598.0      1.1      4.3    0.00  ok        connections 5.0\n"
           "    3,200.0    2,100.5     44.0      900    0.00  FAIL      no samples  (achieved 2100.5/s, p99 900ms)\n"
           "late ratio 0.0100 (7 late, 3 skipped of 1000; limit 1)\n"
           "max rate meeting p99<=50ms, fail<=0.1%: 1,600/s\n")
    assert rate.stage_rows(out)[0]["achieved"] == 99.8 and len(rate.stage_rows(out)) == 1
    assert rate.late_line(out) == (7, 3) and rate.find_max_verdict(out) == 1600.0
    steps = rate.find_max_steps(out)
    assert [(s["rate"], s["ok"]) for s in steps] == [(1600.0, True), (3200.0, False)]
    assert steps[1]["why"] == "achieved 2100.5/s, p99 900ms"
