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

from conftest import REPO


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
