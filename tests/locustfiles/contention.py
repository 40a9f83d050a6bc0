"""Test workload: real lock contention that makes the database abort transactions.

``swap`` updates two rows in a random order (MySQL: deadlocks, 1213);
``increment`` reads then writes one row under SERIALIZABLE (PostgreSQL:
serialization failures, 40001). Every committed transaction adds 1 to each
row it touches, so the table says how many really committed.
"""

import random

import gevent
from locust import task

from plugins import DatabaseUser, Scenario, write

SWAP = write("swap_row", "UPDATE t SET v = v + 1 WHERE id = %s")
READ_V = write("read_v", "SELECT v FROM t WHERE id = 1")
SERIALIZABLE = write("serializable", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")


def create(cursor, opts, engine):
    cursor.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, v INT NOT NULL)")
    cursor.execute("DELETE FROM t")
    cursor.execute("INSERT INTO t (id, v) VALUES (1, 0), (2, 0)")


CONTENTION = Scenario(name="contention", database="contention", tables=("t",), create=create)


def swap(tx):
    first, second = random.sample((1, 2), 2)
    tx.run(SWAP, (first,))
    gevent.sleep(0.01)  # hold the first lock while the others take theirs
    tx.run(SWAP, (second,))


def increment(tx):
    tx.run(SERIALIZABLE)
    (value,), = tx.run(READ_V)
    gevent.sleep(0.01)
    tx.run(SWAP, (1,))


class Contender(DatabaseUser):
    scenario = CONTENTION

    @task
    def contend(self):
        if self.db.config.engine == "mysql":
            self.db.transaction("swap", swap)
        else:
            self.db.transaction("increment", increment)
