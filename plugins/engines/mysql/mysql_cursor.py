"""dbswarm's MySQL cursor: PyMySQL's Cursor with a lean path for sending a query and reading its answer.

Why: PyMySQL is pure Python, and much of a point select's client CPU goes
into its generic answer reading: a packet object per packet, a full parse of
the column definitions that come with every result, a converter lookup per
value (figures in docs/benchmarks.md, "Figures behind the design"). On a load
generator, client CPU per query is queries the database never sees.

PyMySQL still connects, authenticates, sets up TLS and escapes parameters;
this cursor sends the COM_QUERY and reads the answer with a few bytes
operations. A result's column definitions are parsed the first time the
cursor sees them; a later result whose definitions are byte for byte the same
reuses that description and those converters. Rows, ``description``,
``rowcount``, ``lastrowid``, errors and the connection's ``server_status``
come out as PyMySQL's own cursor gives them (tests/test_mysql_cursor.py
compares the two on the real server). What the lean path does not cover goes
through PyMySQL: ``CALL`` (more than one result), statements of 16 MiB or
more, a connection with an unfinished PyMySQL result.

The cursor also prepares statements on the server (``prepare``) and
executes them in the binary protocol when ``execute`` is given the
statement instead of text (mysql_binary.py; ``--db-query-mode prepared``).

It uses PyMySQL's Connection internals (``_rfile``, ``_write_bytes``,
``_execute_command``, ``_next_seq_id``, ``_result``, ``_force_close``), which
is why requirements.txt pins PyMySQL and the tests run against the real server.
"""

from __future__ import annotations

from struct import unpack_from

from pymysql import err
from pymysql.connections import MAX_PACKET_LEN as _MAX_PACKET
from pymysql.constants import COMMAND, CR, SERVER_STATUS
from pymysql.cursors import Cursor
from pymysql.protocol import FieldDescriptorPacket

from . import mysql_binary as binary
from .mysql_binary import ServerStatement
from .mysql_wire import Reader, lenenc, text_decoder

_MORE_RESULTS = SERVER_STATUS.SERVER_MORE_RESULTS_EXISTS
# A COM_QUERY packet's header after its 3-byte length: sequence id 0, then the command byte.
_QUERY_HEADER = bytes((0, COMMAND.COM_QUERY))
_MAX_LAYOUTS = 256  # result layouts a cursor remembers


class LeanCursor(Cursor):
    """A buffered PyMySQL cursor whose ``execute`` reads the answer itself."""

    def __init__(self, connection):
        super().__init__(connection)
        self._layouts: dict[tuple[bytes, ...], tuple] = {}  # column definitions -> (description, decoders)

    def execute(self, query, args=None):
        if query.__class__ is ServerStatement:
            return self._execute_prepared(query, args)
        conn = self.connection
        pending = None if conn is None else conn._result
        if pending is not None:
            if pending.unbuffered_active or pending.has_next:
                return super().execute(query, args)
            conn._result = None
        if args is not None:
            query = self._mogrify(query, args)
        if conn is None or conn._sock is None or _is_call(query):
            sql = None
        else:  # executemany() passes its multi-row INSERT as a bytearray
            sql = query.encode(conn.encoding) if query.__class__ is str else bytes(query)
        if sql is None or len(sql) >= _MAX_PACKET - 1:
            result = self._query(query)  # PyMySQL's own path (and its errors for a closed cursor or connection)
            self._executed = query
            return result
        return self._exchange(conn, (len(sql) + 1).to_bytes(3, "little") + _QUERY_HEADER + sql, None, query)

    def prepare(self, sql: str) -> ServerStatement | None:
        """Prepare ``sql`` (``%s`` or ``%(name)s`` placeholders) on this cursor's connection.

        None if the text cannot be prepared as PyMySQL would run it (see
        mysql_binary.placeholders, or a ``?`` of its own in the text) or is a
        ``CALL``; a refusal by the server raises as a query's error would.
        """
        marked = None if _is_call(sql) else binary.placeholders(sql)
        if marked is None:
            return None
        body, names = marked
        conn = self._get_db()
        conn._execute_command(COMMAND.COM_STMT_PREPARE, body)  # PyMySQL's checks for a closed or busy connection
        stmt_id, params = self._receive(conn, self._prepare_answer, None)
        statement = ServerStatement(conn, sql, stmt_id, names)
        if params != statement.params:
            conn._execute_command(COMMAND.COM_STMT_CLOSE, stmt_id.to_bytes(4, "little"))  # no answer comes back
            return None
        return statement

    def _execute_prepared(self, statement: ServerStatement, args):
        conn = self.connection
        pending = None if conn is None else conn._result
        if pending is not None:
            if pending.unbuffered_active or pending.has_next:
                return self.execute(statement.sql, args)  # PyMySQL's path finishes that result first
            conn._result = None
        if conn is not statement.conn or conn._sock is None:
            return self.execute(statement.sql, args)
        payload = statement.packet(args, conn.encoding)
        if payload is None or len(payload) >= _MAX_PACKET:
            return self.execute(statement.sql, args)  # values only the text path writes, or a huge one
        return self._exchange(conn, len(payload).to_bytes(3, "little") + b"\x00" + payload, statement, statement.sql)

    def _exchange(self, conn, packet: bytes, statement: ServerStatement | None, executed) -> int:
        """Send one command packet and read its whole answer (binary rows for a statement); the row count."""
        conn._write_bytes(packet)
        try:
            status = self._receive(conn, self._answer, statement)
        except BaseException:
            self._clear_result()
            raise
        if status & _MORE_RESULTS:
            self._discard_more(conn)
        self._executed = executed
        return self.rowcount

    @staticmethod
    def _receive(conn, body, arg):
        """``body(conn, reader, arg)`` over a fresh packet reader, keeping the connection in step whatever happens."""
        if conn._current_timeout != conn._read_timeout:
            conn._sock.settimeout(conn._read_timeout)
            conn._current_timeout = conn._read_timeout
        reader = Reader(conn)
        try:
            return body(conn, reader, arg)
        except OSError as exc:
            conn._force_close()
            raise err.OperationalError(CR.CR_SERVER_LOST, f"Lost connection to MySQL server during query ({exc})") from None
        except err.MySQLError:
            raise  # an error packet ends the answer: the connection stays in step
        except BaseException:
            conn._force_close()  # killed or timed out mid-answer: the stream is out of step
            raise
        finally:
            conn._next_seq_id = reader.seq

    def _answer(self, conn, reader: Reader, statement: ServerStatement | None) -> int:
        first = reader.packet()
        if first[0] == 0 and len(first) >= 7:
            return self._ok(conn, first)
        if first[0] == 0xFB:
            conn._force_close()
            raise err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC, "LOAD DATA LOCAL INFILE is not enabled")
        return self._result_set(conn, reader, first, statement)

    @staticmethod
    def _prepare_answer(conn, reader: Reader, _arg) -> tuple[int, int]:
        """``(statement id, parameter count)``; the parameter and column definitions that follow are skipped."""
        ok = reader.packet()
        stmt_id, columns, params = unpack_from("<IHH", ok, 1)
        for count in (params, columns):
            for _ in range(count + 1 if count else 0):  # the definitions and their EOF
                reader.packet()
        return stmt_id, params

    def _ok(self, conn, packet: bytes) -> int:
        affected, pos = lenenc(packet, 1)
        insert_id, pos = lenenc(packet, pos)
        status, warnings = unpack_from("<HH", packet, pos)
        self._set(conn, status, affected, insert_id, warnings, None, None)
        return status

    def _result_set(self, conn, reader: Reader, first: bytes, statement: ServerStatement | None) -> int:
        count, _ = lenenc(first, 0)
        read = reader.packet
        columns = tuple([read() for _ in range(count)])
        layouts = self._layouts if statement is None else statement.layouts
        layout = layouts.get(columns)
        if layout is None:
            if len(layouts) >= _MAX_LAYOUTS:
                layouts.clear()
            layout = layouts[columns] = (_layout if statement is None else binary.layout)(conn, columns)
        description, decoders = layout
        decode = _row if statement is None else binary.row
        if read()[0] != 0xFE:
            conn._force_close()
            raise err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC, "Protocol error, expecting EOF")
        rows = []
        append = rows.append
        while True:
            packet = read()
            if packet[0] == 0xFE and len(packet) < 9:
                break
            append(decode(packet, decoders))
        warnings, status = unpack_from("<HH", packet, 1)
        self._set(conn, status, len(rows), None, warnings, description, tuple(rows))
        return status

    def _set(self, conn, status, rowcount, lastrowid, warnings, description, rows) -> None:
        conn.server_status = status
        self.rownumber = 0
        self._result = None
        self.rowcount = conn._affected_rows = rowcount
        self.lastrowid = lastrowid
        self.warning_count = warnings
        self.description = description
        self._rows = rows

    @staticmethod
    def _discard_more(conn) -> None:
        """Read, through PyMySQL, further results of a statement the server answered with several."""
        conn._read_query_result()
        while conn._result.has_next:
            conn._read_query_result()
        conn._result = None


def _is_call(query: str | bytes) -> bool:
    """CALL answers with several results: PyMySQL's path keeps them for nextset()."""
    head = query.lstrip()[:4].upper()
    return head == "CALL" or head == b"CALL"


def _layout(conn, columns: tuple[bytes, ...]):
    """``(description, decoders)`` for a result's column definitions, as PyMySQL derives them."""
    fields = [FieldDescriptorPacket(data, conn.encoding) for data in columns]
    return tuple(f.description() for f in fields), tuple(text_decoder(conn, f) for f in fields)


def _row(packet: bytes, decoders) -> tuple:
    """One text-protocol row: a length-encoded string per column, NULL as 0xFB."""
    values = []
    append = values.append
    pos = 0
    end = len(packet)
    for encoding, converter in decoders:
        if pos >= end:  # fewer values than columns: PyMySQL stops there too
            break
        c = packet[pos]
        if c < 0xFB:
            pos += 1
            size = c
        elif c == 0xFB:
            append(None)
            pos += 1
            continue
        else:
            size, pos = lenenc(packet, pos)
        value = packet[pos:pos + size]
        pos += size
        if encoding is not None:
            value = value.decode(encoding)
        if converter is not None:
            value = converter(value)
        append(value)
    return tuple(values)
