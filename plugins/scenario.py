"""What a locustfile declares about its workload, for the engine to act on.

A scenario names its default database, the tables it needs (the preflight
checks them), how to create and seed them (``--db-init``), its default think
time, and what to report about the database when the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from . import credentials
from .config import MYSQL, DbConfig

_REGISTRY: dict[str, Scenario] = {}


@dataclass(eq=False)
class Scenario:
    name: str
    database: str
    engine: str | None = None  # None: chosen with --db-engine
    tables: tuple[str, ...] = ()
    create: Callable | None = None  # create(cursor, opts, engine): idempotent DDL and seed
    report: Callable | None = None  # report(cursor, environment, engine) -> lines for the end of a run
    validate: Callable | None = None  # validate(opts) -> problems, one line each
    wait: tuple[float, float] = (0.0, 0.0)
    retry_also: tuple[str, ...] = ()  # error classes this workload retries besides the retryable ones
    extra: dict = field(default_factory=dict)

    def engine_for(self, opts) -> str:
        chosen = getattr(opts, "db_engine", None)
        if self.engine and chosen and chosen != self.engine:
            return self.engine  # preflight reports the conflict
        return self.engine or chosen or MYSQL

    def config(self, opts, engine: str | None = None) -> DbConfig:
        """Connection settings (``engine`` overrides the scenario's, for users with a fixed engine).

        Raises credentials.CredentialsError when a secret cannot be read.
        """
        region = credentials.region_for(opts, opts.db_host) if getattr(opts, "db_iam_auth", False) else None
        return DbConfig.from_options(opts, engine or self.engine_for(opts), self.database,
                                     credentials.secret(opts), region)


def register(scenario: Scenario) -> Scenario:
    _REGISTRY[scenario.name] = scenario
    return scenario


def in_use(environment) -> list[Scenario]:
    """Scenarios of the user classes this run will spawn, in a stable order."""
    seen: dict[int, Scenario] = {}
    for user_class in environment.user_classes or ():
        scenario = getattr(user_class, "scenario", None)
        if scenario is not None:
            seen.setdefault(id(scenario), scenario)
    return list(seen.values())
