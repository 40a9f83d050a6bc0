"""Server-side prepared statements (``--db-query-mode prepared``, the default).

Why: a statement sent as text is parsed (and on PostgreSQL planned) by the
server every time, a large share of its CPU for a short query (figures in
docs/benchmarks.md, "Figures behind the design"). PgJDBC, psycopg 3 and Connector/J
(``useServerPrepStmts``) prepare the statements a connection runs
repeatedly; dbswarm does the same: the second time a connection runs a
statement it prepares it once, and executes it by name from then on.
Statements run once are never prepared.

- PostgreSQL: psycopg2 has no protocol-level prepare, so this is SQL-level
  ``PREPARE``/``EXECUTE name(...)``: parameters are still interpolated by
  psycopg2 as literals, and the server infers their types from the statement.
- MySQL: the binary protocol (``COM_STMT_PREPARE``/``COM_STMT_EXECUTE``,
  mysql_binary.py), which PyMySQL lacks: the lean cursor sends it.

A statement the server refuses to prepare (a type it cannot infer, ``IN %s``
with a tuple) is run as text from then on. ``--db-query-mode simple`` turns
it off, e.g. behind PgBouncer in transaction mode or RDS Proxy, where a
session's prepared statements do not follow it (RDS Proxy pins the session).
"""

from __future__ import annotations

import itertools
import re

from .workload import Statement

PREPARE_AFTER = 2  # uses on one connection before a statement is prepared there
MAX_PER_CONNECTION = 256  # a scenario that builds statements on the fly stops preparing here

_PLACEHOLDER = re.compile(r"%%|%s|%\((\w+)\)s")
_names = itertools.count(1)
_forms: dict[Statement, tuple[str, str] | None] = {}  # statement -> (PREPARE sql, EXECUTE sql), or None
_refused: set[Statement] = set()  # statements the server would not prepare: run as text from then on


def form(stmt: Statement) -> tuple[str, str] | None:
    """``(PREPARE ..., EXECUTE ...)`` for a statement, or None if it cannot be prepared.

    ``%s`` placeholders become ``$1, $2, ...`` in the PREPARE and the EXECUTE
    carries the same placeholders as its arguments, so the parameters the
    scenario passes are unchanged (a tuple, or a dict for ``%(name)s``).
    """
    if stmt in _forms:
        return _forms[stmt]
    sql = stmt.sql
    if "$" in sql or not sql.strip():  # native $n placeholders or dollar quoting: leave it as it is
        _forms[stmt] = None
        return None
    args: list[str] = []
    numbers: dict[str, int] = {}

    def number(match: re.Match) -> str:
        text = match.group(0)
        if text == "%%":
            return "%"
        if text == "%s":
            args.append("%s")
            return f"${len(args)}"
        key = match.group(1)
        if key not in numbers:
            args.append(text)
            numbers[key] = len(args)
        return f"${numbers[key]}"

    body = _PLACEHOLDER.sub(number, sql)
    name = f"dbswarm_{next(_names)}"
    execute = f"EXECUTE {name}({', '.join(args)})" if args else f"EXECUTE {name}"
    _forms[stmt] = result = (f"PREPARE {name} AS {body}", execute)
    return result


class Prepared:
    """The statements prepared on one connection; forgotten with the connection.

    ``prepare(cursor, stmt, params, in_transaction, errors, classify)`` is the
    engine's way to prepare a statement: what to pass to ``cursor.execute``
    from then on, or None if this statement cannot be prepared.
    """

    __slots__ = ("ready", "uses", "_prepare")

    def __init__(self, prepare):
        self.ready: dict[Statement, object] = {}  # statement -> what execute takes instead: the hot path's one lookup
        self.uses: dict[Statement, int] = {}
        self._prepare = prepare

    def sql(self, cursor, stmt: Statement, params, in_transaction: bool, errors: tuple, classify):
        """What to send for a statement not prepared yet: prepare it now if it is due.

        A statement the server refuses is run as text from then on; a broken
        connection is raised as is.
        """
        uses = self.uses.get(stmt, 0) + 1
        self.uses[stmt] = uses
        if uses < PREPARE_AFTER or stmt in _refused or len(self.ready) >= MAX_PER_CONNECTION:
            return stmt.sql
        if params is None and "%" in stmt.sql:
            # Run without parameters, both drivers send the text as it is: its '%s'
            # and '%%' are literal text, not placeholders and escapes to convert.
            _refused.add(stmt)
            return stmt.sql
        try:
            ready = self._prepare(cursor, stmt, params, in_transaction, errors, classify)
        except errors as exc:
            if classify(exc).reconnect:
                raise
            ready = None
        if ready is None:
            _refused.add(stmt)
            return stmt.sql
        self.ready[stmt] = ready
        return ready


def prepare_postgres(cursor, stmt: Statement, params, in_transaction: bool, errors: tuple, classify) -> str | None:
    """SQL-level ``PREPARE``; the ``EXECUTE name(...)`` to send from then on.

    Inside a transaction the PREPARE runs under a savepoint, so a refusal
    does not abort the transaction.
    """
    pair = form(stmt)
    if pair is None:
        return None
    prepare, execute = pair
    if not in_transaction:
        cursor.execute(prepare)
        return execute
    cursor.execute("SAVEPOINT dbswarm_prepare")  # separate round trips: a failing multi-statement query takes its savepoint along
    try:
        cursor.execute(prepare)
    except errors as exc:
        if not classify(exc).reconnect:
            cursor.execute("ROLLBACK TO SAVEPOINT dbswarm_prepare")
        raise
    cursor.execute("RELEASE SAVEPOINT dbswarm_prepare")
    return execute


def prepare_mysql(cursor, stmt: Statement, _params, _in_transaction: bool, _errors: tuple, _classify):
    """``COM_STMT_PREPARE`` on the connection; the statement handle the lean cursor executes in binary.

    A refusal does not end a MySQL transaction, so no savepoint is needed.
    """
    return cursor.prepare(stmt.sql)
