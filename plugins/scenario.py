"""What a locustfile declares about its workload, for the engine to act on.

A scenario names its default database, the tables it needs (the preflight
checks them), how to create and seed them (``--db-init``), its default think
time, and what to report about the database when the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from . import credentials
from .config import MYSQL, DbConfig


@dataclass(frozen=True)
class Metric:
    """A scenario's business metric (the flash sale's orders): the counter its users increment
    (``counters.incr(metric.counter)``) and how CloudWatch publishes it."""

    counter: str
    name: str  # CloudWatch metric name
    namespace: str
    dimension: tuple[str, str]  # (name, value)


@dataclass(eq=False)
class Scenario:
    name: str
    database: str
    engine: str | None = None  # None: chosen with --db-engine
    tables: tuple[str, ...] | Callable = ()  # or tables(opts) -> tuple, when options decide them
    create: Callable | None = None  # create(cursor, opts, engine): idempotent DDL and seed
    report: Callable | None = None  # report(cursor, environment, engine) -> lines for the end of a run
    validate: Callable | None = None  # validate(opts) -> problems, one line each
    wait: tuple[float, float] = (0.0, 0.0)
    retry_also: tuple[str, ...] = ()  # error classes this workload retries besides the retryable ones
    metric: Metric | None = None  # the business metric, for CloudWatch and the dashboard

    def engine_conflict(self, opts) -> str | None:
        """The problem when --db-engine names another engine than this scenario's, else None."""
        chosen = getattr(opts, "db_engine", None)
        if self.engine and chosen and chosen != self.engine:
            return f"--db-engine {chosen}: the {self.name} scenario runs on {self.engine}"
        return None

    def engine_for(self, opts) -> str:
        if self.engine_conflict(opts):
            return self.engine  # preflight reports the conflict
        return self.engine or getattr(opts, "db_engine", None) or MYSQL

    def tables_for(self, opts) -> tuple[str, ...]:
        """The tables the preflight checks (and ``--db-init`` makes) for these options."""
        return tuple(self.tables(opts) if callable(self.tables) else self.tables)

    def config(self, opts, engine: str | None = None) -> DbConfig:
        """Connection settings (``engine`` overrides the scenario's, for users with a fixed engine).

        Raises credentials.CredentialsError when a secret cannot be read.
        """
        cfg = DbConfig.from_options(opts, engine or self.engine_for(opts), self.database,
                                    credentials.secret(opts), retry_also=self.retry_also)
        if getattr(opts, "db_iam_auth", False):
            cfg = replace(cfg, iam_region=credentials.region_for(opts, cfg.host))
        return cfg


@dataclass(frozen=True)
class OperationCount:
    requests: int
    failures: int
    seconds: float  # from the start of the run to this operation's last request


def operation(environment, name: str) -> OperationCount:
    """How often the run reported operation ``name`` (all processes, on the master), for a scenario's ``report``.

    Operation names are the stable names a workload reports (``place_order``,
    ``place_order: sold out``); the request type (the engine label) does not
    matter.
    """
    stats = environment.runner.stats
    requests = failures = 0
    last = 0.0
    for entry in list(stats.entries.values()):
        if entry.name == name:
            requests += entry.num_requests
            failures += entry.num_failures
            last = max(last, entry.last_request_timestamp or 0.0)
    return OperationCount(requests, failures, max(0.0, last - stats.total.start_time) if requests else 0.0)


def metric_in_use(environment) -> Metric | None:
    """The business metric of the first scenario in use that declares one."""
    return next((s.metric for s in in_use(environment) if s.metric is not None), None)


def in_use(environment) -> list[Scenario]:
    """Scenarios of the user classes this run will spawn, in a stable order."""
    seen: dict[int, Scenario] = {}
    for user_class in environment.user_classes or ():
        scenario = getattr(user_class, "scenario", None)
        if scenario is not None:
            seen.setdefault(id(scenario), scenario)
    return list(seen.values())
