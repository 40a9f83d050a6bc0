"""Abstract Locust users that own one database session each.

Subclass ``MySQLUser`` or ``PostgresUser`` (or ``DatabaseUser`` when the
engine is chosen with ``--db-engine``), set ``scenario``, and write tasks that
call ``self.db.run(statement, params)`` or ``self.db.transaction(name, body,
*args)``. The connection opens when the user starts, re-opens when lost, and
closes when the user stops.
"""

from __future__ import annotations

import random

from locust import User

from . import load_listeners
from .config import MYSQL, POSTGRES
from .run.arrival import pacer_for
from .scenario import Scenario
from .session import DbSession

# A locustfile written as ``from plugins.users import MySQLUser`` gets every plugin too.
load_listeners()


class DatabaseUser(User):
    abstract = True
    database_user = True  # run/web_form.py gives these classes a ``host`` naming their target
    engine: str | None = None  # None: the scenario's engine or --db-engine
    scenario: Scenario | None = None

    def __init__(self, environment):
        super().__init__(environment)
        opts = environment.parsed_options
        if opts is None:
            raise RuntimeError("DatabaseUser needs Locust's parsed options (run it with the locust command)")
        scenario = self.scenario or Scenario(name=type(self).__name__, database="test")
        self.db = DbSession(environment, scenario.config(opts, self.engine))
        lo = getattr(opts, "wait_min", None)
        hi = getattr(opts, "wait_max", None)
        self._wait = (scenario.wait[0] if lo is None else lo, scenario.wait[1] if hi is None else hi)
        if self._wait[1] < self._wait[0]:
            self._wait = (self._wait[0], self._wait[0])

    _pacer = None  # set at start with --target-rps

    def wait_time(self):
        if self._pacer is not None:
            return self._pacer.wait_time()
        lo, hi = self._wait
        return lo if hi <= lo else random.uniform(lo, hi)

    def on_start(self):
        self.db.open()
        self._pacer = pacer_for(self)
        if self._pacer is not None:
            self._pacer.start()

    def on_stop(self):
        if self._pacer is not None:
            self._pacer.stop()
        self.db.close()


class MySQLUser(DatabaseUser):
    """A user with a PyMySQL connection (MySQL, MariaDB, Aurora MySQL)."""

    abstract = True
    engine = MYSQL


class PostgresUser(DatabaseUser):
    """A user with a psycopg2 connection made cooperative under gevent (PostgreSQL, Aurora PostgreSQL)."""

    abstract = True
    engine = POSTGRES


