"""A minimal hand-written Locust user, the way people write one today.

The reference dbswarm is compared with: one connection per user opened in
on_start, a new cursor per task, time.time() around the query and one
events.request.fire. PostgreSQL goes through psycogreen. The engine comes from
BENCH_ENGINE.
"""

import os
import random
import sys
import time

import psycogreen.gevent
import psycopg2
import pymysql
from locust import User, constant, events, task

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import probe  # noqa: E402

psycogreen.gevent.patch_psycopg()
probe.locust_listener()

ENGINE = os.environ.get("BENCH_ENGINE", "mysql")
DATABASE = os.environ.get("BENCH_DB", "dbswarm_bench")


class PointSelectUser(User):
    wait_time = constant(0)

    def on_start(self):
        if ENGINE == "mysql":
            self.conn = pymysql.connect(host="127.0.0.1", port=int(os.environ.get("BENCH_MYSQL_PORT", 3306)),
                                        user="root", password="", database=DATABASE, autocommit=True)
        else:
            self.conn = psycopg2.connect(host="127.0.0.1", port=int(os.environ.get("BENCH_PG_PORT", 5432)),
                                         user="postgres", dbname=DATABASE)
            self.conn.autocommit = True

    @task
    def point_select(self):
        start = time.time()
        try:
            cur = self.conn.cursor()
            cur.execute("SELECT id, v FROM bench_points WHERE id = %s", (random.randint(1, 10000),))
            rows = cur.fetchall()
            events.request.fire(request_type=ENGINE, name="point_select",
                                response_time=(time.time() - start) * 1000, response_length=len(rows),
                                exception=None, context={})
        except Exception as e:
            events.request.fire(request_type=ENGINE, name="point_select",
                                response_time=(time.time() - start) * 1000, response_length=0,
                                exception=e, context={})

    def on_stop(self):
        self.conn.close()
