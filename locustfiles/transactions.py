"""SELECT + INSERT on PostgreSQL: the `transactions` / `type` workload.

From the Aurora PostgreSQL serverless load test: clients insert transactions
and read them back by type, by date range and as an aggregate. Inserts go to
the writer; the reads go to the reader endpoint when ``--db-reader-host`` is
set. The mix is set with the ``--tx-*-weight`` options.

    locust -f locustfiles/transactions.py --db-init --headless -u 50 -t 60s
"""

import datetime
import random

from locust import events, task

from plugins import PostgresUser, Scenario, read, write, weighted, option_group

TYPES = ("deposit", "withdrawal", "transfer", "card_payment", "refund",
         "fee", "interest", "adjustment", "chargeback", "reversal")
HISTORY_DAYS = 365

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS type (id integer PRIMARY KEY, name text NOT NULL)",
    """CREATE TABLE IF NOT EXISTS transactions (
        id serial PRIMARY KEY,
        account_id integer NOT NULL,
        tx_date date NOT NULL,
        type_id integer NOT NULL,
        amount double precision NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS transactions_type_recent ON transactions (type_id, id DESC)",
    "CREATE INDEX IF NOT EXISTS transactions_by_date ON transactions (tx_date)",
)

INSERT_TRANSACTION = write(
    "insert_transaction",
    "INSERT INTO transactions (account_id, tx_date, type_id, amount) VALUES (%s, current_date, %s, %s)",
)
RECENT_BY_TYPE = read(
    "recent_by_type",
    "SELECT t.id, t.account_id, t.tx_date, t.amount, ty.name FROM transactions t"
    " JOIN type ty ON ty.id = t.type_id WHERE t.type_id = %s ORDER BY t.id DESC LIMIT 20",
)
BY_DATE_RANGE = read(
    "by_date_range",
    "SELECT id, account_id, type_id, amount FROM transactions"
    " WHERE tx_date BETWEEN %s AND %s ORDER BY tx_date, id LIMIT 50",
)
TOTALS_BY_TYPE = read(
    "totals_by_type",
    "SELECT type_id, count(*), sum(amount) FROM transactions"
    " WHERE tx_date >= %s AND tx_date < %s GROUP BY type_id",
)


def create(cursor, opts, engine):
    """--db-init: tables, indexes, the types, and a year of history when the table is empty."""
    for ddl in SCHEMA:
        cursor.execute(ddl)
    cursor.executemany(
        "INSERT INTO type (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
        list(enumerate(TYPES, start=1)),
    )
    cursor.execute("SELECT EXISTS (SELECT 1 FROM transactions)")
    if not cursor.fetchone()[0] and opts.tx_seed_rows > 0:
        cursor.execute(
            "INSERT INTO transactions (account_id, tx_date, type_id, amount)"
            " SELECT 1 + (random() * 99999)::int, current_date - (random() * %s)::int,"
            " 1 + (random() * %s)::int, round((random() * 1000)::numeric, 2)"
            " FROM generate_series(1, %s)",
            (HISTORY_DAYS, len(TYPES) - 1, opts.tx_seed_rows),
        )
        cursor.execute("ANALYZE transactions")


def validate(opts):
    problems = []
    weights = {f: getattr(opts, f.replace("-", "_")) for f in
               ("tx-insert-weight", "tx-recent-weight", "tx-range-weight", "tx-aggregate-weight")}
    for flag, value in weights.items():
        if value < 0:
            problems.append(f"--{flag} {value}: must not be negative")
    if not problems and sum(weights.values()) == 0:
        problems.append("--tx-*-weight: at least one weight must be greater than 0")
    if opts.tx_seed_rows < 0:
        problems.append(f"--tx-seed-rows {opts.tx_seed_rows}: must not be negative")
    return problems


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "transactions workload")
    add("tx-insert-weight", type=int, default=4, help="Weight of insert_transaction (writer)")
    add("tx-recent-weight", type=int, default=3, help="Weight of recent_by_type (reader)")
    add("tx-range-weight", type=int, default=2, help="Weight of by_date_range (reader)")
    add("tx-aggregate-weight", type=int, default=1, help="Weight of totals_by_type (reader)")
    add("tx-seed-rows", type=int, default=100_000, help="History rows --db-init loads into an empty table")


TRANSACTIONS = Scenario(
    name="transactions",
    engine="postgres",
    database="dbswarm",
    tables=("type", "transactions"),
    create=create,
    validate=validate,
)


def _some_day() -> datetime.date:
    return datetime.date.today() - datetime.timedelta(days=random.randint(0, HISTORY_DAYS))


class TransactionsClient(PostgresUser):
    scenario = TRANSACTIONS

    def __init__(self, environment):
        super().__init__(environment)
        # The @task marks name the operations (Locust's tag filter sees them); the weights are options.
        opts = environment.parsed_options
        self.tasks = weighted({
            TransactionsClient.insert_transaction: opts.tx_insert_weight,
            TransactionsClient.recent_by_type: opts.tx_recent_weight,
            TransactionsClient.by_date_range: opts.tx_range_weight,
            TransactionsClient.totals_by_type: opts.tx_aggregate_weight,
        })

    @task
    def insert_transaction(self):
        amount = round(random.uniform(1, 1000), 2)
        self.db.run(INSERT_TRANSACTION, (random.randint(1, 100_000), random.randint(1, len(TYPES)), amount))

    @task
    def recent_by_type(self):
        self.db.run(RECENT_BY_TYPE, (random.randint(1, len(TYPES)),))

    @task
    def by_date_range(self):
        start = _some_day()
        self.db.run(BY_DATE_RANGE, (start, start + datetime.timedelta(days=7)))

    @task
    def totals_by_type(self):
        start = _some_day()
        self.db.run(TOTALS_BY_TYPE, (start, start + datetime.timedelta(days=30)))
