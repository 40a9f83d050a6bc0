"""What a deadline costs per query, in-process, on the local MariaDB and PostgreSQL.

    .venv/bin/python bench/deadline_cost.py [QUERIES] [ROUNDS]

One greenlet runs ``SELECT 1`` QUERIES times per variant; the variants take
turns ROUNDS times, each going first in turn (so machine drift shifts them alike) and the median of the
rounds is printed, in microseconds per query:

  none          cursor.execute + fetchall, no deadline
  deadline      one plugins.deadline.Deadline per connection, start() and cancel() around each query (dbswarm's)
  timer/link    one gevent.Timeout per connection, start() and cancel() around each query: what dbswarm did
                before; wrong on gevent's libev loop, which resumes a restarted Timeout with the time left
                (gevent #1890), so it fires once the queries have taken the timeout in all; kept for its cost
  timer/query   a new gevent.Timeout per query (``with gevent.Timeout(s):``)
  socket        MySQL only: PyMySQL's read_timeout/write_timeout (a socket timeout, per read)
  session       DbSession.run with --db-query-timeout 0
  session+dl    DbSession.run with --db-query-timeout 10
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from time import perf_counter  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gevent  # noqa: E402
import pymysql  # noqa: E402

from plugins.config import DbConfig  # noqa: E402
from plugins.deadline import Deadline  # noqa: E402
from plugins.engines.drivers import driver_for  # noqa: E402
from plugins.engines.mysql.mysql_cursor import LeanCursor  # noqa: E402
from plugins.session import DbSession  # noqa: E402
from plugins.workload import read  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
SQL = "SELECT 1"


class _Request:
    def fire(self, **_kw):
        pass


class _Events:
    request = _Request()


class _Env:
    parsed_options = None
    events = _Events()


def cfg(engine, timeout):
    return DbConfig(engine=engine, port=3306 if engine == "mysql" else 5432,
                    user="root" if engine == "mysql" else "postgres",
                    database="mysql" if engine == "mysql" else "postgres", query_timeout=timeout)


def raw_loop(cur, mode):
    timer = Deadline(10) if mode == "deadline" else gevent.Timeout(10)
    start = perf_counter()
    if mode == "none":
        for _ in range(N):
            cur.execute(SQL)
            cur.fetchall()
    elif mode in ("deadline", "timer/link"):
        for _ in range(N):
            timer.start()
            try:
                cur.execute(SQL)
                cur.fetchall()
            finally:
                timer.cancel()
    elif mode == "timer/query":
        for _ in range(N):
            with gevent.Timeout(10):
                cur.execute(SQL)
                cur.fetchall()
    return (perf_counter() - start) / N * 1e6


def session_loop(session):
    stmt = read("one", SQL)
    run = session.run
    start = perf_counter()
    for _ in range(N):
        run(stmt)
    return (perf_counter() - start) / N * 1e6


def timer_alone() -> None:
    """The deadline's own CPU, without I/O: the figure the noisy loops above bound."""
    import timeit

    timer, deadline = gevent.Timeout(10), Deadline(10)

    def reused():
        timer.start()
        timer.cancel()

    def restarted():
        deadline.start()
        deadline.cancel()

    def fresh():
        with gevent.Timeout(10):
            pass

    for name, fn in (("deadline", restarted), ("timer/link", reused), ("timer/query", fresh)):
        best = min(timeit.repeat(fn, number=100000, repeat=7)) / 100000 * 1e6
        print(f"  {name:12s} {best:6.3f} us per operation (start + cancel), best of 7 x 100000")


def main():
    print("deadline alone:")
    timer_alone()
    for engine in ("mysql", "postgres"):
        driver = driver_for(engine)
        conn = driver.connect(cfg(engine, 10))
        cur = conn.cursor()
        variants = {m: (lambda m=m: raw_loop(cur, m)) for m in ("none", "deadline", "timer/link", "timer/query")}
        if engine == "mysql":
            sock_conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True, cursorclass=LeanCursor,
                                        read_timeout=10, write_timeout=10, ssl_disabled=True)
            sock_cur = sock_conn.cursor()
            variants["socket"] = lambda: raw_loop(sock_cur, "none")
        off, on = DbSession(_Env(), cfg(engine, 0)), DbSession(_Env(), cfg(engine, 10))
        off.open(), on.open()
        variants["session"] = lambda: session_loop(off)
        variants["session+dl"] = lambda: session_loop(on)
        results = {name: [] for name in variants}
        names = list(variants)
        for r in range(ROUNDS):
            for name in names[r % len(names):] + names[:r % len(names)]:  # each variant goes first in turn
                results[name].append(variants[name]())
        base = statistics.median(results["none"])
        print(f"{engine}: {N} x {SQL!r}, {ROUNDS} rounds, us per query: median (min)")
        for name, values in results.items():
            med = statistics.median(values)
            print(f"  {name:12s} {med:7.2f} ({min(values):6.2f})  {med - base:+.2f} vs none")


if __name__ == "__main__":
    main()
