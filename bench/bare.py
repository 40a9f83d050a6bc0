"""The bare driver loop: N greenlets, one connection each, point selects back to back.

What a generator costs without Locust: the driver, gevent and one
perf_counter pair per query. ``--procs 2`` splits the users over two processes
like ``locust --processes 2``. ``--client dbswarm`` sends the queries the way a
dbswarm user does (a prepared statement; MySQL: through dbswarm's lean
cursor in the binary protocol; PostgreSQL: with dbswarm's wait callback), so a latency comparison with dbswarm
measures the reporting and not two different clients.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from time import perf_counter  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])
from bench import db  # noqa: E402
from bench.probe import Window  # noqa: E402


def user(engine: str, window: Window, factory=None, client: str = "driver") -> None:
    conn = db.connect(engine, connection_factory=factory)
    sql = db.SQL
    if client == "dbswarm" and engine == "mysql":
        from plugins.engines.mysql.mysql_cursor import LeanCursor

        cur = conn.cursor(LeanCursor)
        sql = cur.prepare(sql)  # binary protocol, as a dbswarm user's repeated statements
    else:
        cur = conn.cursor()
    if client == "dbswarm" and engine == "postgres":
        cur.execute(db.PG_PREPARE)
        sql = db.PG_EXECUTE
    # Run on past the window's end: the harness samples server CPU at t1, and a
    # backend that already exited with its connection would take its CPU along.
    record, rows, end = window.record, db.ROWS, window.t1 + 1.0
    randint = random.randint
    while time.time() < end:
        start = perf_counter()
        cur.execute(sql, (randint(1, rows),))
        cur.fetchall()
        record((perf_counter() - start) * 1000.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=("mysql", "postgres"), required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--pg-wait", choices=("psycogreen", "dbswarm"), default="psycogreen",
                    help="PostgreSQL wait callback: psycogreen's, or dbswarm's with per-connection watchers")
    ap.add_argument("--client", choices=("driver", "dbswarm"), default="driver",
                    help="driver: the driver's own cursor, text queries; dbswarm: the way a dbswarm user queries")
    args = ap.parse_args()
    if args.procs > 1:
        share = [args.users // args.procs + (i < args.users % args.procs) for i in range(args.procs)]
        children = [subprocess.Popen([sys.executable, __file__, "--engine", args.engine, "--users", str(n),
                                      "--pg-wait", args.pg_wait, "--client", args.client])
                    for n in share]
        sys.exit(max(c.wait() for c in children))
    factory = None
    if args.engine == "postgres" and (args.pg_wait == "dbswarm" or args.client == "dbswarm"):
        from plugins.engines.postgres.pg_gevent import CooperativeConnection, make_cooperative

        make_cooperative()
        factory = CooperativeConnection
    elif args.engine == "postgres":
        import psycogreen.gevent

        psycogreen.gevent.patch_psycopg()
    window = Window.from_env()
    window.start()
    gevent.joinall([gevent.spawn(user, args.engine, window, factory, args.client) for _ in range(args.users)], raise_error=True)
    gevent.sleep(0.2)  # let the window's writer finish


if __name__ == "__main__":
    main()
