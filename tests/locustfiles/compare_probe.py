"""Two reads on MySQL for comparing runs; --probe-sleep-ms slows one of them on the server (SELECT SLEEP).

The slowed run is the "regression" ``plugins.observe.compare`` must flag, while the
other operation stays as it was. --probe-duplicates adds an insert that always
fails with a duplicate key (failures of one known error class).
"""

import random

from locust import events, task

from plugins import MySQLUser, Scenario, option_group, read, write

ROWS = 1000
POINT_SELECT = read("point_select", "SELECT id, v FROM probe_points WHERE id = %s")
SLOW_POINT_SELECT = read("point_select", "SELECT id, v, SLEEP(%s) FROM probe_points WHERE id = %s")
INSERT_DUPLICATE = write("insert_duplicate", "INSERT INTO probe_points (id, v) VALUES (1, 'again')")
RANGE_SELECT = read("range_select", "SELECT id, v FROM probe_points WHERE id BETWEEN %s AND %s")


def create(cursor, opts, engine):
    cursor.execute("CREATE TABLE IF NOT EXISTS probe_points (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)")
    cursor.execute("DELETE FROM probe_points")
    cursor.execute(
        "INSERT INTO probe_points (id, v) VALUES " + ", ".join(["(%s, %s)"] * ROWS),
        [value for i in range(1, ROWS + 1) for value in (i, f"value {i}")],
    )


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "compare probe")
    add("probe-sleep-ms", type=float, default=0.0, help="Server-side sleep added to every point_select, ms")
    add("probe-duplicates", action="store_true", default=False, help="Also insert a row that exists (always fails)")


PROBE = Scenario(name="compare_probe", engine="mysql", database="dbswarm_probe",
                  tables=("probe_points",), create=create, wait=(0.005, 0.01))


class ProbeReader(MySQLUser):
    scenario = PROBE

    @task(2)
    def point_select(self):
        sleep_ms = float(self.environment.parsed_options.probe_sleep_ms or 0)
        if sleep_ms:
            self.db.run(SLOW_POINT_SELECT, (sleep_ms / 1000.0, random.randint(1, ROWS)))
        else:
            self.db.run(POINT_SELECT, (random.randint(1, ROWS),))

    @task(1)
    def range_select(self):
        start = random.randint(1, ROWS - 10)
        self.db.run(RANGE_SELECT, (start, start + 9))

    @task(1)
    def insert_duplicate(self):
        if self.environment.parsed_options.probe_duplicates:
            self.db.run(INSERT_DUPLICATE)
