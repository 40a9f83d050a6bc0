"""Test workload: statements of every shape through the prepared query mode (``--db-engine mysql|postgres``).

Each task checks the rows it gets back; a wrong answer is reported as a
failed request named ``wrong answer``. After each task a user writes what its
connection has prepared to ``$PREPARED_PROBE_OUT/<user>.json``: PostgreSQL's
``pg_prepared_statements`` texts, MySQL's session counters ``Com_stmt_prepare``
and ``Com_stmt_execute`` (at stop a user may be killed before on_stop could ask).
"""

import datetime
import json
import os
import random
import uuid
from decimal import Decimal

from locust import constant, task

from plugins import DatabaseUser, Scenario, read, write

POINT = read("point", "SELECT v, d, at, amount FROM p WHERE id = %s")  # a value of each kind
NAMED = read("named", "SELECT v FROM p WHERE id IN (%(id)s, %(id)s + 1) ORDER BY id")
PERCENT = read("percent", "SELECT v FROM p WHERE v LIKE 'v%%' AND id = %s")
IN_TUPLE = read("in_tuple", "SELECT v FROM p WHERE id IN %s ORDER BY id")  # a tuple: neither server prepares it
BUMP = write("bump", "UPDATE p SET n = n + 1, at = %s WHERE id = %s")
ONCE = read("once", "SELECT count(*) FROM p")  # run once per connection: never prepared
LITERAL = read("literal", "SELECT '%s and %%' AS text")  # no parameters: the driver sends it as it is
AT = datetime.datetime(2024, 2, 29, 12, 0, 0, 250000)
SCHEMA = {
    "mysql": "CREATE TABLE p (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL, n INT NOT NULL DEFAULT 0, "
             "d DOUBLE, at DATETIME(6), amount DECIMAL(10, 2))",
    "postgres": "CREATE TABLE p (id INT PRIMARY KEY, v TEXT NOT NULL, n INT NOT NULL DEFAULT 0, "
                "d DOUBLE PRECISION, at TIMESTAMP(6), amount NUMERIC(10, 2))",
}


def create(cursor, opts, engine):
    cursor.execute("DROP TABLE IF EXISTS p")
    cursor.execute(SCHEMA[engine])
    cursor.executemany("INSERT INTO p (id, v, d, at, amount) VALUES (%s, %s, %s, %s, %s)",
                       [(i, f"v{i}", i / 3, AT, Decimal(i) / 4) for i in range(1, 21)])


PROBE = Scenario(name="prepared_probe", database="prepared_probe", tables=("p",), create=create)


def bump_twice(tx, first):
    tx.run(BUMP, (AT, first))
    tx.run(IN_TUPLE, ((first, first + 1),))  # refused inside a transaction: PostgreSQL's must not abort it
    tx.run(BUMP, (AT, first + 1))


class Prober(DatabaseUser):
    scenario = PROBE
    wait_time = constant(0.01)

    def on_start(self):
        super().on_start()
        self.ran_once = False
        self.out = os.path.join(os.environ["PREPARED_PROBE_OUT"], f"{uuid.uuid4().hex}.json")

    def check(self, got, expected):
        if got is None or list(got) != expected:
            self.environment.events.request.fire(
                request_type="check", name="wrong answer", response_time=0, response_length=0,
                exception=AssertionError(f"{got!r} != {expected!r}"), context={})

    @task
    def statements(self):
        i = random.randint(1, 19)
        self.check(self.db.run(POINT, (i,)), [(f"v{i}", i / 3, AT, Decimal(i) / 4)])
        self.check(self.db.run(NAMED, {"id": i}), [(f"v{i}",), (f"v{i + 1}",)])
        self.check(self.db.run(PERCENT, (i,)), [(f"v{i}",)])
        self.check(self.db.run(IN_TUPLE, ((i, i + 1),)), [(f"v{i}",), (f"v{i + 1}",)])
        self.check(self.db.run(LITERAL), [("%s and %%",)])
        self.db.transaction("bump_twice", bump_twice, i)
        if not self.ran_once:
            self.ran_once = True
            self.check(self.db.run(ONCE), [(20,)])
        self.record_prepared()

    def record_prepared(self):
        cur = self.db.writer.cursor
        if cur is None:
            return
        if self.db.config.engine == "postgres":
            cur.execute("SELECT statement FROM pg_prepared_statements ORDER BY name")
            prepared = [row[0] for row in cur.fetchall()]
        else:
            cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute')")
            prepared = {name: int(value) for name, value in cur.fetchall()}
        with open(self.out + ".tmp", "w") as f:
            json.dump(prepared, f)
        os.replace(self.out + ".tmp", self.out)
