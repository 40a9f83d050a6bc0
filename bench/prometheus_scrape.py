"""What a Prometheus scrape of --prometheus-port costs: 4 operations at 1,000 requests/s, with and without
a scrape every second.

    .venv/bin/python bench/prometheus_scrape.py [--seconds 25] [--rounds 2] [--processes 2]

Each round runs the same load twice, once scraped and once not (in turn, so
drift on a shared machine hits both alike), and prints per configuration:
the requests/s reached, p50/p99 per operation (µs, HDR), the master's CPU
seconds, and for the scraped run the CPU per scrape on the master and the
collector's own CPU time per scrape (dbswarm_scrape_collect_cpu_seconds). The
database is the local MariaDB (database dbswarm_scrape_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Scraper(threading.Thread):
    """GET /metrics every second, like a Prometheus with scrape_interval 1s (bounded by ``stop``)."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.done, self.collect = port, threading.Event(), []
        self.scrapes, self.bytes = 0, 0

    def run(self):
        while not self.done.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                continue
            self.scrapes += 1
            self.bytes = len(body)
            m = re.search(r"^dbswarm_scrape_collect_cpu_seconds (\S+)$", body, re.M)
            if m and float(m.group(1)) > 0:
                self.collect.append(float(m.group(1)))


def one_run(args, scraped: bool) -> dict:
    reports = tempfile.mkdtemp(prefix="dbswarm-scrape-bench-")
    port, web, master = free_port(), free_port(), free_port()
    cmd = [sys.executable, "-m", "locust", "-f", os.path.join(REPO, "bench", "scrape_locustfile.py"), "--headless", "-u", str(args.users),
           "-r", str(args.users), "-t", f"{args.seconds}s", "--db-init", "--target-rps", str(args.rps),
           "--report-dir", reports, "--web-port", str(web), "--only-summary", "--no-db-stats-console",
           "--prometheus-port", str(port)]
    if args.processes:
        cmd += ["--processes", str(args.processes), "--master-port", str(master), "--master-bind-port", str(master)]
    # Outside the repository (its locust.conf holds the design card's defaults); plugins from PYTHONPATH.
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, cwd=reports, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    scraper = Scraper(port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the load starts when /metrics answers
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read()
            break
        except OSError:
            time.sleep(0.2)
    cpu0 = cpu_seconds(proc.pid)
    if scraped:
        scraper.start()
    time.sleep(args.seconds - 1)
    cpu1 = cpu_seconds(proc.pid)
    scraper.done.set()
    output, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"locust failed ({proc.returncode}):\n{output[-3000:]}")
    with open(os.path.join(reports, "latency_us.json")) as f:
        latency = {r["name"]: r for r in json.load(f) if r["type"] == "MySQL" and r["name"] != "connect"}
    with open(os.path.join(reports, "run_summary.json")) as f:
        summary = json.load(f)
    rps = sum(o["requests_per_s"] for o in summary["operations"] if o["type"] == "MySQL" and o["name"] != "connect")
    return {"scraped": scraped, "rps": rps, "master_cpu_s": cpu1 - cpu0, "scrapes": scraper.scrapes,
            "page_bytes": scraper.bytes, "collect_ms": 1000 * sum(scraper.collect) / max(1, len(scraper.collect)),
            "latency": {n: (r["p50"], r["p99"]) for n, r in sorted(latency.items())}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rps", type=float, default=1000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2, help="worker processes (0: the local runner)")
    args = parser.parse_args()
    results = []
    for i in range(args.rounds):
        for scraped in ((False, True) if i % 2 == 0 else (True, False)):
            r = one_run(args, scraped)
            results.append(r)
            ops = "  ".join(f"{n} {p50}/{p99}" for n, (p50, p99) in r["latency"].items())
            print(f"round {i + 1} {'scraped' if scraped else 'no scrape'}: {r['rps']:.0f} req/s, master CPU "
                  f"{r['master_cpu_s']:.2f} s, scrapes {r['scrapes']}, page {r['page_bytes']} B, "
                  f"collect {r['collect_ms']:.2f} ms; p50/p99 µs: {ops}", flush=True)
    on = [r for r in results if r["scraped"]]
    off = [r for r in results if not r["scraped"]]
    extra_cpu = sum(r["master_cpu_s"] for r in on) / len(on) - sum(r["master_cpu_s"] for r in off) / len(off)
    scrapes = sum(r["scrapes"] for r in on) / len(on)
    print(f"master CPU per scrape: {1000 * extra_cpu / max(1, scrapes):.2f} ms "
          f"(scraped minus unscraped runs over {scrapes:.0f} scrapes); collector alone: "
          f"{sum(r['collect_ms'] for r in on) / len(on):.2f} ms per scrape")
    for name in on[0]["latency"]:
        a = [r["latency"][name] for r in off]
        b = [r["latency"][name] for r in on]
        print(f"  {name}: p50 {sum(x[0] for x in a) / len(a):.0f} -> {sum(x[0] for x in b) / len(b):.0f} µs, "
              f"p99 {sum(x[1] for x in a) / len(a):.0f} -> {sum(x[1] for x in b) / len(b):.0f} µs")
    print(f"  requests/s: {sum(r['rps'] for r in off) / len(off):.0f} -> {sum(r['rps'] for r in on) / len(on):.0f}")


if __name__ == "__main__":
    main()
