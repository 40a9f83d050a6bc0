"""Scale per process: 1000 dbswarm users in one Locust process against a throwaway MariaDB.

The server is started here with max_connections 1200 (tests/servers.py), so the
shared MariaDB is never touched; the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)

from servers import MariaDBServer  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--spawn-rate", type=float, default=1000)
    ap.add_argument("--quick", action="store_true", help="100 users")
    ap.add_argument("--markdown", default=os.path.join(REPO, "docs", "benchmarks.md"))
    opts = ap.parse_args(argv)
    users = 100 if opts.quick else opts.users
    server = MariaDBServer(max_connections=users + 200).start()
    try:
        os.environ["BENCH_MYSQL_PORT"] = str(server.port)
        from bench import db, report

        db.MYSQL["port"] = server.port
        db.create("mysql")
        with tempfile.TemporaryDirectory(prefix="dbswarm-scale-") as workdir:
            cmd = [sys.executable, "-m", "locust", "-f", os.path.join(REPO, "bench", "scale_locustfile.py"), "--headless", "-u", str(users),
                   "-r", str(opts.spawn_rate), "-t", f"{max(20, users // 25)}s", "--only-summary", "--db-engine",
                   "mysql", "--db-port", str(server.port), "--db-stats-interval", "0", "--report-dir", workdir,
                   "--loglevel", "WARNING"]
            proc = subprocess.run(cmd, cwd=workdir, env={**os.environ, "BENCH_OUT": workdir}, capture_output=True,
                                  text=True, timeout=300)
            path = os.path.join(workdir, "scale.json")
            if not os.path.exists(path):
                sys.stderr.write(f"bench: scale run wrote no result (rc={proc.returncode})\n{proc.stdout[-3000:]}"
                                 f"{proc.stderr[-3000:]}\n")
                return 1
            with open(path) as f:
                result = json.load(f)
    finally:
        server.cleanup()
    print(f"bench: scale {json.dumps(result)}", flush=True)
    s100, sall = result["stall_first100"], result["stall_whole_spawn"]
    report.replace_block(opts.markdown, "scale", [
        "", f"Scale per process (`bench/scale.py`, {result['users']} users in one process, spawn rate "
        f"{opts.spawn_rate:g}/s, one point select per user per second, throwaway MariaDB):", "",
        "| figure | value |", "|---|---:|",
        f"| RSS at start → with all users | {result['rss_start_mb']} MiB → {result['rss_mb']} MiB |",
        f"| memory per user | {result['kib_per_user']} KiB |",
        f"| Locust spawn time (all users started) | {result['spawn_s']} s |",
        f"| all users connected | {result['connected_s']} s |",
        f"| first 100 users connected | {result['first100_connected_s']} s |",
        f"| event-loop stalls > {result['stall_threshold_ms']:g} ms until 100 users connected: longest / total / count "
        f"| {s100['longest_ms']} ms / {s100['total_ms']} ms / {s100['stalls']} |",
        f"| same over the whole spawn | {sall['longest_ms']} ms / {sall['total_ms']} ms / {sall['stalls']} |", ""])
    return 0


if __name__ == "__main__":
    sys.exit(main())
