"""The PostgreSQL transactions workload: stable names, reads on the reader, writes on the writer."""

import pytest

from conftest import pg_conn, why
from servers import PostgresServer


def _table_stats(db, port=5432):
    conn = pg_conn(db, port=port)
    cur = conn.cursor()
    cur.execute("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'transactions'")
    inserted = cur.fetchone()[0]
    cur.execute("SELECT COALESCE(SUM(idx_scan), 0) FROM pg_stat_user_indexes WHERE relname = 'transactions'"
                " AND indexrelname IN ('transactions_type_recent', 'transactions_by_date')")
    scans = int(cur.fetchone()[0])
    cur.execute("SELECT count(*) FROM transactions")
    rows = cur.fetchone()[0]
    conn.close()
    return inserted, scans, rows


@pytest.fixture
def reader_server():
    server = PostgresServer().start()
    yield server
    server.cleanup()


def test_reads_go_to_the_reader_writes_to_the_writer(locust, pg_db, reader_server, tmp_path):
    seed = ("--tx-seed-rows", "2000")
    # The "replica": same schema and history, prepared through dbswarm itself.
    prep = locust("-f", "locustfiles/transactions.py", "--headless", "-u", "1", "-t", "1s",
                  "--db-port", str(reader_server.port), "--db-name", pg_db, "--db-init", *seed,
                  "--tx-insert-weight", "0")
    assert prep.returncode == 0, why(prep.output)
    before_reader = _table_stats(pg_db, reader_server.port)

    run = locust("-f", "locustfiles/transactions.py", "--headless", "-u", "10", "-r", "10", "-t", "6s",
                 "--db-name", pg_db, "--db-init", *seed,
                 "--db-reader-host", "127.0.0.1", "--db-reader-port", str(reader_server.port))
    assert run.returncode == 0, why(run.output)
    assert run.failures() == 0
    names = {e["name"] for e in run.stats}
    assert {"insert_transaction", "recent_by_type", "by_date_range", "totals_by_type",
            "connect", "connect (reader)"} <= names
    inserts = run.count("insert_transaction")
    reads = run.count("recent_by_type") + run.count("by_date_range") + run.count("totals_by_type")
    assert inserts > 0 and reads > 0

    w_inserted, w_scans, w_rows = _table_stats(pg_db)
    r_inserted, r_scans, r_rows = _table_stats(pg_db, reader_server.port)
    # Writer: the seed plus exactly the run's inserts, and no reads by index.
    assert w_rows == 2000 + inserts
    assert w_scans == 0
    # Reader: no insert reached it; the reads did.
    assert r_rows == before_reader[2] == 2000
    assert r_inserted == before_reader[0]
    assert r_scans - before_reader[1] >= reads * 0.9


def test_processes_run(locust, pg_db):
    run = locust("-f", "locustfiles/transactions.py", "--headless", "-u", "20", "-r", "20", "-t", "15s",
                 "--processes", "2", "--db-name", pg_db, "--db-init", "--tx-seed-rows", "5000", timeout=90)
    assert run.returncode == 0, why(run.output)
    assert run.requests() > 0
    assert run.failures() == 0
    assert run.count("insert_transaction") > 0


def test_weights_are_options(locust, pg_db):
    run = locust("-f", "locustfiles/transactions.py", "--headless", "-u", "4", "-r", "4", "-t", "3s",
                 "--db-name", pg_db, "--db-init", "--tx-seed-rows", "100",
                 "--tx-insert-weight", "0", "--tx-range-weight", "0", "--tx-aggregate-weight", "0")
    assert run.returncode == 0, why(run.output)
    assert run.count("recent_by_type") > 0
    assert run.count("insert_transaction") == run.count("by_date_range") == run.count("totals_by_type") == 0
