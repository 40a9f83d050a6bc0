"""Database options, shown in the web UI, read from locust.conf and the environment.

Every option here can be given three ways: ``--db-host x`` on the command
line, ``db-host = x`` in locust.conf, or ``DBSWARM_DB_HOST=x`` in the
environment. ``validate`` checks them before any load starts and returns
one line per problem.
"""

from __future__ import annotations

import os

from locust import events

from .config import ENGINES, QUERY_MODES


def _env(name: str) -> str:
    return "DBSWARM_" + name.upper().replace("-", "_")


def option_group(parser, title: str, description: str | None = None):
    """An ``add(flag, **argparse_kwargs)`` for one titled group of options.

    Each option gets a ``DBSWARM_*`` environment variable and shows in the
    web UI (``is_secret=True`` masks it there).
    """
    group = parser.add_argument_group(title, description)

    def add(flag, is_secret=False, **kw):
        # Argument groups bypass LocustArgumentParser.add_argument, so set the
        # web UI attributes it would have set.
        action = group.add_argument(f"--{flag}", env_var=_env(flag), **kw)
        action.include_in_web_ui = True
        action.is_secret = is_secret
        action.is_required = False
        action.is_multiple = False
        return action

    return add


@events.init_command_line_parser.add_listener
def add_database_options(parser, **_kwargs):
    add = option_group(parser, "dbswarm database", "Where the load goes (defaults fit a local MariaDB/PostgreSQL)")

    add("db-engine", choices=ENGINES, default=None, help="mysql or postgres (default: the scenario's engine)")
    add("db-host", default="127.0.0.1", help="Writer (cluster) endpoint")
    add("db-port", type=int, default=None, help="Port (default 3306 for MySQL, 5432 for PostgreSQL)")
    add("db-user", default=None, help="User (default root for MySQL, postgres for PostgreSQL)")
    add("db-password", default="", is_secret=True, help="Password")
    add("db-name", default=None, help="Database (default: the scenario's, e.g. myshop)")
    add("db-reader-host", default=None, help="Reader endpoint: reads go here, writes stay on the writer")
    add("db-reader-port", type=int, default=None, help="Reader port (default: --db-port)")
    add("db-ssl-ca", default=None, help="CA bundle to verify the server's TLS certificate (e.g. the RDS bundle); TLS is off without it")
    add("db-connect-timeout", type=float, default=10.0, help="Seconds to wait for a connection")
    add("db-query-mode", choices=QUERY_MODES, default=None,
        help="prepared (default): prepare the statements a connection runs repeatedly on the server, like PgJDBC and "
             "psycopg 3 (MySQL: binary protocol); simple: send every query as text (use it behind PgBouncer in "
             "transaction mode or RDS Proxy)")
    add("db-init", action="store_true", default=False, help="Create and seed the scenario's schema before users start")
    add("wait-min", type=float, default=None, help="Least think time between tasks of a user, seconds (default: the scenario's)")
    add("statement-stats", action="store_true", default=False, help="Also report each statement of a transaction as its own request")
    add("wait-max", type=float, default=None, help="Most think time between tasks of a user, seconds (default: the scenario's)")
    add("db-retries", type=int, default=2,
        help="Times a transaction (or statement) that failed with a retryable error (deadlock, 1105, ...) is run again; 0 = off")
    add("db-retry-backoff", type=float, default=0.25,
        help="Base backoff in seconds between retries and between reconnect attempts (doubles each time, with jitter)")
    add("db-retry-backoff-max", type=float, default=1.0,
        help="Longest backoff in seconds: a down database sees about one connection attempt per user per this period")


def validate(opts) -> list[str]:
    """Problems with the database options, one line each (empty when fine)."""
    problems = []
    for name in ("db_port", "db_reader_port"):
        value = getattr(opts, name, None)
        if value is not None and not 1 <= value <= 65535:
            problems.append(f"--{name.replace('_', '-')} {value}: must be between 1 and 65535")
    timeout = getattr(opts, "db_connect_timeout", 10.0)
    if timeout is not None and not timeout > 0:
        problems.append(f"--db-connect-timeout {timeout}: must be greater than 0")
    if not (getattr(opts, "db_host", None) or "").strip():
        problems.append("--db-host: must not be empty")
    ca = getattr(opts, "db_ssl_ca", None)
    if ca and not os.path.isfile(ca):
        problems.append(f"--db-ssl-ca {ca}: no such file")
    elif ca and not os.access(ca, os.R_OK):
        problems.append(f"--db-ssl-ca {ca}: not readable")
    lo, hi = getattr(opts, "wait_min", None), getattr(opts, "wait_max", None)
    for flag, value in (("--wait-min", lo), ("--wait-max", hi)):
        if value is not None and value < 0:
            problems.append(f"{flag} {value}: must not be negative")
    if lo is not None and hi is not None and 0 <= hi < lo:
        problems.append(f"--wait-max {hi}: must not be less than --wait-min {lo}")
    retries = getattr(opts, "db_retries", None)
    if retries is not None and not 0 <= retries <= 100:
        problems.append(f"--db-retries {retries}: must be between 0 and 100")
    backoff, cap = getattr(opts, "db_retry_backoff", None), getattr(opts, "db_retry_backoff_max", None)
    for flag, value in (("--db-retry-backoff", backoff), ("--db-retry-backoff-max", cap)):
        if value is not None and not 0 < value <= 300:
            problems.append(f"{flag} {value}: must be greater than 0 and at most 300 seconds")
    if backoff is not None and cap is not None and 0 < cap < backoff:
        problems.append(f"--db-retry-backoff-max {cap}: must not be less than --db-retry-backoff {backoff}")
    return problems


def number(value):
    """An option that defaults to None as a float (or None): the web UI's start form sends such options as text."""
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value).strip()
    return float(text) if text else None
