"""``--db-init`` for TPC-C: the initial database of clause 4.3, loaded by warehouse.

Idempotent: each warehouse is loaded in one transaction that writes its
WAREHOUSE row last, so a warehouse row means the warehouse is complete, and a
load that was interrupted (killed, database restarted) leaves nothing of the
unfinished warehouses behind; the next ``--db-init`` loads just those. Tables
holding another scale (items, customers per district) are dropped and
reloaded. The work (ITEM, then each missing warehouse) is spread over a few
loader processes (``python -m plugins.workloads.tpcc.loader``, one connection each), so
the Python that makes the rows runs in parallel with the server that stores
them: COPY on PostgreSQL, multi-row INSERTs on MySQL.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from ...config import MYSQL, DbConfig
from . import db, rand, schema

ITEMS = 100_000
CUSTOMERS_PER_DISTRICT = 3_000
DISTRICTS = 10
INSERT_ROWS = 500  # rows per multi-row INSERT on MySQL
ENV_KEY = "DBSWARM_TPCC_LOAD"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository


@dataclass(frozen=True)
class Scale:
    """Cardinalities per warehouse; the specification's unless a test scales them down."""

    items: int = ITEMS
    customers: int = CUSTOMERS_PER_DISTRICT  # per district; also orders per district

    @classmethod
    def from_options(cls, opts) -> Scale:
        down = max(1, int(getattr(opts, "tpcc_scale_down", 1) or 1))
        return cls(items=ITEMS // down, customers=CUSTOMERS_PER_DISTRICT // down)

    @property
    def first_new_order(self) -> int:
        """Orders from here on are undelivered at load: 2101 of 3000 (the last 900)."""
        return self.customers * 2100 // CUSTOMERS_PER_DISTRICT + 1

    @property
    def last_names(self) -> int:
        """Last-name numbers 0..n-1 the load guarantees in every district (1000 at full scale)."""
        return min(1000, self.customers)

    def rows_per_warehouse(self) -> int:
        c = self.customers * DISTRICTS
        return 1 + DISTRICTS + self.items + 3 * c + (c - (self.first_new_order - 1) * DISTRICTS) + 10 * c


# -- rows -------------------------------------------------------------------------------------------
# Each table: its columns, which are text (quoted on MySQL), and a generator of rows as strings
# (None for NULL). Generated text is alphanumeric, so no value needs escaping.

COLUMNS = {
    "item1": ("i_id i_im_id i_name i_price i_data", "00101"),
    "warehouse1": ("w_id w_name w_street_1 w_street_2 w_city w_state w_zip w_tax w_ytd", "011111100"),
    "district1": ("d_id d_w_id d_name d_street_1 d_street_2 d_city d_state d_zip d_tax d_ytd d_next_o_id",
                  "00111111000"),
    "customer1": ("c_id c_d_id c_w_id c_first c_middle c_last c_street_1 c_street_2 c_city c_state c_zip c_phone "
                  "c_since c_credit c_credit_lim c_discount c_balance c_ytd_payment c_payment_cnt c_delivery_cnt "
                  "c_data", "000111111111110000001"),
    "history1": ("h_c_id h_c_d_id h_c_w_id h_d_id h_w_id h_date h_amount h_data", "00000101"),
    "orders1": ("o_id o_d_id o_w_id o_c_id o_entry_d o_carrier_id o_ol_cnt o_all_local", "00001000"),
    "new_orders1": ("no_o_id no_d_id no_w_id", "000"),
    "order_line1": ("ol_o_id ol_d_id ol_w_id ol_number ol_i_id ol_supply_w_id ol_delivery_d ol_quantity ol_amount "
                    "ol_dist_info", "0000001001"),
    "stock1": ("s_i_id s_w_id s_quantity s_dist_01 s_dist_02 s_dist_03 s_dist_04 s_dist_05 s_dist_06 s_dist_07 "
               "s_dist_08 s_dist_09 s_dist_10 s_ytd s_order_cnt s_remote_cnt s_data", "00011111111110001"),
}


def _money(lo: float, hi: float) -> str:
    return "%.2f" % random.uniform(lo, hi)


def items(scale: Scale):
    astring, original = rand.astring, rand.original
    for i in range(1, scale.items + 1):
        yield str(i), str(random.randint(1, 10000)), astring(14, 24), _money(1, 100), original(26, 50)


def warehouse(w: int):
    a = rand.astring
    yield str(w), a(6, 10), a(10, 20), a(10, 20), a(10, 20), a(2, 2), rand.zip_code(), _money(0, 0.2), "300000.00"


def districts(w: int, scale: Scale):
    a = rand.astring
    for d in range(1, DISTRICTS + 1):
        yield (str(d), str(w), a(6, 10), a(10, 20), a(10, 20), a(10, 20), a(2, 2), rand.zip_code(),
               _money(0, 0.2), "30000.00", str(scale.customers + 1))


def customers(w: int, scale: Scale, c_load: int, now: str):
    a, last_name, nurand = rand.astring, rand.last_name, rand.nurand
    top = scale.last_names - 1
    sw = str(w)
    for d in range(1, DISTRICTS + 1):
        sd = str(d)
        for c in range(1, scale.customers + 1):
            last = last_name(c - 1) if c <= 1000 else last_name(nurand(rand.A_C_LAST, 0, top, c_load))
            yield (str(c), sd, sw, a(8, 16), "OE", last, a(10, 20), a(10, 20), a(10, 20), a(2, 2), rand.zip_code(),
                   rand.nstring(16), now, "BC" if random.random() < 0.1 else "GC", "50000", _money(0, 0.5),
                   "-10.00", "10.00", "1", "0", a(300, 500))


def history(w: int, scale: Scale, now: str):
    sw = str(w)
    for d in range(1, DISTRICTS + 1):
        sd = str(d)
        for c in range(1, scale.customers + 1):
            yield str(c), sd, sw, sd, sw, now, "10.00", rand.astring(12, 24)


def orders_and_lines(w: int, scale: Scale, now: str):
    """(orders rows, new_orders rows, order_line rows): O_C_ID a permutation, 5..15 lines each."""
    orders, new_orders, lines = [], [], []
    sw, first_new = str(w), scale.first_new_order
    for d in range(1, DISTRICTS + 1):
        sd = str(d)
        owners = list(range(1, scale.customers + 1))
        random.shuffle(owners)
        for o in range(1, scale.customers + 1):
            so = str(o)
            count = random.randint(5, 15)
            delivered = o < first_new
            orders.append((so, sd, sw, str(owners[o - 1]), now, str(random.randint(1, 10)) if delivered else None,
                           str(count), "1"))
            if not delivered:
                new_orders.append((so, sd, sw))
            for n in range(1, count + 1):
                lines.append((so, sd, sw, str(n), str(random.randint(1, scale.items)), sw, now if delivered else None,
                              "5", "0.00" if delivered else _money(0.01, 9999.99), rand.astring(24, 24)))
    return orders, new_orders, lines


def stock(w: int, scale: Scale):
    a, sw = rand.astring, str(w)
    for i in range(1, scale.items + 1):
        yield (str(i), sw, str(random.randint(10, 100)), a(24, 24), a(24, 24), a(24, 24), a(24, 24), a(24, 24),
               a(24, 24), a(24, 24), a(24, 24), a(24, 24), a(24, 24), "0", "0", "0", rand.original(26, 50))


# -- writing ----------------------------------------------------------------------------------------


class _CopyStream:
    """A file-like object COPY reads from, producing its text as it is read."""

    def __init__(self, rows):
        self.rows = iter(rows)
        self.count = 0

    def read(self, size=-1):
        parts, length = [], 0
        for row in self.rows:
            line = "\t".join("\\N" if v is None else v for v in row) + "\n"
            parts.append(line)
            length += len(line)
            self.count += 1
            if length >= size > 0:
                break
        return "".join(parts)

    readline = read


def write_rows(cursor, engine: str, table: str, rows) -> int:
    """Append rows to a table in the open transaction; the row count."""
    names, quoted = COLUMNS[table]
    columns = ", ".join(names.split())
    if engine != MYSQL:
        stream = _CopyStream(rows)
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", stream, size=1 << 16)
        return stream.count
    flags = [q == "1" for q in quoted]
    head = f"INSERT INTO {table} ({columns}) VALUES "
    batch, count = [], 0
    for row in rows:
        batch.append("(" + ",".join("NULL" if v is None else ("'" + v + "'" if q else v)
                                    for v, q in zip(row, flags)) + ")")
        if len(batch) >= INSERT_ROWS:
            cursor.execute(head + ",".join(batch))
            count += len(batch)
            batch = []
    if batch:
        cursor.execute(head + ",".join(batch))
        count += len(batch)
    return count


WAREHOUSE_KEYS = {
    "stock1": "s_w_id", "district1": "d_w_id", "customer1": "c_w_id", "history1": "h_w_id",
    "orders1": "o_w_id", "new_orders1": "no_w_id", "order_line1": "ol_w_id",
}


def load_warehouse(conn, engine: str, w: int, scale: Scale, c_load: int, purge: bool) -> int:
    """All rows of one warehouse in one transaction, the WAREHOUSE row last; the row count."""
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    cur = conn.cursor()
    if purge:  # rows a non-transactional loader (sysbench) may have left for a warehouse without its row
        for table, key in WAREHOUSE_KEYS.items():
            cur.execute(f"DELETE FROM {table} WHERE {key} = %s", (w,))
    n = write_rows(cur, engine, "stock1", stock(w, scale))
    n += write_rows(cur, engine, "district1", districts(w, scale))
    n += write_rows(cur, engine, "customer1", customers(w, scale, c_load, now))
    n += write_rows(cur, engine, "history1", history(w, scale, now))
    orders, new_orders, lines = orders_and_lines(w, scale, now)
    n += write_rows(cur, engine, "orders1", orders)
    n += write_rows(cur, engine, "new_orders1", new_orders)
    n += write_rows(cur, engine, "order_line1", lines)
    n += write_rows(cur, engine, "warehouse1", warehouse(w))
    conn.commit()
    return n


def load_items(conn, engine: str, scale: Scale) -> int:
    cur = conn.cursor()
    cur.execute("DELETE FROM item1")
    n = write_rows(cur, engine, "item1", items(scale))
    conn.commit()
    return n


# -- orchestration ----------------------------------------------------------------------------------


def say(line: str) -> None:
    sys.stderr.write(f"tpcc load: {line}\n")
    sys.stderr.flush()


def plan(cursor, engine: str, warehouses: int, scale: Scale) -> dict:
    """What --db-init must do: drop (other scale), which units to load, whether to purge first."""
    present = schema.existing_tables(cursor, engine)
    had_tables = all(t in present for t in schema.TABLE_NAMES)
    drop, have_items, loaded = False, 0, set()
    if "item1" in present:
        have_items = db.scalar(cursor, "SELECT COUNT(*) FROM item1") or 0
        customers = (db.scalar(cursor, "SELECT MAX(c_id) FROM customer1 WHERE c_w_id = 1 AND c_d_id = 1")
                     if "customer1" in present else None)
        if (have_items and have_items != scale.items) or (customers and customers != scale.customers):
            drop = True
            say(f"the tables hold another scale ({have_items} items, {customers} customers per district; "
                f"this load makes {scale.items} and {scale.customers}): dropping them")
    if not drop and "warehouse1" in present:
        cursor.execute("SELECT w_id FROM warehouse1")
        loaded = {int(r[0]) for r in cursor.fetchall()}
    units = [] if (have_items == scale.items and not drop) else ["items"]
    units += [w for w in range(1, warehouses + 1) if w not in loaded]
    return {"drop": drop, "units": units, "purge": had_tables and not drop, "kept": sorted(loaded)}


def create(cursor, opts, engine: str, cfg: DbConfig | None = None) -> None:
    """--db-init: create the tables, load what is missing in parallel, add the indexes."""
    scale = Scale.from_options(opts)
    warehouses = int(opts.tpcc_warehouses)
    todo = plan(cursor, engine, warehouses, scale)
    if todo["drop"]:
        for table in (*schema.TABLE_NAMES, schema.NURAND_TABLE):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
    for table in schema.TABLES:
        cursor.execute(schema.create_table(table, engine))
    cursor.execute(schema.CREATE_NURAND)
    c_load = db.scalar(cursor, f"SELECT c_last_load FROM {schema.NURAND_TABLE}")
    if c_load is None:
        c_load = random.randint(0, rand.A_C_LAST)
        cursor.execute(f"INSERT INTO {schema.NURAND_TABLE} (c_last_load) VALUES (%s)", (c_load,))
    if todo["kept"]:
        say(f"kept warehouses {_ranges(todo['kept'])} (already loaded)")
    units = todo["units"]
    if units:
        workers = int(getattr(opts, "tpcc_load_workers", 0) or 0) or min(len(units), os.cpu_count() or 2)
        rows, seconds = run_loaders(cfg or _config(opts, engine), units, scale, c_load, todo["purge"],
                                    min(workers, len(units)))
        say(f"{rows:,} rows in {seconds:.1f}s: {rows / max(seconds, 1e-9):,.0f} rows/s "
            f"({min(workers, len(units))} loader processes)")
    start = time.perf_counter()
    have = schema.existing_indexes(cursor, engine)
    missing = [ix for ix in schema.INDEXES if ix[0] not in have]
    for name, table, columns in missing:
        cursor.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    if missing:
        say(f"{len(missing)} indexes in {time.perf_counter() - start:.1f}s")


def _config(opts, engine):
    from ... import credentials

    return DbConfig.from_options(opts, engine, opts.db_name or "tpcc", credentials.secret(opts))


def _ranges(ids: list[int]) -> str:
    return f"{ids[0]}..{ids[-1]}" if len(ids) > 1 and ids[-1] - ids[0] + 1 == len(ids) else ", ".join(map(str, ids))


class LoadError(Exception):
    """A loader process failed; str() is one line."""


def run_loaders(cfg: DbConfig, units: list, scale: Scale, c_load: int, purge: bool, workers: int):
    """Load ``units`` ("items" or warehouse numbers) in ``workers`` processes; (rows, seconds)."""
    shares = [units[i::workers] for i in range(workers)]
    payload = json.dumps({"cfg": asdict(cfg), "scale": asdict(scale), "c_load": c_load, "purge": purge})
    env = {**os.environ, ENV_KEY: payload, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "plugins.workloads.tpcc.loader", ",".join(map(str, share))],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
             for share in shares]
    rows, failed = 0, []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            failed.append(proc.returncode)
            continue
        rows += int((out.strip().splitlines() or ["0"])[-1])
    if failed:
        raise LoadError(f"a TPC-C loader process failed (exit code {failed[0]}); its error is above. "
                        "Run --db-init again: finished warehouses are kept")
    return rows, time.perf_counter() - start


def _child(share: str) -> int:
    spec = json.loads(os.environ[ENV_KEY])
    cfg = DbConfig(**spec["cfg"])
    scale = Scale(**spec["scale"])
    conn = db.connect(cfg, autocommit=False)
    total = 0
    try:
        for unit in share.split(","):
            start = time.perf_counter()
            if unit == "items":
                n = load_items(conn, cfg.engine, scale)
                say(f"item: {n:,} rows in {time.perf_counter() - start:.1f}s")
            else:
                n = load_warehouse(conn, cfg.engine, int(unit), scale, spec["c_load"], spec["purge"])
                say(f"warehouse {unit}: {n:,} rows in {time.perf_counter() - start:.1f}s")
            total += n
    except db.errors(cfg.engine) as exc:
        say(f"failed on {cfg.label} at {cfg.where()}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
        return 1
    finally:
        try:
            conn.close()
        except Exception:
            pass
    print(total)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
