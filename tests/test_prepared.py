"""PostgreSQL's prepared query mode on the real server: what gets prepared, and that answers stay right."""

import glob
import json

from conftest import pg_conn

PROBE = ("-f", "tests/locustfiles/prepared_probe.py", "--headless", "-u", "4", "-r", "4", "-t", "4s", "--db-init")


def _prepared(tmp_path):
    lists = [json.load(open(p)) for p in glob.glob(str(tmp_path / "out" / "*.json"))]
    assert len(lists) == 4, lists  # one per user
    return lists


def _bumps(database):
    conn = pg_conn(database)
    cur = conn.cursor()
    cur.execute("SELECT sum(n) FROM p")
    total = cur.fetchone()[0]
    conn.close()
    return total


def test_repeated_statements_are_prepared_and_answers_stay_right(locust, pg_db, tmp_path):
    (tmp_path / "out").mkdir()
    run = locust(*PROBE, "--db-name", pg_db, env={"PREPARED_PROBE_OUT": str(tmp_path / "out")})
    assert run.returncode == 0, run.output[-3000:]
    assert run.failures() == 0, run.output[-3000:]
    assert run.count("point") > 20 and run.count("bump_twice") > 20
    for statements in _prepared(tmp_path):
        text = " | ".join(statements)
        # Positional, named (one parameter used twice) and %% placeholders, and the UPDATE inside a transaction.
        assert "WHERE id = $1" in text and "id IN ($1, $1 + 1)" in text and "LIKE 'v%' AND id = $1" in text, text
        assert "UPDATE p SET n = n + 1 WHERE id = $1" in text, text
        # Refused by the server (a tuple parameter), run once, or run without parameters: all stay text.
        assert "IN $1" not in text and "count(*)" not in text and " and %" not in text, text
        assert len(statements) == 4, statements
    # Every committed bump_twice added 2; refusing IN_TUPLE inside the transaction did not abort it.
    assert _bumps(pg_db) == 2 * run.count("bump_twice")


def test_simple_mode_prepares_nothing(locust, pg_db, tmp_path):
    (tmp_path / "out").mkdir()
    run = locust(*PROBE, "--db-name", pg_db, "--db-query-mode", "simple",
                 env={"PREPARED_PROBE_OUT": str(tmp_path / "out")})
    assert run.returncode == 0, run.output[-3000:]
    assert run.failures() == 0, run.output[-3000:]
    assert all(statements == [] for statements in _prepared(tmp_path))
    assert _bumps(pg_db) == 2 * run.count("bump_twice")
