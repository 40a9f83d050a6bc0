"""Plain connections for the loader, the checks and the result block.

Not the users' path (that is ``plugins.session``): these are the few
connections made around a run, so they use the drivers directly, with the
same TLS and IAM settings the users get from ``DbConfig``. Under Locust the
PostgreSQL driver is already cooperative (psycopg2's wait callback is
process-wide), so these do not block the event loop either.
"""

from __future__ import annotations

from ...config import MYSQL, DbConfig


def connect(cfg: DbConfig, autocommit: bool = True):
    if cfg.iam_region:
        from ...credentials import iam_token

        password = iam_token(cfg.host, cfg.port, cfg.user, cfg.iam_region)
    else:
        password = cfg.password
    if cfg.engine == MYSQL:
        import pymysql

        tls = ({"ssl_ca": cfg.ssl_ca, "ssl_verify_cert": True, "ssl_verify_identity": True}
               if cfg.ssl_ca else {"ssl_disabled": True})
        return pymysql.connect(host=cfg.host, port=cfg.port, user=cfg.user, password=password,
                               database=cfg.database, connect_timeout=cfg.connect_timeout,
                               autocommit=autocommit, charset="utf8mb4", program_name="dbswarm-tpcc", **tls)
    import psycopg2

    tls = {"sslmode": "verify-full", "sslrootcert": cfg.ssl_ca} if cfg.ssl_ca else {"sslmode": "disable"}
    conn = psycopg2.connect(host=cfg.host, port=cfg.port, user=cfg.user, password=password, dbname=cfg.database,
                            connect_timeout=max(1, int(cfg.connect_timeout)), application_name="dbswarm-tpcc", **tls)
    conn.autocommit = autocommit
    return conn


def errors(engine: str) -> tuple:
    """The exceptions a connection of this engine raises."""
    if engine == MYSQL:
        import pymysql

        return (pymysql.err.Error, OSError)
    import psycopg2

    return (psycopg2.Error, OSError)


def scalar(cursor, sql: str, params=None):
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return None if row is None else row[0]
