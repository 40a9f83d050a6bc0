"""Every dbswarm option in one place: its flag, type, label, default and checks.

An option can be given four ways: ``--db-port 3307`` on the command line,
``db-port = 3307`` in locust.conf, ``DBSWARM_DB_PORT=3307`` in the
environment, or the web UI's start form. Locust keeps whatever the form
posts as text when an option's default is None, so argparse is not trusted
with types: each option records its parser here, and ``parse_into`` turns
text from any of those paths into the typed value (or one line naming the
problem). Plugins register their ``validate(opts) -> [lines]`` with
``@validator``; ``problems`` parses and runs them all, at launch and again
for every start from the web UI (plugins/run/web_form.py).

``python -m plugins.options`` lists every option with its default and
environment variable (Locust prints ``--help`` before it loads a locustfile,
so it cannot show them).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Callable

from locust import events

from .config import (
    DEFAULT_BACKOFF,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_QUERY_TIMEOUT,
    DEFAULT_RETRIES,
    ENGINES,
    MAX_QUERY_TIMEOUT,
    QUERY_MODES,
)

_UNSET = object()


class OptionError(ValueError):
    """Text that is not a valid value; str() is the reason ("must be an integer")."""


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise OptionError("must be an integer") from None


def _decimal(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise OptionError("must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise OptionError("must be a finite number")
    return value


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise OptionError("must be true or false")


_PARSERS = {int: _integer, float: _decimal}
_TYPE_WORDS = {int: "integer", float: "number", bool: "true/false", str: "text"}
# Words a label spells differently from the flag.
_WORDS = {"db": "DB", "aws": "AWS", "iam": "IAM", "ssl": "SSL", "ca": "CA", "rps": "RPS", "csv": "CSV", "s3": "S3",
          "id": "ID", "tx": "TX", "oltp": "OLTP", "ms": "(ms)", "p99": "p99", "url": "URL", "tls": "TLS",
          "s": "(s)", "acu": "ACU", "tpcc": "TPC-C", "hdr": "HDR", "nopm": "NOPM", "slo": "SLO"}


@dataclass
class Option:
    """One option as every path sees it."""

    dest: str
    flag: str
    label: str
    help: str
    default: Any
    kind: type  # int, float, bool or str
    choices: tuple | None
    secret: bool
    in_web_ui: bool
    group: str
    env_name: str | None = None  # another project's variable (locust-plugins' LOCUST_CHECK_*), else DBSWARM_*

    @property
    def env(self) -> str:
        return self.env_name or env_var(self.flag[2:])

    def parse(self, text: str) -> Any:
        """Typed value of ``text`` (blank: the default); raises OptionError."""
        if not text.strip():
            return self.default
        if self.kind is bool:
            return _boolean(text)
        if self.kind is str:
            value = text if self.secret else text.strip()
        else:
            value = _PARSERS[self.kind](text)
        if self.choices and value not in self.choices:
            raise OptionError(f"must be one of {', '.join(map(str, self.choices))}")
        return value

    def problem(self, text: str) -> str | None:
        try:
            self.parse(text)
        except OptionError as exc:
            return f"{self.flag} {text.strip()}: {exc}"
        return None


OPTIONS: dict[str, Option] = {}  # dest -> Option, in the order plugins add them
_VALIDATORS: list[Callable] = []


def env_var(name: str) -> str:
    return "DBSWARM_" + name.upper().replace("-", "_")


def _label(flag: str) -> str:
    words = [_WORDS.get(w, w) for w in flag.split("-")]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def validator(fn: Callable) -> Callable:
    """Register ``fn(opts) -> [problem lines]``; it runs at launch and before every web UI start."""
    if fn not in _VALIDATORS:
        _VALIDATORS.append(fn)
    return fn


def option_group(parser, title: str, description: str | None = None):
    """An ``add(flag, label=..., **argparse_kwargs)`` for one titled group of options.

    Each option gets a ``DBSWARM_*`` environment variable and shows in the web
    UI (``is_secret=True`` masks it and never sends its value; ``web=False``
    keeps an option that only takes effect at launch out of the form). ``type``
    is recorded here, not given to argparse, so every path parses alike.
    """
    group = parser.add_argument_group(title, description)

    def add(flag, is_secret=False, label=None, web=True, type=None, env=None, **kw):
        if kw.get("action") == "store_true":
            kind = bool
        else:
            kind = type or str
        # Argument groups bypass LocustArgumentParser.add_argument, so set the
        # web UI attributes it would have set.
        action = group.add_argument(f"--{flag}", env_var=env or env_var(flag), **kw)
        action.include_in_web_ui = web
        action.is_secret = is_secret
        action.is_required = False
        action.is_multiple = False
        OPTIONS[action.dest] = Option(
            dest=action.dest, flag=f"--{flag}", label=label or _label(flag), help=kw.get("help") or "",
            default=kw.get("default"), kind=kind, choices=tuple(kw["choices"]) if kw.get("choices") else None,
            secret=is_secret, in_web_ui=web, group=title, env_name=env,
        )
        return action

    return add


def parse_into(opts, values: dict | None = None) -> list[str]:
    """Type the options of ``opts`` in place; one line per value that does not parse.

    ``values`` (dest -> text, e.g. from the web form) are parsed and set;
    without it, the text argparse left in ``opts`` (command line,
    environment, locust.conf, or Locust's copy of the form) is parsed.
    """
    found = []
    items = values.items() if values is not None else (
        (dest, getattr(opts, dest, _UNSET)) for dest in OPTIONS)
    for dest, raw in items:
        option = OPTIONS.get(dest)
        if option is None or raw is _UNSET or not isinstance(raw, str):
            continue
        try:
            setattr(opts, dest, option.parse(raw))
        except OptionError as exc:
            found.append(f"{option.flag} {raw.strip()}: {exc}")
    return found


def problems(opts) -> list[str]:
    """Parse ``opts`` in place and run every registered validator; one line per problem."""
    found = parse_into(opts)
    if found:
        return found  # validators expect typed values
    for check in _VALIDATORS:
        found.extend(check(opts))
    return found


@events.init_command_line_parser.add_listener
def add_database_options(parser, **_kwargs):
    add = option_group(parser, "dbswarm database", "Where the load goes (defaults fit a local MariaDB/PostgreSQL)")

    add("db-engine", choices=ENGINES, default=None, label="DB engine",
        help="mysql or postgres (default: the scenario's engine)")
    # None, not the default itself: an explicit --db-host 127.0.0.1 must win over a secret's host.
    add("db-host", default=None, help=f"Writer (cluster) endpoint (default: the secret's host, else {DEFAULT_HOST})")
    add("db-port", type=int, default=None, help="Port (default 3306 for MySQL, 5432 for PostgreSQL)")
    add("db-user", default=None, help="User (default root for MySQL, postgres for PostgreSQL)")
    add("db-password", default="", is_secret=True,
        help="Password (in the web UI: leave empty to keep the launch-time password; a typed one is for that run only)")
    add("db-name", default=None, label="DB name (database)", help="Database (default: the scenario's, e.g. myshop)")
    add("db-reader-host", default=None, help="Reader endpoint: reads go here, writes stay on the writer")
    add("db-reader-port", type=int, default=None, help="Reader port (default: --db-port)")
    add("db-ssl-ca", default=None, label="DB TLS CA bundle",
        help="CA bundle to verify the server's TLS certificate (e.g. the RDS bundle); TLS is off without it")
    add("db-connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT, label="DB connect timeout (s)",
        help="Seconds to wait for a connection")
    add("db-query-timeout", type=float, default=DEFAULT_QUERY_TIMEOUT, label="DB query timeout (s)",
        help="Deadline in seconds of a statement or a whole transaction (BEGIN to COMMIT); on expiry it fails as "
             "query-timeout and the connection is closed. At most 30; 0 = none")
    add("db-query-mode", choices=QUERY_MODES, default=None,
        help="prepared (default): prepare the statements a connection runs repeatedly on the server, like PgJDBC and "
             "psycopg 3 (MySQL: binary protocol); simple: send every query as text (use it behind PgBouncer in "
             "transaction mode or RDS Proxy)")
    add("db-init", action="store_true", default=False, label="DB init (create and seed)",
        help="Create and seed the scenario's schema before users start")
    add("wait-min", type=float, default=None, label="Wait min (s)",
        help="Least think time between tasks of a user, seconds (default: the scenario's)")
    add("statement-stats", action="store_true", default=False,
        help="Also report each statement of a transaction as its own request")
    add("wait-max", type=float, default=None, label="Wait max (s)",
        help="Most think time between tasks of a user, seconds (default: the scenario's)")
    add("db-retries", type=int, default=DEFAULT_RETRIES,
        help="Times a transaction (or statement) that failed with a retryable error (deadlock, 1105, ...) is run again; 0 = off")
    add("db-retry-backoff", type=float, default=DEFAULT_BACKOFF, label="DB retry backoff (s)",
        help="Base backoff in seconds between retries and between reconnect attempts (doubles each time, with jitter)")
    add("db-retry-backoff-max", type=float, default=DEFAULT_BACKOFF_MAX, label="DB retry backoff max (s)",
        help="Longest backoff in seconds: a down database sees about one connection attempt per user per this period")


@validator
def validate(opts) -> list[str]:
    """Problems with the database options, one line each (empty when fine)."""
    problems = []
    for name in ("db_port", "db_reader_port"):
        value = getattr(opts, name, None)
        if value is not None and not 1 <= value <= 65535:
            problems.append(f"--{name.replace('_', '-')} {value}: must be between 1 and 65535")
    timeout = getattr(opts, "db_connect_timeout", None)
    if timeout is not None and not timeout > 0:
        problems.append(f"--db-connect-timeout {timeout}: must be greater than 0")
    query_timeout = getattr(opts, "db_query_timeout", None)
    if query_timeout is not None and not 0 <= query_timeout <= MAX_QUERY_TIMEOUT:
        problems.append(f"--db-query-timeout {query_timeout:g}: must be between 0 (none) and {MAX_QUERY_TIMEOUT:g} seconds")
    host = getattr(opts, "db_host", None)
    if host is not None and not host.strip():
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
    """A number option as a float (or None); kept for callers written before every option was typed."""
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value).strip()
    return float(text) if text else None


def describe() -> list[str]:
    """Every option: flag, type, default, environment variable and help, grouped as in the form."""
    lines, group = [], None
    for option in OPTIONS.values():
        if option.group != group:
            group = option.group
            lines.append(f"\n{group}:")
        default = "(none)" if option.default in (None, "") else option.default
        if option.secret and option.default:
            default = "(set)"
        where = "" if option.in_web_ui else "  [launch only: not in the web form]"
        kind = "{" + ",".join(option.choices) + "}" if option.choices else _TYPE_WORDS[option.kind].upper()
        lines.append(f"  {option.flag} {kind if option.kind is not bool else ''}".rstrip())
        lines.append(f"      {option.help}")
        lines.append(f"      default: {default}   env: {option.env}{where}")
    return lines


def markdown() -> list[str]:
    """The README's table of every option."""
    lines = ["| option | default | environment | in the web form | meaning |", "|---|---|---|---|---|"]
    for option in OPTIONS.values():
        default = "none" if option.default in (None, "") else option.default
        if option.kind is bool:
            default = "on" if option.default else "off"
        web = "yes" if option.in_web_ui else "no (launch only)"
        lines.append(f"| `{option.flag}` | {default} | `{option.env}` | {web} | {option.help.replace('|', '/')} |")
    return lines


def main(argv=None) -> int:
    """``python -m plugins.options [locustfile]``: list the options of dbswarm and of a scenario."""
    import importlib.util
    import sys

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m plugins.options")
    parser.add_argument("locustfiles", nargs="*", help="also list these locustfiles' own options")
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    args = parser.parse_args(argv)
    from locust.argument_parser import get_empty_argument_parser

    import plugins.users  # noqa: F401  (every plugin registers its options)

    for number, path in enumerate(args.locustfiles):
        spec = importlib.util.spec_from_file_location(f"dbswarm_listed_locustfile_{number}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    events.init_command_line_parser.fire(parser=get_empty_argument_parser())
    if args.markdown:
        print("\n".join(markdown()))
        return 0
    print("dbswarm options (command line --flag, locust.conf 'flag = value', or the environment variable):")
    print("\n".join(describe()))
    return 0


if __name__ == "__main__":
    # This file runs as __main__ here; plugins.options (imported by the plugins) registers the options.
    events.init_command_line_parser.remove_listener(add_database_options)
    from plugins.options import main as _main

    raise SystemExit(_main())
