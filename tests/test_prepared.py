"""The prepared query mode on the real servers: what gets prepared, and that answers stay right."""

import glob
import json

import pytest
from conftest import mysql_conn, pg_conn, why
from servers import MariaDBServer

PROBE = ("-f", "tests/locustfiles/prepared_probe.py", "--headless", "-u", "4", "-r", "4", "-t", "4s", "--db-init")


def _prepared(tmp_path):
    lists = [json.load(open(p)) for p in glob.glob(str(tmp_path / "out" / "*.json"))]
    assert len(lists) == 4, lists  # one per user
    return lists


def _bumps(engine, database, port=None):
    conn = pg_conn(database) if engine == "postgres" else mysql_conn(database, port=port or 3306)
    cur = conn.cursor()
    cur.execute("SELECT sum(n) FROM p")
    total = int(cur.fetchone()[0])
    conn.close()
    return total


def _probe(locust, tmp_path, engine, *args):
    (tmp_path / "out").mkdir()
    run = locust(*PROBE, "--db-engine", engine, *args, env={"PREPARED_PROBE_OUT": str(tmp_path / "out")})
    assert run.returncode == 0, why(run.output)
    assert run.failures() == 0, why(run.output)  # no "wrong answer"
    counts = [run.count(name) for name in ("point", "named", "literal", "bump_twice")]
    assert min(counts) > 20 and max(counts) - min(counts) <= 4, counts  # a stop may cut a task short
    return run, _prepared(tmp_path)


def test_postgres_repeated_statements_are_prepared_and_answers_stay_right(locust, pg_db, tmp_path):
    run, prepared = _probe(locust, tmp_path, "postgres", "--db-name", pg_db)
    for statements in prepared:
        text = " | ".join(statements)
        # Positional, named (one parameter used twice) and %% placeholders, and the UPDATE inside a transaction.
        assert "WHERE id = $1" in text and "id IN ($1, $1 + 1)" in text and "LIKE 'v%' AND id = $1" in text, text
        assert "UPDATE p SET n = n + 1, at = $1 WHERE id = $2" in text, text
        # Refused by the server (a tuple parameter), run once, or run without parameters: all stay text.
        assert "IN $1" not in text and "count(*)" not in text and " and %" not in text, text
        assert len(statements) == 4, statements
    # Every committed bump_twice added 2; refusing IN_TUPLE inside the transaction did not abort it.
    assert _bumps("postgres", pg_db) == 2 * run.count("bump_twice")


def test_mysql_repeated_statements_run_prepared_and_answers_stay_right(locust, mysql_db, tmp_path):
    run, prepared = _probe(locust, tmp_path, "mysql", "--db-name", mysql_db)
    for counters in prepared:
        # point, named, percent and bump are prepared once per connection (in_tuple is refused once per
        # process, by the first connection that tries); all their later runs are binary executes.
        assert 4 <= counters["Com_stmt_prepare"] <= 5, counters
        assert counters["Com_stmt_execute"] > 20, counters
    assert _bumps("mysql", mysql_db) == 2 * run.count("bump_twice")


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_simple_mode_prepares_nothing(locust, pg_db, mysql_db, tmp_path, engine):
    database = pg_db if engine == "postgres" else mysql_db
    run, prepared = _probe(locust, tmp_path, engine, "--db-name", database, "--db-query-mode", "simple")
    nothing = [] if engine == "postgres" else {"Com_stmt_prepare": 0, "Com_stmt_execute": 0}
    assert all(p == nothing for p in prepared), prepared
    assert _bumps(engine, database) == 2 * run.count("bump_twice")


def test_mysql_past_the_servers_prepared_statement_limit_statements_run_as_text(locust, tmp_path):
    """max_prepared_stmt_count is server-wide: users that find it full run their statements as text."""
    server = MariaDBServer(max_connections=20, extra_args=("--max-prepared-stmt-count=5",)).start()
    try:
        run, prepared = _probe(locust, tmp_path, "mysql", "--db-port", str(server.port))
        # Refusals (1461) are not failures and the answers stay right, but not every user has its four.
        assert sum(c["Com_stmt_prepare"] for c in prepared) < 4 * 4, prepared
        assert _bumps("mysql", "prepared_probe", server.port) == 2 * run.count("bump_twice")
    finally:
        server.cleanup()
