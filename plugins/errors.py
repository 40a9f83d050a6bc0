"""One place that knows what a database error means for a load test.

Aurora misbehaves exactly when it is loaded: too many connections while it is
small, aborted transactions during forced scaling, dropped connections when an
instance is swapped. Every error either driver raises is mapped here to a
class that says whether retrying the transaction may help and whether the
connection must be re-opened; the rest of dbswarm only asks this module.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorClass:
    name: str
    retryable: bool  # re-running the whole transaction may succeed
    reconnect: bool  # the connection is unusable and must be re-opened


CONNECT_REFUSED = ErrorClass("connection-refused", retryable=False, reconnect=True)
CONNECT_TIMEOUT = ErrorClass("connect-timeout", retryable=False, reconnect=True)
UNKNOWN_HOST = ErrorClass("unknown-host", retryable=False, reconnect=True)
AUTH_FAILED = ErrorClass("authentication-failed", retryable=False, reconnect=True)
UNKNOWN_DATABASE = ErrorClass("unknown-database", retryable=False, reconnect=True)
TLS_FAILED = ErrorClass("tls-failed", retryable=False, reconnect=True)
TOO_MANY_CONNECTIONS = ErrorClass("too-many-connections", retryable=True, reconnect=True)
CONNECTION_LOST = ErrorClass("connection-lost", retryable=True, reconnect=True)
SCALING_ABORT = ErrorClass("scaling-abort", retryable=True, reconnect=False)
DEADLOCK = ErrorClass("deadlock", retryable=True, reconnect=False)
LOCK_WAIT_TIMEOUT = ErrorClass("lock-wait-timeout", retryable=True, reconnect=False)
SERIALIZATION_FAILURE = ErrorClass("serialization-failure", retryable=True, reconnect=False)
READ_ONLY = ErrorClass("read-only", retryable=True, reconnect=True)
STATEMENT_TIMEOUT = ErrorClass("statement-timeout", retryable=False, reconnect=False)
SCHEMA_MISSING = ErrorClass("schema-missing", retryable=False, reconnect=False)
DUPLICATE_KEY = ErrorClass("duplicate-key", retryable=False, reconnect=False)  # a scenario may retry it
OTHER = ErrorClass("error", retryable=False, reconnect=False)
# Raised by dbswarm, not by a server: --db-query-timeout expired. The connection's
# state is unknown (the answer may still be on its way), so it is closed.
QUERY_TIMEOUT = ErrorClass("query-timeout", retryable=False, reconnect=True)
# COMMIT was sent and its answer never came (deadline or connection lost): the
# transaction may or may not have committed. Never counted, never repeated.
COMMIT_UNKNOWN = ErrorClass("commit-unknown", retryable=False, reconnect=True)

# MySQL / MariaDB / Aurora MySQL server and client error numbers.
MYSQL_CODES = {
    1062: DUPLICATE_KEY,
    1040: TOO_MANY_CONNECTIONS,  # max_connections reached
    1203: TOO_MANY_CONNECTIONS,  # max_user_connections (per user)
    1226: TOO_MANY_CONNECTIONS,  # user resource limit
    1044: AUTH_FAILED,  # no access to this database
    1045: AUTH_FAILED,  # wrong user or password
    1130: AUTH_FAILED,  # host not allowed
    1698: AUTH_FAILED,
    1049: UNKNOWN_DATABASE,
    1053: CONNECTION_LOST,  # server shutdown in progress (the statement was cut off)
    1105: SCALING_ABORT,  # Aurora: "The last transaction was aborted ... Please retry." (refined below)
    1146: SCHEMA_MISSING,
    1152: CONNECTION_LOST,  # aborted connection
    1158: CONNECTION_LOST,  # network read/write errors and timeouts
    1159: CONNECTION_LOST,
    1160: CONNECTION_LOST,
    1161: CONNECTION_LOST,
    1205: LOCK_WAIT_TIMEOUT,
    1213: DEADLOCK,
    1290: READ_ONLY,  # --read-only: a writer that became a reader after failover
    1836: READ_ONLY,
    1792: READ_ONLY,
    1927: CONNECTION_LOST,  # MariaDB: connection killed
    4031: CONNECTION_LOST,  # MySQL 8: disconnected for inactivity
    3024: STATEMENT_TIMEOUT,  # MySQL max_execution_time
    1969: STATEMENT_TIMEOUT,  # MariaDB max_statement_time
    1317: STATEMENT_TIMEOUT,  # query interrupted (KILL QUERY, a timeout)
    2002: CONNECT_REFUSED,
    2003: CONNECT_REFUSED,  # refined below by message (timeout, unknown host)
    2005: UNKNOWN_HOST,
    2006: CONNECTION_LOST,
    2013: CONNECTION_LOST,
    2014: CONNECTION_LOST,
    2026: TLS_FAILED,
    2055: CONNECTION_LOST,
}

# PostgreSQL SQLSTATE codes.
PG_CODES = {
    "23505": DUPLICATE_KEY,
    "53300": TOO_MANY_CONNECTIONS,
    "57P01": CONNECTION_LOST,  # admin shutdown
    "57P02": CONNECTION_LOST,  # crash shutdown
    "57P03": CONNECT_REFUSED,  # cannot connect now (starting up)
    "08000": CONNECTION_LOST,
    "08001": CONNECT_REFUSED,
    "08004": CONNECT_REFUSED,
    "57P04": CONNECTION_LOST,  # database dropped
    "08003": CONNECTION_LOST,
    "08006": CONNECTION_LOST,
    "40P01": DEADLOCK,
    "40001": SERIALIZATION_FAILURE,
    "55P03": LOCK_WAIT_TIMEOUT,
    "25006": READ_ONLY,
    "57014": STATEMENT_TIMEOUT,
    "28P01": AUTH_FAILED,
    "28000": AUTH_FAILED,
    "3D000": UNKNOWN_DATABASE,
    "42P01": SCHEMA_MISSING,
}

# libpq reports connection problems as text without a SQLSTATE; only errors
# without one are matched against these (a server error such as 'column "x"
# does not exist' has its SQLSTATE and must not read as an unknown database).
_PG_TEXT = (
    ("connection refused", CONNECT_REFUSED),
    ("timeout expired", CONNECT_TIMEOUT),
    ("timed out", CONNECT_TIMEOUT),
    ("could not translate host name", UNKNOWN_HOST),
    ("name or service not known", UNKNOWN_HOST),
    ("too many clients", TOO_MANY_CONNECTIONS),
    ("remaining connection slots are reserved", TOO_MANY_CONNECTIONS),
    ("the database system is", CONNECT_REFUSED),  # starting up / shutting down / in recovery
    ("ssl syscall error", CONNECTION_LOST),
    ("ssl connection has been closed", CONNECTION_LOST),
    ("password authentication failed", AUTH_FAILED),
    ("no password supplied", AUTH_FAILED),
    ("no pg_hba.conf entry", AUTH_FAILED),
    ('role "', AUTH_FAILED),  # role "x" does not exist
    ("does not exist", UNKNOWN_DATABASE),  # 'database "x" does not exist' at connect
    ("ssl", TLS_FAILED),
    ("certificate", TLS_FAILED),
    ("server closed the connection", CONNECTION_LOST),
    ("terminating connection", CONNECTION_LOST),
    ("connection already closed", CONNECTION_LOST),
    ("could not receive data", CONNECTION_LOST),
    ("could not send data", CONNECTION_LOST),
    ("connection has been closed", CONNECTION_LOST),
)


class DatabaseError(Exception):
    """What a failed operation reports to Locust.

    The message starts with engine, code and class (``MySQL 1040
    too-many-connections: ...``) so Locust's failures table groups by cause.
    """

    def __init__(self, engine: str, code, error_class: ErrorClass, detail: str):
        self.engine = engine
        self.code = code
        self.error_class = error_class
        self.detail = detail
        super().__init__(f"{engine} {code} {error_class.name}: {detail}")

    @property
    def retryable(self) -> bool:
        return self.error_class.retryable

    @property
    def reconnect(self) -> bool:
        return self.error_class.reconnect


_MESSAGE = re.compile(r"(?:MySQL|PostgreSQL) \S+ ([a-z][a-z-]*): ?(.*)")


def class_and_detail(text: str) -> tuple[str, str] | None:
    """The error class and detail of a DatabaseError's message (as Locust stores it, repr or str); None if not one."""
    match = _MESSAGE.search(text)
    if match is None:
        return None
    return match.group(1), re.sub(r"""['"]\)$""", "", match.group(2))  # repr's closing "')"


def query_timeout(engine: str, seconds: float, what: str = "statement") -> DatabaseError:
    """The failure a user reports when its deadline expired."""
    return DatabaseError(engine, "client", QUERY_TIMEOUT, f"{what}: no answer within {seconds:g}s (--db-query-timeout)")


def commit_unknown(engine: str, cause: DatabaseError | None, seconds: float) -> DatabaseError:
    """The failure of a COMMIT whose answer never came: ``cause`` is the lost connection, None for the deadline."""
    if cause is None:
        return DatabaseError(engine, "client", COMMIT_UNKNOWN,
                             f"COMMIT sent, no answer within {seconds:g}s: outcome unknown")
    return DatabaseError(engine, cause.code, COMMIT_UNKNOWN,
                         f"COMMIT sent, {cause.error_class.name}: outcome unknown ({cause.detail})")


def _first_line(text: str, limit: int = 200) -> str:
    text = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return text[:limit]


def classify_mysql(exc: BaseException) -> DatabaseError:
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    detail = _first_line(args[1]) if len(args) > 1 else _first_line(exc) or type(exc).__name__
    if code in (None, 0):
        # pymysql's InterfaceError(0, '') and raw socket errors: the link is gone.
        cls = _socket_class(exc) or CONNECTION_LOST
        return DatabaseError("MySQL", "client", cls, detail or "connection closed")
    cls = MYSQL_CODES.get(code, OTHER)
    if code == 1105 and "retry" not in detail.lower() and "abort" not in detail.lower():
        cls = OTHER  # plain ER_UNKNOWN_ERROR, not Aurora's forced-scaling abort
    if code == 2003:
        low = detail.lower()
        if "ssl" in low or "certificate" in low:
            cls = TLS_FAILED
        elif "timed out" in low:
            cls = CONNECT_TIMEOUT
        elif "name or service" in low or "nodename" in low or "getaddrinfo" in low:
            cls = UNKNOWN_HOST
    return DatabaseError("MySQL", code, cls, detail)


def classify_postgres(exc: BaseException) -> DatabaseError:
    code = getattr(exc, "pgcode", None)
    detail = _first_line(getattr(exc, "pgerror", None) or exc) or type(exc).__name__
    if detail.startswith("ERROR:") or detail.startswith("FATAL:"):
        detail = detail.split(":", 1)[1].strip()
    if code:  # the server answered with a SQLSTATE: its text says nothing about the connection
        return DatabaseError("PostgreSQL", code, PG_CODES.get(code, OTHER), detail)
    cls = _socket_class(exc)
    if cls is None:
        low = str(exc).lower()
        for needle, candidate in _PG_TEXT:
            if needle in low:
                cls = candidate
                break
        else:
            interface = type(exc).__name__ == "InterfaceError"
            cls = CONNECTION_LOST if interface else OTHER
    return DatabaseError("PostgreSQL", code or "client", cls, detail)


def _socket_class(exc: BaseException) -> ErrorClass | None:
    if isinstance(exc, ConnectionRefusedError):
        return CONNECT_REFUSED
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return CONNECT_TIMEOUT
    if isinstance(exc, socket.gaierror):
        return UNKNOWN_HOST
    if isinstance(exc, (ConnectionError, BrokenPipeError, EOFError)):
        return CONNECTION_LOST
    return None
