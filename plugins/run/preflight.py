"""Check options and the database once, before any user spawns.

The master (or local runner) validates every option, connects once to each
endpoint, creates and seeds the schema with ``--db-init`` and checks that the
tables are there. A problem ends the run with one line on stderr naming
host:port and the cause, and exit code 2: no user spawned, no traceback, no
password. Every start from the web UI runs these checks again with the
form's settings (run/web_form.py).

An Aurora Serverless v2 cluster that auto-paused resumes when a connection
arrives and holds it meanwhile, typically about 15 s (longer after a long
pause): the client sees its connect time out, or the handshake cut. Those
answers mean "maybe resuming": preflight says it is waiting for the database to
resume and tries again, for up to ``--db-resume-wait`` seconds (60 by default:
four times the usual resume, well inside a CI step), before it refuses. A
PostgreSQL that says it is starting up is waited for the same way. Answers that
mean the run is set up wrong are refused at once as before: connection refused
(nothing listens there; a paused endpoint still accepts), unknown host,
authentication failed, unknown database, TLS failed.
"""

from __future__ import annotations

import logging
import re
import time

from locust import events

from .. import credentials, options
from ..config import MYSQL, DbConfig
from ..engines.drivers import driver_for
from ..options import number, option_group, validator
from .roles import master_or_local, refuse
from ..scenario import Scenario, in_use

DEFAULT_RESUME_WAIT_S = 60.0
RESUME_RETRY_S = 1.0  # between attempts while waiting for a resume
RESUMING_CLASSES = frozenset({"connect-timeout", "connection-lost"})
_STARTING_UP = ("starting up", "not yet accepting connections")  # PostgreSQL 57P03 and libpq's text

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")
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


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "dbswarm preflight", "The one check of every endpoint before users spawn")
    add("db-resume-wait", type=float, default=DEFAULT_RESUME_WAIT_S,
        help="Seconds to keep trying a database that may be resuming (Aurora Serverless v2 auto-pause: connect "
             "timed out or cut) before refusing to start; 0 = refuse at the first failure")


def maybe_resuming(err) -> bool:
    """Whether a failed connect may be a paused database resuming (wait), not a wrong setting (refuse)."""
    if err.error_class.name in RESUMING_CLASSES or err.code == "57P03":
        return True
    low = str(err.detail).lower()
    return any(text in low for text in _STARTING_UP)


def resume_wait(opts) -> float:
    value = number(getattr(opts, "db_resume_wait", None))
    return DEFAULT_RESUME_WAIT_S if value is None else value


@validator
def validate(opts) -> list[str]:
    wait = resume_wait(opts)
    return [] if 0 <= wait <= 900 else [f"--db-resume-wait {wait:g}: must be between 0 and 900 seconds"]


def _connect(cfg: DbConfig, reader: bool = False, database: str | None = None, wait: float = 0.0):
    driver = driver_for(cfg.engine)
    where = cfg.where(reader)
    role = "reader " if reader else ""
    began = time.monotonic()
    said = None
    while True:
        try:
            conn = driver.connect(cfg, reader=reader, database=database)
        except driver.errors as exc:
            err = driver.classify(exc)
        else:
            if said is not None:
                _say(f"{cfg.label} {role}at {where} answered after {time.monotonic() - began:.1f}s")
            return conn
        waited = time.monotonic() - began
        hint = _hint(err.error_class.name, cfg, err.detail)
        if not maybe_resuming(err) or waited + RESUME_RETRY_S > wait:
            if said is not None:
                hint += f"; still not answering after waiting {waited:.0f}s for it to resume (--db-resume-wait)"
            raise PreflightError(f"cannot use {cfg.label} {role}at {where}: {hint}") from None
        if said is None or time.monotonic() - said >= 10:
            _say(f"waiting for {cfg.label} {role}at {where} to resume ({err.error_class.name}); "
                 f"trying again for up to {wait - waited:.0f}s more (--db-resume-wait)")
            said = time.monotonic()
        time.sleep(RESUME_RETRY_S)


def _say(line: str) -> None:
    logger.warning("%s", line)  # a log line: the refusal, if it comes, stays the one "dbswarm:" line


def _create_database(cfg: DbConfig, wait: float = 0.0) -> None:
    conn = _connect(cfg, database="", wait=wait)
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
    conflict = scenario.engine_conflict(opts)
    if conflict:
        raise PreflightError(conflict)
    cfg = scenario.config(opts)
    wait = resume_wait(opts)
    if not _IDENTIFIER.match(cfg.database):
        raise PreflightError(f"--db-name {cfg.database!r}: use letters, digits and _ only")
    if getattr(opts, "db_init", False):
        _create_database(cfg, wait)
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
            conn = _connect(cfg, reader=reader, wait=wait)
        except PreflightError as exc:
            found.append(str(exc))
            continue
        try:
            missing = _missing_tables(conn.cursor(), cfg, scenario.tables_for(opts))
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


def problems(environment, opts=None) -> list[str]:
    """Every problem found, one line each; empty when the run may start.

    ``opts`` (default: the launch's parsed options) lets the web UI check the
    settings of its start form before they replace the launch's.
    """
    opts = environment.parsed_options if opts is None else opts
    found = options.problems(opts)
    scenarios = in_use(environment)
    for scenario in scenarios:
        if scenario.validate is not None:
            found.extend(scenario.validate(opts))
    if found:
        return found
    for scenario in scenarios:
        try:
            check_scenario(scenario, opts)
        except (PreflightError, credentials.CredentialsError) as exc:
            return str(exc).splitlines()
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

