"""sysbench's OLTP benchmark (oltp_read_write, oltp_read_only, oltp_write_only).

The industry-standard transaction the Aurora scaling article drives with
sysbench, on MySQL or PostgreSQL (``--db-engine``). Tables ``sbtest1..N``
have sysbench's own layout, so dbswarm runs on tables ``sysbench ... prepare``
made and sysbench runs on tables ``--db-init`` made. Each transaction is
reported as ``oltp_<mode>``; ``--statement-stats`` adds one row per statement
class (point_selects, sum_ranges, ...).

    locust -f locustfiles/oltp.py --db-init                                  # web UI, MySQL
    locust -f locustfiles/oltp.py --db-engine postgres --db-init --headless -u 16 -t 60s
"""

import io
import math
import random

from locust import events, task

from plugins import MYSQL, DatabaseUser, Scenario, read, write, option_group, operation
from plugins.engines.postgres.pg_gevent import blocking

# The statements of sysbench's oltp_common.lua, ``{t}`` being the table number.
STATEMENTS = {
    "point_selects": read("point_selects", "SELECT c FROM sbtest{t} WHERE id=%s"),
    "simple_ranges": read("simple_ranges", "SELECT c FROM sbtest{t} WHERE id BETWEEN %s AND %s"),
    "sum_ranges": read("sum_ranges", "SELECT SUM(k) FROM sbtest{t} WHERE id BETWEEN %s AND %s"),
    "order_ranges": read("order_ranges", "SELECT c FROM sbtest{t} WHERE id BETWEEN %s AND %s ORDER BY c"),
    "distinct_ranges": read(
        "distinct_ranges", "SELECT DISTINCT c FROM sbtest{t} WHERE id BETWEEN %s AND %s ORDER BY c"
    ),
    "index_updates": write("index_updates", "UPDATE sbtest{t} SET k=k+1 WHERE id=%s"),
    "non_index_updates": write("non_index_updates", "UPDATE sbtest{t} SET c=%s WHERE id=%s"),
    "deletes": write("deletes", "DELETE FROM sbtest{t} WHERE id=%s"),
    "inserts": write("inserts", "INSERT INTO sbtest{t} (id, k, c, pad) VALUES (%s, %s, %s, %s)"),
}

# Statement classes per transaction and how often each runs (sysbench defaults).
READS = (("point_selects", 10), ("simple_ranges", 1), ("sum_ranges", 1), ("order_ranges", 1), ("distinct_ranges", 1))
WRITES = (("index_updates", 1), ("non_index_updates", 1), ("delete_inserts", 1))
MODES = {"read_write": READS + WRITES, "read_only": READS, "write_only": WRITES}

DDL = {
    MYSQL: """CREATE TABLE sbtest{t}(
  id INTEGER NOT NULL AUTO_INCREMENT,
  k INTEGER DEFAULT '0' NOT NULL,
  c CHAR(120) DEFAULT '' NOT NULL,
  pad CHAR(60) DEFAULT '' NOT NULL,
  PRIMARY KEY (id)
) /*! ENGINE = innodb */""",
    "postgres": """CREATE TABLE sbtest{t}(
  id SERIAL,
  k INTEGER DEFAULT '0' NOT NULL,
  c CHAR(120) DEFAULT '' NOT NULL,
  pad CHAR(60) DEFAULT '' NOT NULL,
  PRIMARY KEY (id)
)""",
}
INDEX = "CREATE INDEX k_{t} ON sbtest{t}(k)"
LOAD_CHUNK = 1000


def c_value() -> str:
    """sysbench's c: ten groups of 11 random digits joined by dashes."""
    return "-".join(["%011d" % random.randrange(100_000_000_000) for _ in range(10)])


def pad_value() -> str:
    return "-".join(["%011d" % random.randrange(100_000_000_000) for _ in range(5)])


# Key distributions over 1..n (sysbench --rand-type); each returns a function of n.
def _uniform(n):
    return random.randint(1, n)


def _special(n):
    """sysbench's default: 75 % of the draws hit 1 % of the keys."""
    if random.random() < 0.75:
        return random.randint(1, max(1, n // 100))
    return random.randint(1, n)


def _pareto(n, power=math.log(0.2) / math.log(0.8)):
    """sysbench's pareto (h = 0.2): 80 % of the draws in 20 % of the keys."""
    return 1 + int(n * random.random() ** power)


def _zipf(n, s=0.8):
    """Zipf-like power law (sysbench's exponent 0.8), sampled by inverting its continuous CDF."""
    x = (1 + random.random() * (n ** (1 - s) - 1)) ** (1 / (1 - s))
    return min(n, int(x))


SKEWS = {"uniform": _uniform, "special": _special, "pareto": _pareto, "zipf": _zipf}


class Workload:
    """The statements bound to N tables and the key generator, built once per user."""

    __slots__ = ("tables", "size", "range_size", "draw", "plan")

    def __init__(self, opts):
        self.tables = [
            {key: type(s)(s.name, s.sql.format(t=t), s.read) for key, s in STATEMENTS.items()}
            for t in range(1, opts.oltp_tables + 1)
        ]
        self.size = opts.oltp_table_size
        self.range_size = opts.oltp_range_size
        self.draw = SKEWS[opts.oltp_skew]
        self.plan = [(STEPS[cls], count) for cls, count in MODES[opts.oltp_mode]]

    def key(self) -> int:
        return self.draw(self.size)


def _point(tx, st, w):
    tx.run(st["point_selects"], (w.key(),))


def _range(cls):
    def step(tx, st, w):
        first = w.key()
        tx.run(st[cls], (first, first + w.range_size - 1))

    return step


def _index_update(tx, st, w):
    tx.run(st["index_updates"], (w.key(),))


def _non_index_update(tx, st, w):
    tx.run(st["non_index_updates"], (c_value(), w.key()))


def _delete_insert(tx, st, w):
    row = w.key()
    tx.run(st["deletes"], (row,))
    tx.run(st["inserts"], (row, w.key(), c_value(), pad_value()))


STEPS = {
    "point_selects": _point,
    "simple_ranges": _range("simple_ranges"),
    "sum_ranges": _range("sum_ranges"),
    "order_ranges": _range("order_ranges"),
    "distinct_ranges": _range("distinct_ranges"),
    "index_updates": _index_update,
    "non_index_updates": _non_index_update,
    "delete_inserts": _delete_insert,
}


def oltp_transaction(tx, w: Workload):
    """One sysbench event: each statement class on a table of its own, as sysbench picks them."""
    tables = w.tables
    for step, count in w.plan:
        st = tables[random.randrange(len(tables))]
        for _ in range(count):
            step(tx, st, w)


# --db-init ---------------------------------------------------------------------------------


def _rows(size):
    for _ in range(size):
        yield random.randint(1, size), c_value(), pad_value()


def _load_mysql(cursor, t, size):
    rows = _rows(size)
    for start in range(0, size, LOAD_CHUNK):
        n = min(LOAD_CHUNK, size - start)
        cursor.execute(
            f"INSERT INTO sbtest{t} (k, c, pad) VALUES " + ",".join(["(%s,%s,%s)"] * n),
            [v for _, row in zip(range(n), rows) for v in row],
        )


def _load_postgres(cursor, t, size):
    data = io.StringIO("".join(f"{k}\t{c}\t{pad}\n" for k, c, pad in _rows(size)))
    with blocking():  # COPY refuses to run cooperatively; nothing else runs during --db-init
        cursor.copy_from(data, f"sbtest{t}", columns=("k", "c", "pad"))


def create(cursor, opts, engine):
    """--db-init: sysbench's prepare; a table already holding --oltp-table-size rows is kept."""
    load = _load_mysql if engine == MYSQL else _load_postgres
    for t in range(1, opts.oltp_tables + 1):
        try:
            cursor.execute(f"SELECT COUNT(*) FROM sbtest{t}")
            if cursor.fetchone()[0] == opts.oltp_table_size:
                continue
        except Exception:
            pass  # no such table
        cursor.execute(f"DROP TABLE IF EXISTS sbtest{t}")
        cursor.execute(DDL[engine].format(t=t))
        load(cursor, t, opts.oltp_table_size)
        cursor.execute(INDEX.format(t=t))


def report(cursor, environment, engine):
    name = f"oltp_{environment.parsed_options.oltp_mode}"
    done = operation(environment, name)
    if not done.requests:
        return [f"{name}: no transactions"]
    seconds = max(1e-9, done.seconds)
    queries = sum(count * (2 if cls == "delete_inserts" else 1) for cls, count in MODES[environment.parsed_options.oltp_mode])
    tps = done.requests / seconds
    return [
        "OLTP outcome",
        f"  {name}: {done.requests} transactions ({done.failures} failed) in {seconds:.1f}s",
        f"  tps: {tps:.1f}   qps: {tps * queries:.1f}   ({queries} statements per transaction)",
    ]


def validate(opts):
    problems = []
    for flag in ("oltp_tables", "oltp_table_size", "oltp_range_size"):
        value = getattr(opts, flag)
        if value < 1:
            problems.append(f"--{flag.replace('_', '-')} {value}: must be at least 1")
    return problems


def tables(opts):
    """sbtest1..N: the preflight checks they exist."""
    return tuple(f"sbtest{t}" for t in range(1, max(1, opts.oltp_tables) + 1))


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "oltp (sysbench)")
    add("oltp-mode", choices=sorted(MODES), default="read_write", help="Transaction: read_write, read_only or write_only")
    add("oltp-tables", type=int, default=1, help="Tables sbtest1..N (sysbench --tables)")
    add("oltp-table-size", type=int, default=10000, help="Rows per table (sysbench --table-size)")
    add("oltp-range-size", type=int, default=100, help="Rows per range query (sysbench --range-size)")
    add("oltp-skew", choices=sorted(SKEWS), default="uniform", help="Key distribution: uniform, special, pareto or zipf (sysbench --rand-type)")


OLTP = Scenario(
    name="oltp",
    database="sbtest",
    engine=None,
    tables=tables,
    create=create,
    report=report,
    validate=validate,
    wait=(0.0, 0.0),
    # Two delete+insert pairs on one id can collide (PostgreSQL 23505); sysbench retries
    # these as "ignored errors", and so does this workload.
    retry_also=("duplicate-key",),
)


class OltpUser(DatabaseUser):
    """One sysbench thread: transactions back to back (or paced by --target-rps)."""

    scenario = OLTP

    def on_start(self):
        super().on_start()
        self.workload = Workload(self.environment.parsed_options)
        self.tx_name = f"oltp_{self.environment.parsed_options.oltp_mode}"

    @task
    def transaction(self):
        self.db.transaction(self.tx_name, oltp_transaction, self.workload)
