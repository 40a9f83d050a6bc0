"""The two database clients behind one small interface.

Both drivers use ``%s`` placeholders, so statements are shared text; what
differs is how to connect, which exceptions they raise and how to read an
error code. Connections run in autocommit mode: a single statement is its own
transaction and a named transaction sends BEGIN/COMMIT explicitly, which costs
the same round trips on both engines.
"""

from __future__ import annotations

import socket

import gevent
import psycopg2
import pymysql
from psycopg2 import extensions as pg_extensions
from pymysql.constants import SERVER_STATUS

from .. import credentials, errors
from . import dead_peer
from ..config import MYSQL, POSTGRES, DbConfig
from .mysql.mysql_cursor import LeanCursor
from .postgres.pg_gevent import CooperativeConnection, make_cooperative
from ..prepared import prepare_mysql, prepare_postgres


class MySQLDriver:
    errors = (pymysql.err.Error, OSError)
    prepare = staticmethod(prepare_mysql)  # --db-query-mode prepared: binary protocol through the lean cursor

    @staticmethod
    def connect(cfg: DbConfig, reader: bool = False, database: str | None = None):
        host, port = cfg.endpoint(reader)
        password = credentials.iam_token(host, port, cfg.user, cfg.iam_region) if cfg.iam_region else cfg.password
        if cfg.ssl_ca:
            tls = {"ssl_ca": cfg.ssl_ca, "ssl_verify_cert": True, "ssl_verify_identity": True}
        else:
            # Explicitly off: otherwise PyMySQL builds a TLS context on every connect.
            tls = {"ssl_disabled": True}
        # PyMySQL's connect_timeout covers the TCP connect only; bound the
        # handshake and authentication too, or a silent server hangs a user.
        try:
            with gevent.Timeout(cfg.connect_timeout, socket.timeout("timed out")):
                conn = pymysql.connect(
                    host=host,
                    port=port,
                    user=cfg.user,
                    password=password,
                    database=cfg.database if database is None else (database or None),
                    connect_timeout=cfg.connect_timeout,
                    autocommit=True,
                    charset="utf8mb4",
                    program_name="dbswarm",
                    cursorclass=LeanCursor,
                    **tls,
                )
        except pymysql.err.OperationalError as exc:
            if "timed out" in str(exc):  # PyMySQL reports a silent server as "lost connection"
                raise socket.timeout(f"timed out after {cfg.connect_timeout:g}s") from None
            raise
        dead_peer.tune(conn._sock)  # PyMySQL's socket, once connected
        return conn

    @staticmethod
    def classify(exc: BaseException) -> errors.DatabaseError:
        return errors.classify_mysql(exc)

    @staticmethod
    def in_transaction(conn) -> bool:
        return bool(getattr(conn, "server_status", 0) & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


class PostgresDriver:
    errors = (psycopg2.Error, OSError)
    prepare = staticmethod(prepare_postgres)  # --db-query-mode prepared: SQL-level PREPARE / EXECUTE

    @staticmethod
    def connect(cfg: DbConfig, reader: bool = False, database: str | None = None):
        make_cooperative()
        host, port = cfg.endpoint(reader)
        password = credentials.iam_token(host, port, cfg.user, cfg.iam_region) if cfg.iam_region else cfg.password
        tls = {"sslmode": "verify-full", "sslrootcert": cfg.ssl_ca} if cfg.ssl_ca else {"sslmode": "disable"}
        # Under the wait callback libpq connects asynchronously and its own
        # connect_timeout does not apply: bound connect and handshake here.
        with gevent.Timeout(cfg.connect_timeout, socket.timeout(f"timed out after {cfg.connect_timeout:g}s")):
            conn = psycopg2.connect(
                host=host,
                port=port,
                user=cfg.user,
                password=password,
                dbname=cfg.database if database is None else (database or "postgres"),
                # libpq takes whole seconds and treats 1 as 2.
                connect_timeout=max(2, int(round(cfg.connect_timeout))),
                application_name="dbswarm",
                connection_factory=CooperativeConnection,
                **dead_peer.LIBPQ_PARAMS,
                **tls,
            )
        conn.autocommit = True
        return conn

    @staticmethod
    def classify(exc: BaseException) -> errors.DatabaseError:
        return errors.classify_postgres(exc)

    @staticmethod
    def in_transaction(conn) -> bool:
        info = getattr(conn, "info", None)
        return info is not None and info.transaction_status not in _PG_NOT_IN_TRANSACTION


_PG_NOT_IN_TRANSACTION = (pg_extensions.TRANSACTION_STATUS_IDLE, pg_extensions.TRANSACTION_STATUS_UNKNOWN)


DRIVERS = {MYSQL: MySQLDriver, POSTGRES: PostgresDriver}


def driver_for(engine: str):
    return DRIVERS[engine]
