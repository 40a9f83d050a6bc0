"""MySQL server-side prepared statements: the binary protocol's statement, parameters and rows.

Why: a statement sent as text is parsed by the server every time; prepared
once (``COM_STMT_PREPARE``) and executed by id (``COM_STMT_EXECUTE``) it is
not, and its values travel as binary, which saves CPU on the server and on
the client (figures in docs/benchmarks.md, "Figures behind the design").
sysbench, Connector/J with
``useServerPrepStmts`` and the MySQL C API's ``mysql_stmt_*`` work this way.

What comes back is what PyMySQL's text cursor (with its default converters,
which dbswarm keeps) would give for the same statement: the same Python
types and values, FLOATs rounded as the server prints them
(tests/test_mysql_prepared.py compares the two on the real server for every
column type). Only the ``description`` of a column computed from a parameter
can differ: its name shows ``?`` and its length is the parameter's.
Parameters are sent as what the text would have held: numbers as numbers,
strings and bytes as strings, dates and times as the string PyMySQL would
quote. Values it does not send (tuples for ``IN %s``, non-finite numbers,
objects PyMySQL would turn into strings) leave that call to the text path,
so PyMySQL's escaping and its errors apply to them as before.
"""

from __future__ import annotations

import datetime
import math
import re
from decimal import Decimal
from struct import Struct, pack

from pymysql import converters
from pymysql.constants import COMMAND, FIELD_TYPE, FLAG
from pymysql.protocol import FieldDescriptorPacket

from .mysql_wire import lenenc, text_decoder

_PLACEHOLDER = re.compile(r"%%|%s|%\((\w+)\)s")


def placeholders(sql: str) -> tuple[str, tuple[str, ...] | int] | None:
    """``(sql with ? markers, parameter names or count)``, or None if the text cannot be prepared as it is.

    ``%s`` and ``%(name)s`` become ``?`` and ``%%`` becomes ``%``, exactly
    what PyMySQL's interpolation does with them; any other ``%`` would make
    PyMySQL fail, so such a statement stays on the text path and fails there.
    Mixing the two styles is refused the same way.
    """
    names: list[str] = []
    count = 0

    def mark(match: re.Match) -> str:
        nonlocal count
        text = match.group(0)
        if text == "%%":
            return "%"
        if text == "%s":
            count += 1
        else:
            names.append(match.group(1))
        return "?"

    if "%" in _PLACEHOLDER.sub("", sql):
        return None
    body = _PLACEHOLDER.sub(mark, sql)
    if names and count:
        return None
    return body, tuple(names) if names else count


class ServerStatement:
    """A statement prepared on one connection: its id, its parameters, the result layouts seen."""

    __slots__ = ("conn", "sql", "stmt_id", "names", "params", "head", "layouts")

    def __init__(self, conn, sql: str, stmt_id: int, names: tuple[str, ...] | int):
        self.conn = conn
        self.sql = sql  # the original text, with its %s placeholders: the fallback path runs it
        self.stmt_id = stmt_id
        positional = isinstance(names, int)
        self.names = None if positional else names  # %(name)s names in order; None for %s
        self.params = names if positional else len(names)
        self.head = bytes([COMMAND.COM_STMT_EXECUTE]) + stmt_id.to_bytes(4, "little") + b"\x00\x01\x00\x00\x00"
        self.layouts: dict[tuple[bytes, ...], tuple] = {}

    def packet(self, args, encoding: str) -> bytes | None:
        """The ``COM_STMT_EXECUTE`` payload for these arguments, or None to run them as text."""
        if not self.params:
            return self.head if args is None or args == () or args == {} else None
        names = self.names
        try:
            if names is None:
                if type(args) not in (tuple, list):
                    args = (args,)
                if len(args) != self.params:
                    return None
            else:
                args = [args[name] for name in names]
        except (KeyError, TypeError):
            return None  # PyMySQL's interpolation raises the matching error
        nulls = 0
        types = []
        values = []
        for i, value in enumerate(args):
            if value is None:
                nulls |= 1 << i
                types.append(b"\x06\x00")
                continue
            encoder = _ENCODERS.get(type(value))
            if encoder is None:
                return None
            encoded = encoder(value, encoding)
            if encoded is None:
                return None
            types.append(encoded[0])
            values.append(encoded[1])
        return b"".join((self.head, nulls.to_bytes((self.params + 7) // 8, "little"), b"\x01", *types, *values))


def _lenenc_bytes(data: bytes) -> bytes:
    n = len(data)
    if n < 0xFB:
        return bytes((n,)) + data
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little") + data
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little") + data
    return b"\xfe" + n.to_bytes(8, "little") + data


def _encode_int(value, _encoding):
    if -(1 << 63) <= value < 1 << 63:
        return b"\x08\x00", value.to_bytes(8, "little", signed=True)
    if 0 <= value < 1 << 64:
        return b"\x08\x80", value.to_bytes(8, "little")
    return b"\xf6\x00", _lenenc_bytes(str(value).encode())  # a DECIMAL literal, as the text would be


def _encode_float(value, _encoding):
    if not math.isfinite(value):
        return None  # PyMySQL refuses these with its own error
    return b"\x05\x00", pack("<d", value)


def _encode_decimal(value, _encoding):
    return (b"\xf6\x00", _lenenc_bytes(format(value, "f").encode())) if value.is_finite() else None


def _as_text(escape):
    """Dates and times go as the string PyMySQL would quote: the server reads them exactly as it reads the text."""
    return lambda value, _encoding: (b"\xfd\x00", _lenenc_bytes(escape(value)[1:-1].encode("ascii")))


_ENCODERS = {
    int: _encode_int,
    bool: lambda value, _encoding: (b"\x01\x00", b"\x01" if value else b"\x00"),
    float: _encode_float,
    str: lambda value, encoding: (b"\xfd\x00", _lenenc_bytes(value.encode(encoding))),
    bytes: lambda value, _encoding: (b"\xfc\x00", _lenenc_bytes(value)),
    bytearray: lambda value, _encoding: (b"\xfc\x00", _lenenc_bytes(bytes(value))),
    Decimal: _encode_decimal,
    datetime.datetime: _as_text(converters.escape_datetime),
    datetime.date: _as_text(converters.escape_date),
    datetime.time: _as_text(converters.escape_time),
    datetime.timedelta: _as_text(converters.escape_timedelta),
}

# How each column's value is laid out in a binary row.
_LENENC, _FIXED, _FLOAT, _DATE, _DATETIME, _TIME = range(6)
_FIXED_WIDTH = {
    FIELD_TYPE.TINY: ("b", 1),
    FIELD_TYPE.SHORT: ("h", 2),
    FIELD_TYPE.YEAR: ("h", 2),
    FIELD_TYPE.INT24: ("i", 4),
    FIELD_TYPE.LONG: ("i", 4),
    FIELD_TYPE.LONGLONG: ("q", 8),
}
_F32 = Struct("<f")
_F64 = Struct("<d")
_FLOATING = 31  # a FLOAT/DOUBLE's scale when it has no fixed number of decimals (NOT_FIXED_DEC)


def layout(conn, columns: tuple[bytes, ...]):
    """``(description, steps)`` for a binary result's column definitions."""
    fields = [FieldDescriptorPacket(data, conn.encoding) for data in columns]
    steps = []
    for field in fields:
        kind = field.type_code
        if kind in (FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE):
            # The text protocol prints a fixed number of decimals when the column has them (DOUBLE(12,4)).
            steps.append((_FLOAT, _F32 if kind == FIELD_TYPE.FLOAT else _F64, field.scale))
        elif kind in _FIXED_WIDTH:
            code, width = _FIXED_WIDTH[kind]
            if field.flags & FLAG.UNSIGNED:
                code = code.upper()
            steps.append((_FIXED, Struct("<" + code), width))
        elif kind == FIELD_TYPE.DATE:
            steps.append((_DATE, None, 0))
        elif kind in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP):
            steps.append((_DATETIME, None, field.scale))
        elif kind == FIELD_TYPE.TIME:
            steps.append((_TIME, None, 0))
        else:  # strings, blobs, DECIMAL, BIT, JSON, ENUM, SET, GEOMETRY: bytes as in the text protocol
            steps.append((_LENENC, *text_decoder(conn, field)))
    return tuple(f.description() for f in fields), tuple(steps)


def row(packet: bytes, steps) -> tuple:
    """One binary row: a 0x00 header, a NULL bitmap (offset 2), then the non-NULL values."""
    count = len(steps)
    size = (count + 9) >> 3
    nulls = int.from_bytes(packet[1:1 + size], "little") >> 2
    pos = 1 + size
    values = []
    append = values.append
    for kind, a, b in steps:
        if nulls & 1:
            nulls >>= 1
            append(None)
            continue
        nulls >>= 1
        if kind is _FIXED:
            append(a.unpack_from(packet, pos)[0])
            pos += b
        elif kind is _LENENC:
            c = packet[pos]
            if c < 0xFB:
                pos += 1
                size = c
            else:
                size, pos = lenenc(packet, pos)
            value = packet[pos:pos + size]
            pos += size
            if a is not None:
                value = value.decode(a)
            append(value if b is None else b(value))
        else:
            value, pos = _OTHER[kind](packet, pos, a, b)
            append(value)
    return tuple(values)


def _read_float(packet: bytes, pos: int, form: Struct, scale: int):
    """A FLOAT or DOUBLE as the server prints it in the text protocol.

    With fixed decimals (DOUBLE(12,4)) it is rounded to them; otherwise a
    DOUBLE prints exactly and a FLOAT to 6 significant digits (FLT_DIG).
    """
    raw = form.unpack_from(packet, pos)[0]
    if scale < _FLOATING:
        return float(f"{raw:.{scale}f}"), pos + form.size
    if form is _F64:
        return raw, pos + 8
    return float(f"{raw:.6g}"), pos + 4


def _read_date(packet: bytes, pos: int, _a, _scale):
    n = packet[pos]
    year, month, day = (packet[pos + 1] | packet[pos + 2] << 8, packet[pos + 3], packet[pos + 4]) if n else (0, 0, 0)
    try:
        return datetime.date(year, month, day), pos + 1 + n
    except ValueError:  # a zero or partial date: PyMySQL hands back the text
        return f"{year:04d}-{month:02d}-{day:02d}", pos + 1 + n


def _read_datetime(packet: bytes, pos: int, _a, scale: int):
    n = packet[pos]
    p = packet[pos + 1:pos + 1 + n] + bytes(11 - n)
    year, month, day, hour, minute, second = p[0] | p[1] << 8, p[2], p[3], p[4], p[5], p[6]
    micro = int.from_bytes(p[7:11], "little")
    try:
        return datetime.datetime(year, month, day, hour, minute, second, micro), pos + 1 + n
    except ValueError:
        text = f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
        if 0 < scale <= 6:
            text += "." + f"{micro:06d}"[:scale]
        return text, pos + 1 + n


def _read_time(packet: bytes, pos: int, _a, _scale):
    n = packet[pos]
    p = packet[pos + 1:pos + 1 + n] + bytes(12 - n)
    value = datetime.timedelta(days=int.from_bytes(p[1:5], "little"), hours=p[5], minutes=p[6], seconds=p[7],
                               microseconds=int.from_bytes(p[8:12], "little"))
    return (-value if p[0] else value), pos + 1 + n


_OTHER = {_FLOAT: _read_float, _DATE: _read_date, _DATETIME: _read_datetime, _TIME: _read_time}

