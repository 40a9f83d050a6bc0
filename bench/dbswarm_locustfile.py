"""dbswarm's own user on the bench table: one named point select, no think time.

Run with ``--db-engine mysql|postgres``; the harness creates the table.
"""

import os
import random
import sys

from locust import task

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import db, probe  # noqa: E402
from plugins import DatabaseUser, Scenario, read  # noqa: E402

probe.locust_listener()

POINT_SELECT = read("point_select", db.SQL)
BENCH = Scenario(name="bench_point_select", database=db.DATABASE, tables=(db.TABLE,), wait=(0.0, 0.0))


class PointSelect(DatabaseUser):
    scenario = BENCH

    @task
    def point_select(self):
        self.db.run(POINT_SELECT, (random.randint(1, db.ROWS),))
