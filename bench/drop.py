"""Why queries/s falls from 8 to 32 to 128 users: where each query's CPU goes as users grow.

The bare PostgreSQL loop (dbswarm's wait callback, no Locust) at several user
counts, in simple and prepared query mode: queries/s, generator and server CPU
per query, how busy the whole machine is (/proc/stat, steal included) and
context switches per query. ``python bench/drop.py [--engine postgres]
[--users 1,8,32,128] [--seconds 4]``; the harness's bench database must exist
(``make bench`` keeps none: ``bench/run.py --keep-db`` or ``python -c 'from
bench import db; db.create("postgres")'``).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import cpu, db  # noqa: E402

def box() -> tuple[list[int], int]:
    """(/proc/stat cpu jiffies, context switches since boot)."""
    with open("/proc/stat") as f:
        lines = f.read().splitlines()
    jiffies = [int(x) for x in lines[0].split()[1:]]
    switches = next(int(line.split()[1]) for line in lines if line.startswith("ctxt"))
    return jiffies, switches


def measure(engine: str, mode: str, users: int, seconds: float) -> dict:
    factory = None
    if engine == "postgres":
        from plugins.engines.postgres.pg_gevent import CooperativeConnection, make_cooperative

        make_cooperative()
        factory = CooperativeConnection
    done = [0]
    stop = [False]

    def user():
        conn = db.connect(engine, connection_factory=factory)
        cur = conn.cursor()
        sql = db.SQL
        if mode == "prepared":
            cur.execute(db.PG_PREPARE)
            sql = db.PG_EXECUTE
        while not stop[0]:
            cur.execute(sql, (random.randint(1, db.ROWS),))
            cur.fetchall()
            done[0] += 1
        conn.close()

    greenlets = [gevent.spawn(user) for _ in range(users)]
    gevent.sleep(1.0)  # connected and warm
    me = psutil.Process()
    c0, s0, (j0, x0), n0, t0 = me.cpu_times(), cpu.servers(engine), box(), done[0], time.time()
    gevent.sleep(seconds)
    c1, s1, (j1, x1), n1, t1 = me.cpu_times(), cpu.servers(engine), box(), done[0], time.time()
    stop[0] = True
    gevent.joinall(greenlets)
    q = n1 - n0
    d = [b - a for a, b in zip(j0, j1)]
    idle = d[3] + d[4]  # idle + iowait
    return {"engine": engine, "mode": mode, "users": users, "qps": q / (t1 - t0),
            "gen_us": (c1.user + c1.system - c0.user - c0.system) / q * 1e6,
            "server_us": cpu.delta(s0, s1) / q * 1e6, "busy_pct": 100.0 * (sum(d) - idle) / sum(d),
            "steal_pct": 100.0 * d[7] / sum(d), "switches": (x1 - x0) / q}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=("postgres",), default="postgres")
    ap.add_argument("--users", default="1,8,32,128")
    ap.add_argument("--modes", default="simple,prepared")
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    print("| mode | users | queries/s | generator CPU µs/query | server CPU µs/query | machine busy % | steal % "
          "| context switches/query |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode in args.modes.split(","):
        for users in (int(u) for u in args.users.split(",")):
            r = measure(args.engine, mode, users, args.seconds)
            print(f"| {mode} | {users} | {r['qps']:,.0f} | {r['gen_us']:.1f} | {r['server_us']:.1f} "
                  f"| {r['busy_pct']:.0f} | {r['steal_pct']:.0f} | {r['switches']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
