"""Check options and the database once, before any user spawns.

The master (or local runner) validates every option, connects once to each
endpoint, creates and seeds the schema with ``--db-init`` and checks that the
tables are there. A problem ends the run with one line on stderr naming
host:port and the cause, and exit code 2: no user spawned, no traceback, no
password. In the web UI, options changed in the start form are checked again
when the test starts.
"""

from __future__ import annotations

import logging
import re

from locust import events

from . import credentials, options
from .config import MYSQL, DbConfig
from .drivers import driver_for
from .roles import master_or_local, refuse
from .scenario import Scenario, in_use

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")
_checked: set = set()
logger = logging.getLogger("dbswarm")


class PreflightError(Exception):
    """Problems that must stop the run before load starts; str() is one line per problem."""


def _hint(cls_name: str, cfg: DbConfig, detail: str) -> str:
    return {
        "connection-refused": "connection refused (is the server running? set --db-host/--db-port)",
        "connect-timeout": f"no answer within {cfg.connect_timeout:g}s (check host, port and firewall; --db-connect-timeout)",
        "unknown-host": "unknown host (check --db-host)",
        "authentication-failed": f"authentication failed for user '{cfg.user}' (check --db-user/--db-password)",
        "unknown-database": f"unknown database '{cfg.database}' (create it or run with --db-init)",
        "tls-failed": f"TLS failed: {detail} (check --db-ssl-ca)",
        "too-many-connections": "too many connections (the server is at max_connections)",
    }.get(cls_name, detail)


def _connect(cfg: DbConfig, reader: bool = False, database: str | None = None):
    driver = driver_for(cfg.engine)
    try:
        return driver.connect(cfg, reader=reader, database=database)
    except driver.errors as exc:
        err = driver.classify(exc)
        where = cfg.where(reader)
        role = "reader " if reader else ""
        raise PreflightError(
            f"cannot use {cfg.label} {role}at {where}: {_hint(err.error_class.name, cfg, err.detail)}"
        ) from None


def _create_database(cfg: DbConfig) -> None:
    conn = _connect(cfg, database="")
    try:
        cur = conn.cursor()
        if cfg.engine == MYSQL:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{cfg.database}`")
        else:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cfg.database,))
            if not cur.fetchall():
                cur.execute(f'CREATE DATABASE "{cfg.database}"')
    except driver_for(cfg.engine).errors as exc:
        err = driver_for(cfg.engine).classify(exc)
        raise PreflightError(
            f"cannot create database '{cfg.database}' on {cfg.label} at {cfg.where()}: {err.detail}"
        ) from None
    finally:
        conn.close()


def _missing_tables(cursor, cfg: DbConfig, tables) -> list[str]:
    if cfg.engine == MYSQL:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    else:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    present = {row[0].lower() for row in cursor.fetchall()}
    return [t for t in tables if t.lower() not in present]


def check_scenario(scenario: Scenario, opts) -> DbConfig:
    """Validate, optionally initialise, and check one scenario; raise PreflightError."""
    chosen = getattr(opts, "db_engine", None)
    if scenario.engine and chosen and chosen != scenario.engine:
        raise PreflightError(f"--db-engine {chosen}: the {scenario.name} scenario runs on {scenario.engine}")
    cfg = scenario.config(opts)
    if not _IDENTIFIER.match(cfg.database):
        raise PreflightError(f"--db-name {cfg.database!r}: use letters, digits and _ only")
    if getattr(opts, "db_init", False):
        _create_database(cfg)
        conn = _connect(cfg)
        try:
            if scenario.create is not None:
                driver = driver_for(cfg.engine)
                try:
                    scenario.create(conn.cursor(), opts, cfg.engine)
                except driver.errors as exc:
                    err = driver.classify(exc)
                    raise PreflightError(
                        f"--db-init failed on {cfg.label} at {cfg.where()} (database {cfg.database}): {err}"
                    ) from None
        finally:
            conn.close()
    found = []  # every endpoint is checked, so a bad reader is reported beside a writer problem
    for reader in (False, True) if cfg.has_reader else (False,):
        try:
            conn = _connect(cfg, reader=reader)
        except PreflightError as exc:
            found.append(str(exc))
            continue
        try:
            missing = _missing_tables(conn.cursor(), cfg, scenario.tables)
        finally:
            conn.close()
        if missing:
            role = "reader " if reader else ""
            found.append(
                f"schema missing on {cfg.label} {role}at {cfg.where(reader)} (database {cfg.database}): "
                f"no table {', '.join(missing)} (run with --db-init)"
            )
    if found:
        raise PreflightError("\n".join(found))
    return cfg


def problems(environment) -> list[str]:
    """Every problem found, one line each; empty when the run may start."""
    opts = environment.parsed_options
    found = list(options.validate(opts)) + credentials.validate(opts)
    scenarios = in_use(environment)
    for scenario in scenarios:
        if scenario.validate is not None:
            found.extend(scenario.validate(opts))
    if found:
        return found
    for scenario in scenarios:
        try:
            cfg = check_scenario(scenario, opts)
        except (PreflightError, credentials.CredentialsError) as exc:
            return str(exc).splitlines()
        _checked.add(cfg)
    return []


GRACEFUL_STOP_SECONDS = 10.0


@events.init.add_listener
def _on_init(environment, **_kwargs):
    if not master_or_local(environment):
        return
    if not environment.stop_timeout:
        # Let a user finish the transaction it is in when the test stops, so
        # what the run counted equals what the database committed. Workers
        # receive this value with their spawn message.
        environment.stop_timeout = GRACEFUL_STOP_SECONDS
    refuse(problems(environment))


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    """Options may have been changed in the web UI's start form: check those again."""
    if not master_or_local(environment) or environment.parsed_options.headless:
        return
    opts = environment.parsed_options
    if all(s.config(opts) in _checked for s in in_use(environment)) and not opts.db_init:
        return
    found = problems(environment)
    if found:
        for line in found:
            logger.error("dbswarm: %s", line)
        import gevent

        gevent.spawn_later(0.1, environment.runner.stop)
