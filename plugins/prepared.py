"""Server-side prepared statements on PostgreSQL (``--db-query-mode prepared``, the default there).

Why: a point select sent as text makes PostgreSQL parse and plan it every
time; on the bench machine that was about half of the server's CPU per query
(92 -> 51 µs at 8 connections) and, with the database on the same box, the
queries/s rose 30-55 % once statements were prepared. PgJDBC and psycopg 3
prepare the statements a connection runs repeatedly; dbswarm does the same:
the second time a connection runs a statement it sends ``PREPARE`` once, and
``EXECUTE name(...)`` from then on. Statements run once are never prepared.

psycopg2 has no protocol-level prepare, so this is SQL-level ``PREPARE``:
parameters are still interpolated by psycopg2 as literals, and the server
infers their types from the statement. A statement the server refuses to
prepare (a type it cannot infer, ``IN %s`` with a tuple) is run as text from
then on. ``--db-query-mode simple`` turns it off, e.g. behind PgBouncer in
transaction mode, where a session's prepared statements do not follow it.
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
    """The statements prepared on one connection; forgotten with the connection."""

    __slots__ = ("ready", "uses")

    def __init__(self):
        self.ready: dict[Statement, str] = {}  # statement -> its EXECUTE sql: the hot path's one lookup
        self.uses: dict[Statement, int] = {}

    def sql(self, cursor, stmt: Statement, params, in_transaction: bool, errors: tuple, classify) -> str:
        """The SQL to send for a statement not prepared yet: prepare it now if it is due.

        Inside a transaction the PREPARE runs under a savepoint, so a refusal
        does not abort the transaction. A broken connection is raised as is.
        """
        uses = self.uses.get(stmt, 0) + 1
        self.uses[stmt] = uses
        if uses < PREPARE_AFTER or stmt in _refused or len(self.ready) >= MAX_PER_CONNECTION:
            return stmt.sql
        pair = form(stmt)
        if pair is None:
            return stmt.sql
        prepare, execute = pair
        if params is None and "%" in stmt.sql:
            # Run without parameters, psycopg2 sends the text as it is: its '%s' and
            # '%%' are literal text, not placeholders and escapes to convert.
            _refused.add(stmt)
            return stmt.sql
        try:
            if in_transaction:  # separate round trips: a failing multi-statement query takes its savepoint along
                cursor.execute("SAVEPOINT dbswarm_prepare")
                cursor.execute(prepare)
                cursor.execute("RELEASE SAVEPOINT dbswarm_prepare")
            else:
                cursor.execute(prepare)
        except errors as exc:
            if classify(exc).reconnect:
                raise
            if in_transaction:
                cursor.execute("ROLLBACK TO SAVEPOINT dbswarm_prepare")
            _refused.add(stmt)
            return stmt.sql
        self.ready[stmt] = execute
        return execute
