"""Four read operations on MySQL for measuring what a Prometheus scrape costs (bench/prometheus_scrape.py).

Four operations give the /metrics page four latency histograms (plus the
--target-rps schedule rows), the shape the cost was asked for.
"""

import random

from locust import task

from plugins import MySQLUser, Scenario, read

ROWS = 1000
POINT = read("point_select", "SELECT v FROM scrape_points WHERE id = %s")
RANGE = read("range_select", "SELECT id, v FROM scrape_points WHERE id BETWEEN %s AND %s")
COUNT = read("count_select", "SELECT COUNT(*) FROM scrape_points WHERE id <= %s")
SUM = read("sum_select", "SELECT SUM(id) FROM scrape_points WHERE id BETWEEN %s AND %s")


def create(cursor, opts, engine):
    cursor.execute("CREATE TABLE IF NOT EXISTS scrape_points (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)")
    cursor.execute("DELETE FROM scrape_points")
    cursor.execute(
        "INSERT INTO scrape_points (id, v) VALUES " + ", ".join(["(%s, %s)"] * ROWS),
        [value for i in range(1, ROWS + 1) for value in (i, f"value {i}")],
    )


BENCH = Scenario(name="scrape_bench", engine="mysql", database="dbswarm_scrape_bench",
                  tables=("scrape_points",), create=create, wait=(0.0, 0.0))


class FourReads(MySQLUser):
    scenario = BENCH

    @task
    def point_select(self):
        self.db.run(POINT, (random.randint(1, ROWS),))

    @task
    def range_select(self):
        start = random.randint(1, ROWS - 10)
        self.db.run(RANGE, (start, start + 9))

    @task
    def count_select(self):
        self.db.run(COUNT, (random.randint(1, 100),))

    @task
    def sum_select(self):
        start = random.randint(1, ROWS - 10)
        self.db.run(SUM, (start, start + 9))
