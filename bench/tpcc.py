"""TPC-C: dbswarm's locustfiles/tpcc.py against Percona-Lab's sysbench-tpcc, on throwaway servers.

Not part of ``make test``. Each engine gets its own server (tests/servers.py) so
its CPU is this benchmark's alone. For each tool: the load (rows/s; sysbench's
prepare sleeps 30 s after creating the tables, which is taken off), then a
run at the same warehouses and concurrency: NOPM counted in the database
(the growth of sum(D_NEXT_O_ID), the same method for both tools), the tool's
own transactions per minute, and CPU per transaction of the generator (the
tool's processes, from rusage) and of the server (its process tree).
sysbench-tpcc's Lua scripts are not shipped: pass their directory
(``--sysbench-tpcc DIR`` holding tpcc.lua, tpcc_common.lua, tpcc_run.lua,
tpcc_check.lua from github.com/Percona-Lab/sysbench-tpcc); without it only
dbswarm is measured.

    .venv/bin/python bench/tpcc.py --sysbench-tpcc /tmp/sbtpcc --warehouses 1 --users 4 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time

import psutil
import psycopg2
import pymysql

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from servers import MariaDBServer, PostgresServer  # noqa: E402

TABLES = ("warehouse1", "district1", "customer1", "history1", "orders1", "new_orders1", "order_line1", "stock1",
          "item1")
SYSBENCH_PREPARE_SLEEP = 30.0


def connect(engine, port, db=None):
    if engine == "mysql":
        return pymysql.connect(host="127.0.0.1", port=port, user="root", database=db, autocommit=True,
                               ssl_disabled=True)
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db or "postgres")
    conn.autocommit = True
    return conn


def scalar(engine, port, db, sql):
    conn = connect(engine, port, db)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]
    finally:
        conn.close()


def server_cpu(engine, server) -> float:
    if engine == "mysql":
        t = psutil.Process(server.proc.pid).cpu_times()
        return t.user + t.system
    with open(os.path.join(server.datadir, "postmaster.pid")) as f:
        root = psutil.Process(int(f.readline()))
    t = root.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system  # backends that exited
    for child in root.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


def timed(argv, cwd=ROOT):
    """Run a tool; (stdout+stderr, wall seconds, generator CPU seconds of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}):\n{out[-3000:]}")
    return out, wall, cpu


def rows(engine, port, db) -> int:
    return sum(int(scalar(engine, port, db, f"SELECT COUNT(*) FROM {t}")) for t in TABLES)


def new_order_ids(engine, port, db) -> int:
    return int(scalar(engine, port, db, "SELECT SUM(d_next_o_id) FROM district1"))


def locust_args(engine, port, db):
    return [sys.executable, "-m", "locust", "-f", "locustfiles/tpcc.py", "--db-engine", engine, "--db-port",
            str(port), "--db-name", db, "--headless", "--only-summary"]


def sysbench_args(engine, port, db, lua_dir, warehouses, threads):
    conn = (["--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}", "--mysql-user=root",
             f"--mysql-db={db}"] if engine == "mysql" else
            ["--db-driver=pgsql", "--pgsql-host=127.0.0.1", f"--pgsql-port={port}", "--pgsql-user=postgres",
             f"--pgsql-db={db}"])
    return ["sysbench", os.path.join(lua_dir, "tpcc.lua"), *conn, f"--scale={warehouses}", "--tables=1",
            f"--threads={threads}", "--use_fk=0"]


def measure_run(engine, server, db, argv, seconds, transactions_of, cwd=ROOT):
    before_ids, before_cpu = new_order_ids(engine, server.port, db), server_cpu(engine, server)
    out, wall, gen_cpu = timed(argv, cwd)
    new_orders = new_order_ids(engine, server.port, db) - before_ids
    srv_cpu = server_cpu(engine, server) - before_cpu
    tx = transactions_of(out)
    return {"nopm_db": round(new_orders / (seconds / 60)), "tpm": round(tx / (seconds / 60)),
            "gen_us": round(1e6 * gen_cpu / max(1, tx)), "srv_us": round(1e6 * srv_cpu / max(1, tx)), "out": out}


def dbswarm_transactions(out):
    tpm = int(re.search(r"TPM:\s+([\d,]+) client", out).group(1).replace(",", ""))
    seconds = float(re.search(r"users, ([\d.]+)s", out).group(1))
    return tpm * seconds / 60


def sysbench_transactions(out):
    return int(re.search(r"transactions:\s+(\d+)", out).group(1))


def bench_engine(engine, args) -> list[dict]:
    if engine == "mysql":
        server = MariaDBServer(max_connections=200, extra_args=("--innodb-buffer-pool-size=512M",)).start()
    else:
        server = PostgresServer(max_connections=200).start()
    out_rows = []
    try:
        conn = connect(engine, server.port)
        for db in ("dbswarm_tpcc", "sbtest_tpcc"):
            conn.cursor().execute(f"CREATE DATABASE {db}")
        conn.close()
        w, u, s = args.warehouses, args.users, args.seconds
        out, wall, _ = timed([*locust_args(engine, server.port, "dbswarm_tpcc"), "--db-init", "--tpcc-warehouses",
                              str(w), "-u", "1", "-t", "1s"])
        loaded = float(re.search(r"rows in ([\d.]+)s: [\d,]+ rows/s", out).group(1))
        index = re.search(r"indexes in ([\d.]+)s", out)
        load_s = loaded + (float(index.group(1)) if index else 0.0)
        n = rows(engine, server.port, "dbswarm_tpcc")
        run = measure_run(engine, server, "dbswarm_tpcc",
                          [*locust_args(engine, server.port, "dbswarm_tpcc"), "--tpcc-warehouses", str(w), "-u", str(u),
                           "-r", str(u), "-t", f"{s}s"], s, dbswarm_transactions)
        nopm = int(re.search(r"NOPM: ([\d,]+)", run["out"]).group(1).replace(",", ""))
        if args.verbose:
            print(run["out"][-3500:])
        out_rows.append({"engine": engine, "tool": "dbswarm tpcc.py", "rows": n, "load_s": round(load_s, 1),
                         "rows_per_s": round(n / load_s), "nopm_tool": nopm, **run})
        if args.sysbench_tpcc:
            sb = sysbench_args(engine, server.port, "sbtest_tpcc", args.sysbench_tpcc, w, max(1, min(w, 4)))
            out, wall, _ = timed([*sb, "prepare"], args.sysbench_tpcc)  # it requires its modules from the cwd
            if "loading tables" not in out:
                raise SystemExit(f"sysbench-tpcc prepare did not load:\n{out[-3000:]}")
            n = rows(engine, server.port, "sbtest_tpcc")
            load_s = wall - SYSBENCH_PREPARE_SLEEP
            sb = sysbench_args(engine, server.port, "sbtest_tpcc", args.sysbench_tpcc, w, u)
            run = measure_run(engine, server, "sbtest_tpcc", [*sb, f"--time={s}", "--report-interval=0", "run"], s,
                              sysbench_transactions, args.sysbench_tpcc)
            out_rows.append({"engine": engine, "tool": "sysbench-tpcc", "rows": n, "load_s": round(load_s, 1),
                             "rows_per_s": round(n / load_s), "nopm_tool": None, **run})
    finally:
        server.cleanup()
    return out_rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="mysql,postgres")
    ap.add_argument("--warehouses", type=int, default=1)
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--sysbench-tpcc", default=None, help="directory with sysbench-tpcc's Lua scripts")
    ap.add_argument("--verbose", action="store_true", help="print dbswarm's end-of-run output")
    args = ap.parse_args(argv)
    results = []
    for engine in args.engines.split(","):
        results.extend(bench_engine(engine, args))
    print(f"\nTPC-C, {args.warehouses} warehouse(s), {args.users} users/threads, {args.seconds}s runs\n")
    print("| engine | tool | rows loaded | load s | rows/s | NOPM (database) | NOPM (tool) | TPM (tool) "
          "| generator CPU µs/tx | server CPU µs/tx |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['engine']} | {r['tool']} | {r['rows']:,} | {r['load_s']} | {r['rows_per_s']:,} | "
              f"{r['nopm_db']:,} | {r['nopm_tool'] if r['nopm_tool'] is not None else 'n/a'} | {r['tpm']:,} | "
              f"{r['gen_us']:,} | {r['srv_us']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
