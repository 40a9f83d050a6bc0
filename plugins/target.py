"""The database a run loads, as a URL: what Locust's Host shows and what ``-H`` may set.

Locust's header and start form show a user class's ``host``; for a database
test that is ``mysql://root@127.0.0.1:3306/myshop`` (never the password).
``-H/--host mysql://user[:password]@host[:port]/database`` (or
``postgresql://``) sets the engine, host, port, user, password and database;
a ``--db-*`` option given as well (on the command line, in the environment or
in locust.conf) wins over the URL's part.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from .config import MYSQL, POSTGRES

SCHEMES = {"mysql": MYSQL, "mariadb": MYSQL, "postgres": POSTGRES, "postgresql": POSTGRES}
_URL_SCHEME = {MYSQL: "mysql", POSTGRES: "postgresql"}


def is_db_url(text: str | None) -> bool:
    return bool(text) and urlsplit(text.strip()).scheme.lower() in SCHEMES


def parse(text: str) -> dict:
    """The ``db_*`` options a URL names (only those present); raises ValueError with the reason."""
    parts = urlsplit(text.strip())
    engine = SCHEMES.get(parts.scheme.lower())
    if engine is None:
        raise ValueError("must be a mysql:// or postgresql:// URL")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("bad port") from None
    if not parts.hostname:
        raise ValueError("names no host")
    found = {"db_engine": engine, "db_host": parts.hostname}
    if port:
        found["db_port"] = port
    if parts.username:
        found["db_user"] = unquote(parts.username)
    if parts.password:
        found["db_password"] = unquote(parts.password)
    database = parts.path.lstrip("/")
    if database:
        found["db_name"] = unquote(database)
    return found


def apply(opts, text: str, defaults: dict) -> None:
    """Set from the URL each option that is still at its default (``defaults``: dest -> default)."""
    for dest, value in parse(text).items():
        if getattr(opts, dest, None) == defaults.get(dest):
            setattr(opts, dest, value)


def url(cfg) -> str:
    """``scheme://user@host:port/database`` of a DbConfig: no password, ever."""
    user = quote(cfg.user or "", safe="")
    return f"{_URL_SCHEME[cfg.engine]}://{user + '@' if user else ''}{cfg.host}:{cfg.port}/{cfg.database}"


def without_password(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.password is None:
        return text
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}@{netloc}" if user else netloc).geturl()
