"""What the observer asks the server, per engine, as one flat sample.

Both engines answer with the same keys so the console table, the CSV, the
swap detector and the plots need no engine branches. A figure the server
cannot give (no privilege, not Aurora, not this engine) is ``None``; one
missing figure never costs the whole sample. Counters (``questions``,
``commits``...) are cumulative; ``rates`` turns two samples into per-second
rates.
"""

from __future__ import annotations

import time

from ..config import MYSQL

# Keys of a sample, in CSV column order.
FIELDS = (
    "time", "host", "server_id", "uptime_s", "max_connections", "connections", "threads_running",
    "idle", "idle_in_tx", "buffer_pool_bytes", "history_list_length", "longest_tx_s",
    "questions", "commits", "rollbacks", "deadlocks",
)
COUNTERS = ("questions", "commits", "rollbacks", "deadlocks")

_MYSQL_VARIABLES = (
    "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
    "('hostname', 'max_connections', 'innodb_buffer_pool_size', 'aurora_server_id', 'server_id')"
)
_MYSQL_STATUS = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN "
    "('Threads_connected', 'Threads_running', 'Uptime', 'Questions', 'Com_commit', 'Com_rollback')"
)
_MYSQL_HISTORY = "SELECT `count` FROM information_schema.innodb_metrics WHERE name = 'trx_rseg_history_len'"
_MYSQL_LONGEST_TX = (
    "SELECT COALESCE(MAX(TIMESTAMPDIFF(MICROSECOND, trx_started, NOW(6))), 0) / 1e6 FROM information_schema.innodb_trx"
)

_PG_IDENTITY = (
    "SELECT COALESCE(host(inet_server_addr()), 'local'), "
    "EXTRACT(EPOCH FROM now() - pg_postmaster_start_time())::float8, "
    "current_setting('max_connections')::int, pg_size_bytes(current_setting('shared_buffers'))"
)
_PG_AURORA_ID = "SELECT aurora_db_instance_identifier()"
_PG_STATES = (
    "SELECT COALESCE(state, 'unknown'), count(*) FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' GROUP BY 1"
)
_PG_TOTALS = (
    "SELECT COALESCE(sum(xact_commit), 0)::bigint, COALESCE(sum(xact_rollback), 0)::bigint, "
    "COALESCE(sum(deadlocks), 0)::bigint FROM pg_stat_database"
)
_PG_LONGEST_TX = (
    "SELECT COALESCE(EXTRACT(EPOCH FROM max(now() - xact_start)), 0)::float8 FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
)


def _int(value):
    return None if value is None else int(value)


def _optional(cursor, sql, errors):
    """First row of ``sql``, or None when this server does not offer it."""
    try:
        cursor.execute(sql)
        return cursor.fetchone()
    except errors:
        return None


def sample_mysql(cursor, errors) -> dict:
    cursor.execute(_MYSQL_VARIABLES)
    var = {k.lower(): v for k, v in cursor.fetchall()}
    cursor.execute(_MYSQL_STATUS)
    st = {k.lower(): v for k, v in cursor.fetchall()}
    history = _optional(cursor, _MYSQL_HISTORY, errors)
    longest = _optional(cursor, _MYSQL_LONGEST_TX, errors)
    server_id = var.get("aurora_server_id") or var.get("server_id")
    connected = _int(st.get("threads_connected"))
    running = _int(st.get("threads_running"))
    return {
        "host": var.get("hostname"),
        "server_id": None if server_id is None else str(server_id),
        "uptime_s": _int(st.get("uptime")),
        "max_connections": _int(var.get("max_connections")),
        "connections": connected,
        "threads_running": running,
        "idle": None if connected is None or running is None else connected - running,
        "idle_in_tx": None,
        "buffer_pool_bytes": _int(var.get("innodb_buffer_pool_size")),
        "history_list_length": _int(history[0]) if history else None,
        "longest_tx_s": round(float(longest[0]), 3) if longest else None,
        "questions": _int(st.get("questions")),
        "commits": _int(st.get("com_commit")),
        "rollbacks": _int(st.get("com_rollback")),
        "deadlocks": None,
    }


def sample_postgres(cursor, errors) -> dict:
    cursor.execute(_PG_IDENTITY)
    address, uptime, max_conn, shared_buffers = cursor.fetchone()
    aurora = _optional(cursor, _PG_AURORA_ID, errors)
    cursor.execute(_PG_STATES)
    states = {state: int(n) for state, n in cursor.fetchall()}
    cursor.execute(_PG_TOTALS)
    commits, rollbacks, deadlocks = (int(v) for v in cursor.fetchone())
    longest = _optional(cursor, _PG_LONGEST_TX, errors)
    return {
        "host": address,
        "server_id": aurora[0] if aurora else None,
        "uptime_s": round(float(uptime), 3),
        "max_connections": int(max_conn),
        "connections": sum(states.values()),
        "threads_running": states.get("active", 0),
        "idle": states.get("idle", 0),
        "idle_in_tx": states.get("idle in transaction", 0) + states.get("idle in transaction (aborted)", 0),
        "buffer_pool_bytes": int(shared_buffers),
        "history_list_length": None,
        "longest_tx_s": round(float(longest[0]), 3) if longest else None,
        "questions": None,
        "commits": commits,
        "rollbacks": rollbacks,
        "deadlocks": deadlocks,
    }


def sample(cursor, engine: str, errors, now: float | None = None) -> dict:
    """One sample of the server behind ``cursor``; raises the driver's errors if it is away."""
    probe = sample_mysql if engine == MYSQL else sample_postgres
    row = probe(cursor, errors)
    row["time"] = time.time() if now is None else now
    return {key: row.get(key) for key in FIELDS}


def rates(prev: dict | None, cur: dict) -> dict:
    """Per-second rates of the cumulative counters between two samples of the same instance."""
    out = {f"{key}_per_s": None for key in COUNTERS}
    if prev is None:
        return out
    elapsed = cur["time"] - prev["time"]
    if elapsed <= 0:
        return out
    for key in COUNTERS:
        a, b = prev.get(key), cur.get(key)
        if a is not None and b is not None and b >= a:
            out[f"{key}_per_s"] = round((b - a) / elapsed, 1)
    return out
