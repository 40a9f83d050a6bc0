"""Connection settings and the bench table, shared by every bench generator."""

from __future__ import annotations

import os

DATABASE = os.environ.get("BENCH_DB", "dbswarm_bench")
ROWS = 10_000
TABLE = "bench_points"
SQL = f"SELECT id, v FROM {TABLE} WHERE id = %s"
# The same point select as a PostgreSQL prepared statement (what a dbswarm user sends there).
PG_PREPARE = "PREPARE point_select AS " + SQL.replace("%s", "$1")
PG_EXECUTE = "EXECUTE point_select(%s)"
MYSQL = dict(host="127.0.0.1", port=int(os.environ.get("BENCH_MYSQL_PORT", 3306)), user="root", password="")
PG = dict(host="127.0.0.1", port=int(os.environ.get("BENCH_PG_PORT", 5432)), user="postgres")


def connect(engine: str, database: str | None = DATABASE, connection_factory=None):
    """A plain autocommit connection without TLS, as a user would open one."""
    if engine == "mysql":
        import pymysql

        return pymysql.connect(**MYSQL, database=database, autocommit=True, ssl_disabled=True)
    import psycopg2

    conn = psycopg2.connect(**PG, dbname=database or "postgres", sslmode="disable",
                            connection_factory=connection_factory)
    conn.autocommit = True
    return conn


def create(engine: str, database: str = DATABASE) -> None:
    """Create the bench database and table (idempotent): ROWS rows, read by primary key.

    ``database``: another name for a harness that must not share (and drop) the default one.
    """
    conn = connect(engine, database=None)
    cur = conn.cursor()
    if engine == "mysql":
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    else:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{database}"')
    conn.close()
    conn = connect(engine, database)
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)")
    cur.execute(f"SELECT count(*) FROM {TABLE}")
    if cur.fetchone()[0] != ROWS:
        cur.execute(f"DELETE FROM {TABLE}")
        for lo in range(1, ROWS + 1, 1000):
            ids = range(lo, min(lo + 1000, ROWS + 1))
            cur.execute(f"INSERT INTO {TABLE} (id, v) VALUES " + ", ".join(["(%s, %s)"] * len(ids)),
                        [x for i in ids for x in (i, f"value {i}")])
    conn.close()


def drop(engine: str, database: str = DATABASE) -> None:
    conn = connect(engine, database=None)
    if engine == "mysql":
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
    else:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    conn.close()
