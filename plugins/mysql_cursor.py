"""dbswarm's MySQL cursor: PyMySQL's Cursor with a lean path for sending a query and reading its answer.

Why: PyMySQL is pure Python, and on the bench machine about half of a point
select's client CPU went into its generic answer reading: a packet object per
packet, a full parse of the column definitions that come with every result,
a converter lookup per value (125 -> 60-78 µs per query with the lean path; see
docs/benchmarks.md). On a load generator, client CPU per query is queries the
database never sees.

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

It uses PyMySQL's Connection internals (``_rfile``, ``_write_bytes``,
``_next_seq_id``, ``_result``, ``_force_close``), which is why
requirements.txt pins PyMySQL and the tests run against the real server.
"""

from __future__ import annotations

from struct import unpack_from

from pymysql import converters, err
from pymysql.connections import MAX_PACKET_LEN as _MAX_PACKET
from pymysql.connections import TEXT_TYPES
from pymysql.constants import CR, FIELD_TYPE, SERVER_STATUS
from pymysql.cursors import Cursor
from pymysql.protocol import FieldDescriptorPacket

_MORE_RESULTS = SERVER_STATUS.SERVER_MORE_RESULTS_EXISTS
_MAX_LAYOUTS = 256  # result layouts a cursor remembers
_NUMERIC = (int, float)  # converters that take the ASCII bytes as they are


class LeanCursor(Cursor):
    """A buffered PyMySQL cursor whose ``execute`` reads the answer itself."""

    def __init__(self, connection):
        super().__init__(connection)
        self._layouts: dict[tuple[bytes, ...], tuple] = {}  # column definitions -> (description, decoders)

    def execute(self, query, args=None):
        conn = self.connection
        pending = None if conn is None else conn._result
        if pending is not None:
            if pending.unbuffered_active or pending.has_next:
                return super().execute(query, args)
            conn._result = None
        if args is not None:
            query = self._mogrify(query, args)
        sql = None if conn is None or conn._sock is None or _is_call(query) else query.encode(conn.encoding)
        if sql is None or len(sql) >= _MAX_PACKET - 1:
            result = self._query(query)  # PyMySQL's own path (and its errors for a closed cursor or connection)
            self._executed = query
            return result
        conn._write_bytes((len(sql) + 1).to_bytes(3, "little") + b"\x00\x03" + sql)
        try:
            status = self._read_answer(conn)
        except BaseException:
            self._clear_result()
            raise
        if status & _MORE_RESULTS:
            self._discard_more(conn)
        self._executed = query
        return self.rowcount

    def _read_answer(self, conn) -> int:
        """Read the answer to the query just sent; the server status it ends with."""
        if conn._current_timeout != conn._read_timeout:
            conn._sock.settimeout(conn._read_timeout)
            conn._current_timeout = conn._read_timeout
        reader = _Reader(conn)
        try:
            first = reader.packet()
            if first[0] == 0 and len(first) >= 7:
                return self._ok(conn, first)
            if first[0] == 0xFB:
                conn._force_close()
                raise err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC, "LOAD DATA LOCAL INFILE is not enabled")
            return self._result_set(conn, reader, first)
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

    def _ok(self, conn, packet: bytes) -> int:
        affected, pos = _lenenc(packet, 1)
        insert_id, pos = _lenenc(packet, pos)
        status, warnings = unpack_from("<HH", packet, pos)
        self._set(conn, status, affected, insert_id, warnings, None, None)
        return status

    def _result_set(self, conn, reader: _Reader, first: bytes) -> int:
        count, _ = _lenenc(first, 0)
        read = reader.packet
        columns = tuple([read() for _ in range(count)])
        layout = self._layouts.get(columns)
        if layout is None:
            if len(self._layouts) >= _MAX_LAYOUTS:
                self._layouts.clear()
            layout = self._layouts[columns] = _layout(conn, columns)
        description, decoders = layout
        if read()[0] != 0xFE:
            conn._force_close()
            raise err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC, "Protocol error, expecting EOF")
        rows = []
        append = rows.append
        while True:
            packet = read()
            if packet[0] == 0xFE and len(packet) < 9:
                break
            append(_row(packet, decoders))
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


class _Reader:
    """Whole packets from the connection's buffered socket, with PyMySQL's sequence checks."""

    __slots__ = ("conn", "rfile", "seq")

    def __init__(self, conn):
        self.conn = conn
        self.rfile = conn._rfile
        self.seq = 1

    def packet(self) -> bytes:
        data = self._one()
        if len(data) == _MAX_PACKET:  # continued in the following packets
            parts = [data]
            while len(parts[-1]) == _MAX_PACKET:
                parts.append(self._one())
            data = b"".join(parts)
        elif not data:
            self._lost()  # answers never hold an empty packet
        elif data[0] == 0xFF:
            err.raise_mysql_exception(data)
        return data

    def _one(self) -> bytes:
        header = self.rfile.read(4)
        if len(header) < 4:
            self._lost()
        size = header[0] | header[1] << 8 | header[2] << 16
        if header[3] != self.seq:
            self._out_of_step(header[3])
        self.seq = (self.seq + 1) & 0xFF
        data = self.rfile.read(size)
        if len(data) < size:
            self._lost()
        return data

    def _lost(self):
        self.conn._force_close()
        raise err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query")

    def _out_of_step(self, number: int):
        self.conn._force_close()
        if number == 0:  # MariaDB sends its shutdown error with sequence number 0
            raise err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query")
        raise err.InternalError(f"Packet sequence number wrong - got {number} expected {self.seq}")


def _is_call(query: str) -> bool:
    """CALL answers with several results: PyMySQL's path keeps them for nextset()."""
    return query.lstrip()[:4].upper() == "CALL"


def _lenenc(data: bytes, pos: int) -> tuple[int | None, int]:
    """A length-encoded integer at ``pos``, and the position after it."""
    c = data[pos]
    if c < 0xFB:
        return c, pos + 1
    if c == 0xFB:
        return None, pos + 1
    width = {0xFC: 2, 0xFD: 3, 0xFE: 8}[c]
    return int.from_bytes(data[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def _layout(conn, columns: tuple[bytes, ...]):
    """``(description, decoders)`` for a result's column definitions, as PyMySQL derives them.

    A decoder is ``(encoding, converter)``; ``int`` and ``float`` take the
    ASCII bytes directly, so numbers skip the decode.
    """
    description, decoders = [], []
    use_unicode, encoding_of_conn = conn.use_unicode, conn.encoding
    for data in columns:
        field = FieldDescriptorPacket(data, encoding_of_conn)
        description.append(field.description())
        kind = field.type_code
        if not use_unicode:
            encoding = None
        elif kind == FIELD_TYPE.JSON:
            encoding = encoding_of_conn
        elif kind in TEXT_TYPES:
            encoding = None if field.charsetnr == 63 else encoding_of_conn
        else:
            encoding = "ascii"
        converter = conn.decoders.get(kind)
        if converter is converters.through:
            converter = None
        if converter in _NUMERIC and encoding == "ascii":
            encoding = None
        decoders.append((encoding, converter))
    return tuple(description), tuple(decoders)


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
            size, pos = _lenenc(packet, pos)
        value = packet[pos:pos + size]
        pos += size
        if encoding is not None:
            value = value.decode(encoding)
        if converter is not None:
            value = converter(value)
        append(value)
    return tuple(values)
