"""Point selects by primary key on MySQL or PostgreSQL (--db-engine): sub-millisecond reads.

A test workload: small enough to stay in memory, so the latency is the round
trip, which Locust's own stats round to 0 or 1 ms.
"""

import random

from locust import task

from plugins import DatabaseUser, Scenario, read

ROWS = 1000
POINT_SELECT = read("point_select", "SELECT id, v FROM points WHERE id = %s")


def create(cursor, opts, engine):
    cursor.execute("CREATE TABLE IF NOT EXISTS points (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)")
    cursor.execute("DELETE FROM points")
    cursor.execute(
        "INSERT INTO points (id, v) VALUES " + ", ".join(["(%s, %s)"] * ROWS),
        [value for i in range(1, ROWS + 1) for value in (i, f"value {i}")],
    )


POINTS = Scenario(name="point_selects", database="dbswarm_points", tables=("points",), create=create,
                  wait=(0.005, 0.02))


class PointReader(DatabaseUser):
    scenario = POINTS

    @task
    def point_select(self):
        self.db.run(POINT_SELECT, (random.randint(1, ROWS),))
