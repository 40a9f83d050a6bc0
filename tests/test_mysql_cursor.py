"""dbswarm's lean MySQL cursor against PyMySQL's own, on the real MariaDB: same answers, same errors."""

import threading

import pymysql
import pytest
from conftest import mysql_conn

from plugins.engines.mysql.mysql_cursor import LeanCursor

QUERIES = [
    "SELECT 1",
    "SELECT id, v FROM t ORDER BY id",
    "SELECT id FROM t WHERE id < 0",  # no rows
    "SELECT id, v, n, d, ts, dt, tm, f, b, j, u, y, bits, big FROM t ORDER BY id",  # every type, NULLs in row 3
    "SELECT 1 AS a, 2 AS a",  # duplicate names
    "SELECT NULL, '', x'00ff', _latin1'caf\xe9', CAST('12:00:01.5' AS TIME(1)), -5, 18446744073709551615",
    "SELECT CAST(1.5 AS DOUBLE), CAST('1e300' AS DOUBLE), CAST(2.50 AS DECIMAL(5,2)), JSON_OBJECT('k', 'é')",
    "SELECT REPEAT('é', 300), REPEAT('x', 70000)",  # 2- and 3-byte length prefixes
    "SELECT seq FROM seq_1_to_3000",  # many rows
    "SHOW VARIABLES LIKE 'version%'",
]
TABLE = """CREATE TABLE t (
    id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40), n DECIMAL(10, 3), d DATE, ts TIMESTAMP NULL, dt DATETIME(6),
    tm TIME, f FLOAT, b BLOB, j JSON, u BIGINT UNSIGNED, y YEAR, bits BIT(12), big TEXT)"""
ROWS = [
    ("a", "1.250", "2024-02-29", "2024-03-01 10:00:00", "2024-03-01 10:00:00.123456", "-838:59:59", 1.5, b"\x00\x01",
     '{"x": [1, 2]}', 2**64 - 1, 2024, 5, "ü" * 1000),
    ("b", "-3.000", "1000-01-01", None, "9999-12-31 23:59:59.999999", "00:00:00", -0.25, b"", "null", 0, 1901, 0, ""),
    (None,) * 13,
]


@pytest.fixture
def db(mysql_db):
    conn = mysql_conn(mysql_db)
    cur = conn.cursor()
    cur.execute(TABLE)
    cur.executemany("INSERT INTO t (v, n, d, ts, dt, tm, f, b, j, u, y, bits, big) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", ROWS)
    yield conn
    conn.close()


def answer(cur, query, args=None):
    count = cur.execute(query, args)
    return count, cur.fetchall(), cur.description, cur.rowcount, cur.lastrowid, cur.warning_count


@pytest.mark.parametrize("query", QUERIES)
def test_answers_match_pymysql(db, query):
    lean, plain = db.cursor(LeanCursor), db.cursor()
    expected = answer(plain, query)
    assert answer(lean, query) == expected
    assert answer(lean, query) == expected  # the second time from the remembered column layout


def test_changes_parameters_and_warnings_match_pymysql(db):
    lean, plain = db.cursor(LeanCursor), db.cursor()
    for runs, cur in enumerate((plain, lean), 1):
        got = answer(cur, "INSERT INTO t (v, n) VALUES (%s, %s), (%s, 1)", ("q'\\", "2", "z"))
        assert got[0] == 2 and got[2] is None and got[4] == 3 + 2 * runs - 1  # the first id of a multi-row INSERT
        assert answer(cur, "UPDATE t SET v = %(v)s WHERE v = %(old)s", {"v": "r", "old": "z"})[0] == 1
        assert answer(cur, "SELECT v FROM t WHERE v = %s", ("q'\\",))[1] == (("q'\\",),) * runs
    # executemany's multi-row INSERT (sent as bytes) and its row count.
    rows = [("m1", "1"), ("m2", None)]
    assert plain.executemany("INSERT INTO t (v, n) VALUES (%s, %s)", rows) == 2
    assert lean.executemany("INSERT INTO t (v, n) VALUES (%s, %s)", rows) == 2 and lean.rowcount == 2
    assert answer(lean, "SELECT count(*) FROM t WHERE v IN ('m1', 'm2')")[1] == ((4,),)
    # A truncation warning counts the same way.
    assert answer(lean, "SELECT CAST('12abc' AS SIGNED)") == answer(plain, "SELECT CAST('12abc' AS SIGNED)")
    assert lean.warning_count == 1


def test_errors_match_pymysql_and_leave_the_connection_usable(db):
    lean, plain = db.cursor(LeanCursor), db.cursor()
    for query in ("SELECT nope FROM t", "INSERT INTO t (id) VALUES (1)", "SELEC 1", "SELECT * FROM missing"):
        with pytest.raises(pymysql.MySQLError) as theirs:
            plain.execute(query)
        with pytest.raises(pymysql.MySQLError) as ours:
            lean.execute(query)
        assert type(ours.value) is type(theirs.value) and ours.value.args == theirs.value.args
        assert lean.description is None and lean.rowcount == plain.rowcount == 0
        assert answer(lean, "SELECT 7")[1] == ((7,),)


def test_transaction_status_follows_the_server(db):
    lean = db.cursor(LeanCursor)
    lean.execute("BEGIN")
    assert db.server_status & 1  # SERVER_STATUS_IN_TRANS
    lean.execute("SELECT v FROM t WHERE id = 1 FOR UPDATE")
    assert db.server_status & 1
    lean.execute("ROLLBACK")
    assert not db.server_status & 1


def test_call_with_several_results_goes_through_pymysql(db):
    lean = db.cursor(LeanCursor)
    lean.execute("CREATE PROCEDURE two() BEGIN SELECT 1; SELECT 2, 3; END")
    lean.execute("CALL two()")
    assert lean.fetchall() == ((1,),)
    assert lean.nextset() and lean.fetchall() == ((2, 3),)
    lean.execute("SELECT 4")  # the rest of the CALL's answer is drained first
    assert lean.fetchall() == ((4,),)


def test_a_packet_over_16_mib_is_read_whole(db):
    lean, plain = db.cursor(LeanCursor), db.cursor()
    query = "SELECT REPEAT('x', 16777210), 'tail'"  # the row packet is longer than one 16 MiB packet
    got = answer(lean, query)
    assert got == answer(plain, query)
    assert len(got[1][0][0]) == 16777210 and got[1][0][1] == "tail"


@pytest.mark.parametrize("protocol", ["text", "binary"])
def test_a_killed_connection_is_lost_not_out_of_step(db, mysql_db, protocol):
    victim = mysql_conn(mysql_db)
    lean = victim.cursor(LeanCursor)
    sleep = "SELECT SLEEP(%s)" if protocol == "text" else lean.prepare("SELECT SLEEP(%s)")
    lean.execute("SELECT CONNECTION_ID()")
    (victim_id,), = lean.fetchall()

    def kill():
        with mysql_conn() as killer:
            killer.cursor().execute(f"KILL {int(victim_id)}")

    timer = threading.Timer(0.3, kill)
    timer.start()
    with pytest.raises(pymysql.err.OperationalError) as lost:
        lean.execute(sleep, (5,))
    timer.join()
    assert lost.value.args[0] in (2013, 1927), lost.value.args  # lost, or MariaDB's "Connection was killed"
    with pytest.raises(pymysql.MySQLError):
        lean.execute(sleep, (0,))  # the connection is closed, never reused mid-answer
    victim.close()


def test_an_interrupted_read_closes_the_connection(db, mysql_db):
    """A timeout (or a killed greenlet) mid-answer must not leave the rest of the answer for the next query."""
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=mysql_db, ssl_disabled=True,
                           autocommit=True, read_timeout=0.3)
    lean = conn.cursor(LeanCursor)
    with pytest.raises(pymysql.err.OperationalError) as lost:
        lean.execute("SELECT SLEEP(2)")
    assert lost.value.args[0] == 2013
    assert not conn.open
