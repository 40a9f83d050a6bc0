"""MySQL server-side prepared statements (binary protocol) against PyMySQL's text cursor, on the real MariaDB."""

import datetime
import random
import struct
from decimal import Decimal

import pymysql
import pytest
from test_mysql_cursor import ROWS, TABLE

from plugins.engines.mysql.mysql_binary import placeholders
from plugins.engines.mysql.mysql_cursor import LeanCursor

TYPES = """CREATE TABLE n (
    id INT PRIMARY KEY, t TINYINT, tu TINYINT UNSIGNED, s SMALLINT, su SMALLINT UNSIGNED, m MEDIUMINT,
    mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, b BIGINT, bu BIGINT UNSIGNED, z INT(6) ZEROFILL, bo BOOL,
    f FLOAT, d DOUBLE, f3 FLOAT(10, 3), dd DOUBLE(12, 4), dec0 DECIMAL(65, 0), dec30 DECIMAL(40, 30),
    y YEAR, da DATE, dt0 DATETIME, dt3 DATETIME(3), ts2 TIMESTAMP(2) NULL, tm0 TIME, tm6 TIME(6),
    e ENUM('a', 'bé'), st SET('x', 'y'), c CHAR(3), vb VARBINARY(8), tb TINYBLOB, mt MEDIUMTEXT,
    bi BIT(1), bits BIT(64), g GEOMETRY, inet INET6, u UUID)"""
EXTREMES = [
    (1, -128, 0, -32768, 0, -8388608, 0, -2**31, 0, -2**63, 0, 0, 0, -3.4e38, -1.7976931348623157e308, -9999.999,
     -99999999.9999, "-" + "9" * 65, "-9999999999.999999999999999999999999999999", 1901, "1000-01-01",
     "1000-01-01 00:00:00", "1000-01-01 00:00:00.000", "1970-01-01 00:00:01.00", "-838:59:59", "-838:59:59.000000",
     "a", "", "", b"", b"", "", 0, 0, None, "::", "00000000-0000-0000-0000-000000000000"),
    (2, 127, 255, 32767, 65535, 8388607, 16777215, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, 42, 1, 3.4e38,
     1.7976931348623157e308, 9999.999, 99999999.9999, "9" * 65, "9999999999.999999999999999999999999999999", 2155,
     "9999-12-31", "9999-12-31 23:59:59", "9999-12-31 23:59:59.999", "2038-01-19 03:14:07.99", "838:59:59",
     "838:59:59.999999", "bé", "x,y", "ü€", b"\x00\xff", b"\xff" * 255, "é" * 70000, 1, 2**64 - 1, None,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
    (3, 0, 7, -1, 1, -1, 1, -1, 1, -1, 1, 7, 0, 0.1, 0.1 + 0.2, 1.5, -0.0001, "0", "0.000000000000000000000000000001",
     2000, "2024-02-29", "2024-02-29 12:34:56", "2024-02-29 12:34:56.789", "2024-02-29 12:34:56.78", "00:00:00",
     "-00:00:00.000001", None, "y", "a", b"\x01", b"x", "", 1, 5, None, "::1", "123e4567-e89b-12d3-a456-426614174000"),
]
ECHO = [  # each parameter type a scenario may pass, alone in a SELECT
    0, -5, 2**63 - 1, -2**63, 2**63, 2**64 - 1, 2**64, -2**70, True, False, 1.5, -0.0, 1e300, 2.5e-310, "", "é'\\\"",
    "x" * 300, b"\x00\xff'", bytearray(b"ab"), Decimal("1.25"), Decimal("-1e-30"), Decimal("123456789012345678901234567890"),
    datetime.datetime(2024, 2, 29, 12, 0, 1), datetime.datetime(2024, 2, 29, 12, 0, 1, 5), datetime.date(1999, 12, 31),
    datetime.time(23, 59, 59, 999999), datetime.timedelta(days=3, seconds=5), datetime.timedelta(seconds=-1), None,
]


@pytest.fixture
def db(mysql_db):
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=mysql_db, autocommit=True,
                           ssl_disabled=True, charset="utf8mb4", cursorclass=LeanCursor)
    cur = pymysql.cursors.Cursor(conn)
    cur.execute(TABLE)
    cur.executemany("INSERT INTO t (v, n, d, ts, dt, tm, f, b, j, u, y, bits, big) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", ROWS)
    cur.execute(TYPES)
    cur.executemany(f"INSERT INTO n VALUES ({', '.join(['%s'] * len(EXTREMES[0]))})", EXTREMES)
    cur.execute("UPDATE n SET g = ST_GeomFromText('POINT(1 2)') WHERE id = 2")
    yield conn
    conn.close()


def prepared(cur, sql):
    statement = cur.prepare(sql)
    assert statement is not None and statement.sql == sql
    return statement


def answer(cur, query, args=None):
    count = cur.execute(query, args)
    return count, cur.fetchall(), cur.description, cur.rowcount, cur.lastrowid, cur.warning_count


def same(conn, sql, args=None, metadata=True):
    """The text cursor's answer and the prepared statement's (twice: the second from the remembered layout).

    ``metadata=False`` leaves out ``description``: where a column is an
    expression of a parameter, its length and type follow the parameter's
    (a literal 5 is an INT(1), a parameter a BIGINT), while the values match.
    """
    text = pymysql.cursors.Cursor(conn)
    lean = conn.cursor()
    statement = prepared(lean, sql)
    expected = answer(text, sql, args)
    assert lean.execute(statement, args) == expected[0]
    assert conn._next_seq_id and lean._executed == sql  # the binary path answered, not the text fallback
    keep = (lambda a: a) if metadata else (lambda a: a[:2] + a[3:])
    for _ in range(2):
        assert keep(answer(lean, statement, args)) == keep(expected)
    return expected


@pytest.mark.parametrize("sql, args, metadata", [
    ("SELECT * FROM n WHERE id >= %s ORDER BY id", (0,), True),  # every column type at its limits, and NULLs
    ("SELECT * FROM n WHERE id = %(id)s OR id = %(id)s + 1 ORDER BY id", {"id": 2}, True),
    ("SELECT id, v, n, d, ts, dt, tm, f, b, j, u, y, bits, big FROM t ORDER BY id", None, True),
    ("SELECT NULL, '', x'00ff', _latin1'caf\xe9', CAST('12:00:01.5' AS TIME(1)), -5, 18446744073709551615", None, True),
    ("SELECT f * 3, d / 7, f3 + dd, -f, SUM(i), AVG(bu), COUNT(*), NOW() > %s AS a, CAST(dt3 AS DATE), "
     "TIMEDIFF(dt0, %s) AS b, JSON_ARRAY(i, e) FROM n GROUP BY id ORDER BY id", ("2000-01-01", "2024-01-01 00:00:00"),
     False),
    ("SELECT REPEAT('é', 300), REPEAT('x', 70000), %s AS tail", ("tail",), True),
    ("SELECT seq, seq * 1.5 FROM seq_1_to_3000 WHERE seq > %s", (10,), True),
    ("SELECT 1 AS a, 2 AS a", None, True),
    ("SELECT id FROM t WHERE id < %s", (0,), True),  # no rows
    ("SELECT v FROM t WHERE v LIKE 'a%%' AND id = %s", (1,), True),
])
def test_answers_match_the_text_protocol(db, sql, args, metadata):
    same(db, sql, args, metadata)


def test_floats_read_as_the_server_prints_them(db):
    cur = pymysql.cursors.Cursor(db)
    cur.execute("CREATE TABLE fl (id INT PRIMARY KEY, f FLOAT, d DOUBLE)")
    rnd = random.Random(7)
    values = [rnd.uniform(-1e6, 1e6) for _ in range(200)] + [rnd.random() * 10 ** rnd.randint(-35, 35) for _ in range(200)]
    values += [struct.unpack("<f", struct.pack("<f", rnd.uniform(-1, 1)))[0] for _ in range(200)]
    cur.executemany("INSERT INTO fl VALUES (%s, %s, %s)", [(i, v, v) for i, v in enumerate(values)])
    rows = same(db, "SELECT f, d, f + d, f / 3 FROM fl WHERE id >= %s ORDER BY id", (0,))[1]
    assert len(rows) == 600


def outcome(cur, query, args):
    """Rows, or the error's type and arguments."""
    try:
        cur.execute(query, args)
    except Exception as exc:
        return type(exc), exc.args
    return cur.fetchall()


@pytest.mark.parametrize("value", ECHO, ids=repr)
@pytest.mark.parametrize("sql", ["SELECT %s IS NULL, CONCAT(%s)", "SELECT %s = CAST(%s AS CHAR)", "SELECT %s + 0, %s"])
def test_parameters_mean_what_their_text_means(db, sql, value):
    text, lean = pymysql.cursors.Cursor(db), db.cursor()
    statement = prepared(lean, sql)
    expected = outcome(text, sql, (value, value))
    assert outcome(lean, statement, (value, value)) == expected


def test_zero_and_partial_dates_come_back_as_text(db):
    cur = pymysql.cursors.Cursor(db)
    cur.execute("SET SESSION sql_mode = ''")
    cur.execute("CREATE TABLE zd (da DATE, dt DATETIME(3), ts TIMESTAMP NULL, dt0 DATETIME)")
    cur.execute("INSERT INTO zd VALUES ('0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '2024-02-00'), "
                "('2024-00-10', '2024-02-00 10:00:00.5', NULL, '0000-00-00 00:00:00')")
    rows = same(db, "SELECT * FROM zd WHERE %s ORDER BY da", (1,))[1]
    assert rows[0][0] == "0000-00-00" and rows[0][1] == "0000-00-00 00:00:00.000"


def test_changes_match_the_text_protocol(db):
    text, lean = pymysql.cursors.Cursor(db), db.cursor()
    insert = "INSERT INTO t (v, n, dt) VALUES (%s, %s, %s), (%s, 1, NULL)"
    statement = prepared(lean, insert)
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 10)
    for cur, query in ((text, insert), (lean, statement)):
        got = answer(cur, query, ("q'\\", Decimal("2.5"), when, "z"))
        assert got[0] == 2 and got[2] is None and got[3] == 2
    first_id = lean.lastrowid
    assert first_id == text.lastrowid + 2 and answer(lean, "SELECT LAST_INSERT_ID()")[1] == ((first_id,),)
    update = "UPDATE t SET v = %(v)s WHERE v = %(old)s"
    assert answer(lean, prepared(lean, update), {"v": "r", "old": "z"})[0] == 2
    rows = answer(text, "SELECT v, n, dt FROM t WHERE v = %s", ("q'\\",))[1]
    assert rows == (("q'\\", Decimal("2.500"), when),) * 2
    cast = "SELECT CAST(%s AS SIGNED)"
    assert answer(lean, prepared(lean, cast), ("12abc",))[1::4] == answer(text, cast, ("12abc",))[1::4] == (((12,),), 1)


def test_errors_match_the_text_protocol_and_leave_the_connection_usable(db):
    text, lean = pymysql.cursors.Cursor(db), db.cursor()
    for sql, args in (("INSERT INTO t (id) VALUES (%s)", (1,)), ("SELECT 1 / %s FROM t WHERE nope = %s", (0, 1))):
        with pytest.raises(pymysql.MySQLError) as theirs:
            text.execute(sql, args)
        with pytest.raises(pymysql.MySQLError) as ours:
            lean.execute(prepared(lean, sql), args)
        assert type(ours.value) is type(theirs.value) and ours.value.args == theirs.value.args
        assert answer(lean, "SELECT 7")[1] == ((7,),)
    with pytest.raises(pymysql.err.ProgrammingError) as refused:
        prepared(lean, "SELEC %s")
    assert refused.value.args[0] == 1064
    assert answer(lean, prepared(lean, "SELECT %s"), (8,))[1] == ((8,),)


def test_values_it_does_not_send_take_the_text_path(db):
    text, lean = pymysql.cursors.Cursor(db), db.cursor()
    with pytest.raises(pymysql.err.ProgrammingError):
        prepared(lean, "SELECT id FROM t WHERE id IN %s")  # the server will not prepare IN ?: the session runs it as text
    point = prepared(lean, "SELECT %s")
    for args in (((1, 2),), (float("nan"),), (1, 2), ([1],), ({"a": 1},), (object(),)):  # a tuple, NaN, too many...
        assert outcome(lean, point, args) == outcome(text, "SELECT %s", args)
    assert outcome(lean, point, (b"\x00",)) == outcome(text, "SELECT %s", (b"\x00",)) == ((b"\x00",),)
    other = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True, ssl_disabled=True,
                            cursorclass=LeanCursor)
    assert answer(other.cursor(), point, (9,))[1] == ((9,),)  # another connection runs it as text
    other.close()


def test_transaction_status_follows_the_server(db):
    lean = db.cursor()
    lock = prepared(lean, "SELECT v FROM t WHERE id = %s FOR UPDATE")
    lean.execute("BEGIN")
    lean.execute(lock, (1,))
    assert db.server_status & 1 and lean.fetchall() == (("a",),)
    lean.execute("ROLLBACK")
    assert not db.server_status & 1


def test_a_row_over_16_mib_is_read_whole(db):
    got = same(db, "SELECT REPEAT('x', 16777210), %s AS tail", ("tail",))
    assert len(got[1][0][0]) == 16777210 and got[1][0][1] == "tail"


@pytest.mark.parametrize("sql, expected", [
    ("SELECT 1", ("SELECT 1", 0)),
    ("SELECT %s, %s", ("SELECT ?, ?", 2)),
    ("SELECT %(a)s, %(b)s, %(a)s", ("SELECT ?, ?, ?", ("a", "b", "a"))),
    ("SELECT v FROM t WHERE v LIKE 'a%%' AND id = %s", ("SELECT v FROM t WHERE v LIKE 'a%' AND id = ?", 1)),
    ("SELECT %d", None),  # PyMySQL would fail on it: left to the text path
    ("SELECT %s, %(a)s", None),
    ("SELECT 'a%'", None),
])
def test_placeholders(sql, expected):
    assert placeholders(sql) == expected


def test_a_marker_of_its_own_in_the_text_is_not_prepared(db):
    lean = db.cursor()
    assert lean.prepare("SELECT %s, '?' AS q").params == 1  # a ? inside a string is text
    assert lean.prepare("SELECT %s = ?") is None  # two markers for one argument: closed again, runs as text
    assert lean.prepare("SELECT 'a%'") is None  # PyMySQL would not run it as it is either
    lean.execute("SHOW SESSION STATUS LIKE 'Com_stmt_close'")
    assert lean.fetchall() == (("Com_stmt_close", "1"),)
