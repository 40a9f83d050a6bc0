"""Test workload: a STOP that takes seconds, as a slow transaction and a slow end-of-test step make it.

Each task is one 6 s statement, so the users' graceful stop (cleanup) lasts
seconds; a ``test_stop`` listener then works 3 s more, as the TPC-C result and
checks do, while Locust already says ``stopped``. It appends a line to
``DBSWARM_TEST_STOP_MARK`` when it is done.
"""

import os

import gevent
from locust import events, task

from plugins import MySQLUser, Scenario, read

SLOW = read("slow_statement", "SELECT SLEEP(6)")
END_OF_TEST_S = 3.0


class SlowUser(MySQLUser):
    scenario = Scenario(name="slow_stop", database="test")

    @task
    def slow(self):
        self.db.run(SLOW)


@events.test_stop.add_listener
def _end_of_test(environment, **_kwargs):
    gevent.sleep(END_OF_TEST_S)
    mark = os.environ.get("DBSWARM_TEST_STOP_MARK")
    if mark:
        with open(mark, "a") as f:
            f.write("done\n")
