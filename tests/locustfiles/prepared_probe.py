"""Test workload: statements of every shape through PostgreSQL's prepared mode.

Each task checks the rows it gets back; a wrong answer is reported as a
failed request named ``wrong answer``. After each task a user writes the
statements prepared on its connection (``pg_prepared_statements``) to
``$PREPARED_PROBE_OUT/<user>.json`` (at stop a user may be killed before
on_stop could ask).
"""

import json
import os
import random
import uuid

from locust import constant, task

from plugins.scenario import Scenario, register
from plugins.users import PostgresUser
from plugins.workload import read, write

POINT = read("point", "SELECT v FROM p WHERE id = %s")
NAMED = read("named", "SELECT v FROM p WHERE id IN (%(id)s, %(id)s + 1) ORDER BY id")
PERCENT = read("percent", "SELECT v FROM p WHERE v LIKE 'v%%' AND id = %s")
IN_TUPLE = read("in_tuple", "SELECT v FROM p WHERE id IN %s ORDER BY id")  # a tuple: PostgreSQL cannot prepare it
BUMP = write("bump", "UPDATE p SET n = n + 1 WHERE id = %s")
ONCE = read("once", "SELECT count(*) FROM p")  # run once per connection: never prepared
LITERAL = read("literal", "SELECT '%s and %%' AS text")  # no parameters: psycopg2 sends it as it is


def create(cursor, opts, engine):
    cursor.execute("DROP TABLE IF EXISTS p")
    cursor.execute("CREATE TABLE p (id INT PRIMARY KEY, v TEXT NOT NULL, n INT NOT NULL DEFAULT 0)")
    cursor.execute("INSERT INTO p (id, v) SELECT i, 'v' || i FROM generate_series(1, 20) AS i")


PROBE = register(Scenario(name="prepared_probe", database="prepared_probe", tables=("p",), create=create,
                          engine="postgres"))


def bump_twice(tx, first):
    tx.run(BUMP, (first,))
    tx.run(IN_TUPLE, ((first, first + 1),))
    tx.run(BUMP, (first + 1,))


class Prober(PostgresUser):
    scenario = PROBE
    wait_time = constant(0.01)

    def on_start(self):
        super().on_start()
        self.ran_once = False
        self.out = os.path.join(os.environ["PREPARED_PROBE_OUT"], f"{uuid.uuid4().hex}.json")

    def check(self, got, expected):
        if got != expected:
            self.environment.events.request.fire(
                request_type="check", name="wrong answer", response_time=0, response_length=0,
                exception=AssertionError(f"{got!r} != {expected!r}"), context={})

    @task
    def statements(self):
        i = random.randint(1, 19)
        self.check(self.db.run(POINT, (i,)), [(f"v{i}",)])
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
        cur.execute("SELECT statement FROM pg_prepared_statements ORDER BY name")
        prepared = [row[0] for row in cur.fetchall()]
        with open(self.out + ".tmp", "w") as f:
            json.dump(prepared, f)
        os.replace(self.out + ".tmp", self.out)
