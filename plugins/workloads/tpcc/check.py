"""TPC-C consistency conditions 1 to 4 (clause 3.3.2.1 - 3.3.2.4), per warehouse.

Run at the end of a run with ``--tpcc-check``, or on its own:

    python -m plugins.workloads.tpcc.check --db-engine postgres --db-name tpcc

Prints one PASS/FAIL line per condition and warehouse; exit code 3 when any
fails (2 on bad input or when the database cannot be read), like the run's
other checks. The queries aggregate each table once for all warehouses.

1. W_YTD = sum(D_YTD) of its districts.
2. Per district: D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID).
3. Per district: number of NEW-ORDER rows = max(NO_O_ID) - min(NO_O_ID) + 1.
4. Per district: sum(O_OL_CNT) = number of ORDER-LINE rows.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

EXIT_FAILED = 3
EXIT_BAD_INPUT = 2

CONDITION_SQL = {
    "warehouses": "SELECT w_id, w_ytd FROM warehouse1",
    "districts": "SELECT d_w_id, d_id, d_ytd, d_next_o_id FROM district1",
    "orders": "SELECT o_w_id, o_d_id, MAX(o_id), SUM(o_ol_cnt) FROM orders1 GROUP BY o_w_id, o_d_id",
    "new_orders": "SELECT no_w_id, no_d_id, MAX(no_o_id), MIN(no_o_id), COUNT(*) FROM new_orders1 "
                  "GROUP BY no_w_id, no_d_id",
    "order_lines": "SELECT ol_w_id, ol_d_id, COUNT(*) FROM order_line1 GROUP BY ol_w_id, ol_d_id",
}


def _rows(cursor, key: str):
    cursor.execute(CONDITION_SQL[key])
    return cursor.fetchall()


def evaluate(cursor) -> list[tuple[bool, str]]:
    """(passed, text) per condition and warehouse, in warehouse order."""
    warehouses = {int(w): ytd for w, ytd in _rows(cursor, "warehouses")}
    districts = defaultdict(dict)
    for w, d, ytd, next_o_id in _rows(cursor, "districts"):
        districts[int(w)][int(d)] = (ytd, next_o_id)
    orders = {(int(w), int(d)): (max_o, ol_cnt) for w, d, max_o, ol_cnt in _rows(cursor, "orders")}
    new_orders = {(int(w), int(d)): (mx, mn, n) for w, d, mx, mn, n in _rows(cursor, "new_orders")}
    lines = {(int(w), int(d)): n for w, d, n in _rows(cursor, "order_lines")}
    results = []
    for w in sorted(warehouses):
        ds = districts.get(w, {})
        total = sum((ytd for ytd, _ in ds.values()), start=0)
        ok = bool(ds) and warehouses[w] == total
        results.append((ok, f"condition 1 warehouse {w}: W_YTD {warehouses[w]} = sum(D_YTD) {total}"))

        bad2, bad3, bad4 = [], [], []
        for d in sorted(ds):
            next_o_id = ds[d][1]
            max_o, ol_cnt = orders.get((w, d), (None, None))
            mx, mn, n = new_orders.get((w, d), (None, None, 0))
            # A district whose new orders were all delivered has no max(NO_O_ID) to compare.
            if max_o != next_o_id - 1 or (mx is not None and mx != max_o):
                bad2.append(f"district {d}: D_NEXT_O_ID-1 {next_o_id - 1}, max(O_ID) {max_o}, max(NO_O_ID) {mx}")
            if mx is not None and n != mx - mn + 1:
                bad3.append(f"district {d}: {n} rows, max-min+1 {mx - mn + 1}")
            if (ol_cnt or 0) != lines.get((w, d), 0):
                bad4.append(f"district {d}: sum(O_OL_CNT) {ol_cnt}, order lines {lines.get((w, d), 0)}")
        n_d = len(ds)
        results.append((not bad2 and n_d > 0, f"condition 2 warehouse {w}: D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)"
                        + (f" in {n_d} districts" if not bad2 else "; " + "; ".join(bad2))))
        results.append((not bad3 and n_d > 0, f"condition 3 warehouse {w}: new-order rows = max - min + 1"
                        + (f" in {n_d} districts" if not bad3 else "; " + "; ".join(bad3))))
        results.append((not bad4 and n_d > 0, f"condition 4 warehouse {w}: sum(O_OL_CNT) = order-line rows"
                        + (f" in {n_d} districts" if not bad4 else "; " + "; ".join(bad4))))
    if not warehouses:
        results.append((False, "no warehouse in warehouse1 (load it with --db-init)"))
    return results


def run_checks(conn, engine: str) -> list[tuple[bool, str]]:
    """evaluate() in one consistent snapshot, so it may run while transactions commit."""
    cursor = conn.cursor()
    cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT" if engine == "mysql"
                   else "BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        return evaluate(cursor)
    finally:
        cursor.execute("COMMIT")


def lines(results: list[tuple[bool, str]]) -> list[str]:
    return [f"tpcc check {'PASS' if ok else 'FAIL'}: {text}" for ok, text in results]


def main(argv=None) -> int:
    from ...config import DEFAULT_PORT, DEFAULT_USER, ENGINES, DbConfig
    from . import db

    parser = argparse.ArgumentParser(prog="python -m plugins.workloads.tpcc.check",
                                     description="TPC-C consistency conditions 1-4 (clause 3.3.2) on sysbench-tpcc tables")
    parser.add_argument("--db-engine", choices=ENGINES, default="mysql")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-port", type=int, default=None)
    parser.add_argument("--db-user", default=None)
    parser.add_argument("--db-password", default="", help="(or DBSWARM_DB_PASSWORD)")
    parser.add_argument("--db-name", default="tpcc")
    parser.add_argument("--db-ssl-ca", default=None)
    args = parser.parse_args(argv)
    import os

    cfg = DbConfig(engine=args.db_engine, host=args.db_host, port=args.db_port or DEFAULT_PORT[args.db_engine],
                   user=args.db_user or DEFAULT_USER[args.db_engine],
                   password=args.db_password or os.environ.get("DBSWARM_DB_PASSWORD", ""),
                   database=args.db_name, ssl_ca=args.db_ssl_ca)
    try:
        conn = db.connect(cfg)
        try:
            results = run_checks(conn, cfg.engine)
        finally:
            conn.close()
    except db.errors(cfg.engine) as exc:
        sys.stderr.write(f"dbswarm: cannot check {cfg.label} at {cfg.where()} (database {cfg.database}): "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}\n")
        return EXIT_BAD_INPUT
    print("\n".join(lines(results)))
    return 0 if all(ok for ok, _ in results) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
