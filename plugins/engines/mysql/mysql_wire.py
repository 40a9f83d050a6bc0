"""MySQL protocol pieces shared by the lean cursor's text and binary paths.

Whole packets read from PyMySQL's buffered socket with its sequence checks,
length-encoded integers, and how a column's bytes become the Python value
PyMySQL would give (its charset rules and converters).
"""

from __future__ import annotations

from pymysql import converters, err
from pymysql.connections import MAX_PACKET_LEN
from pymysql.connections import TEXT_TYPES
from pymysql.constants import CR, FIELD_TYPE

_NUMERIC = (int, float)  # converters that take the ASCII bytes as they are


class Reader:
    """Whole packets from the connection's buffered socket, with PyMySQL's sequence checks."""

    __slots__ = ("conn", "rfile", "seq")

    def __init__(self, conn):
        self.conn = conn
        self.rfile = conn._rfile
        self.seq = 1

    def packet(self) -> bytes:
        data = self._one()
        if len(data) == MAX_PACKET_LEN:  # continued in the following packets
            parts = [data]
            while len(parts[-1]) == MAX_PACKET_LEN:
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


def lenenc(data: bytes, pos: int) -> tuple[int | None, int]:
    """A length-encoded integer at ``pos``, and the position after it."""
    c = data[pos]
    if c < 0xFB:
        return c, pos + 1
    if c == 0xFB:
        return None, pos + 1
    width = {0xFC: 2, 0xFD: 3, 0xFE: 8}[c]
    return int.from_bytes(data[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def text_decoder(conn, field) -> tuple[str | None, object]:
    """``(encoding, converter)`` for a column sent as text, as PyMySQL derives them.

    ``int`` and ``float`` take the ASCII bytes directly, so numbers skip the
    decode; a None converter means the (decoded) bytes are the value.
    """
    kind = field.type_code
    if not conn.use_unicode:
        encoding = None
    elif kind == FIELD_TYPE.JSON:
        encoding = conn.encoding
    elif kind in TEXT_TYPES:
        encoding = None if field.charsetnr == 63 else conn.encoding
    else:
        encoding = "ascii"
    converter = conn.decoders.get(kind)
    if converter is converters.through:
        converter = None
    if converter in _NUMERIC and encoding == "ascii":
        encoding = None
    return encoding, converter
