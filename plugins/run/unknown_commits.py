"""Commits of unknown outcome, looked up after reconnecting so a scenario's accounting stays exact.

A COMMIT whose answer never came (the deadline expired, the connection broke
with COMMIT on the wire) may or may not have committed. The session reports it
as ``commit-unknown`` and never counts it; the scenario hands the key of the
change (an order's id) to ``UnknownCommits``, which looks it up on the writer
once the user has a connection again: found means it committed. Then

    counted + found committed == rows in the database

holds whatever the network did, and the outcome block says so. A lookup that
fails (the database is still gone) is tried again on the user's next call and
when it stops.
"""

from __future__ import annotations

from . import counters
from ..workload import Statement

SEEN = "commits of unknown outcome"
FOUND = "commits of unknown outcome: committed"
NOT_FOUND = "commits of unknown outcome: not committed"


class UnknownCommits:
    """One user's commits of unknown outcome not looked up yet."""

    __slots__ = ("session", "lookup", "pending")

    def __init__(self, session, lookup: Statement):
        self.session = session
        self.lookup = lookup  # a writer statement returning a row when the key committed
        self.pending: list = []

    def note(self) -> bool:
        """After a failed transaction: whether its COMMIT went unanswered (then it is recorded and looked up)."""
        key = self.session.unknown_commit
        if key is None:
            return False
        counters.incr(SEEN)
        self.pending.append(key)
        self.resolve()
        return True

    def resolve(self) -> None:
        """Look up what is pending; stop at the first lookup that fails (retried later)."""
        pending = self.pending
        while pending:
            rows = self.session.run(self.lookup, (pending[-1],))
            if rows is None:
                return
            pending.pop()
            counters.incr(FOUND if rows else NOT_FOUND)


def report_lines(counted: int, rows: int, what: str = "orders") -> list[str]:
    """The outcome block's accounting: counted + found committed against the rows in the database."""
    seen, found, not_found = counters.total(SEEN), counters.total(FOUND), counters.total(NOT_FOUND)
    unresolved = seen - found - not_found
    lines = [f"  commits of unknown outcome: {seen} ({found} found committed, {not_found} not committed"
             + (f", {unresolved} not looked up)" if unresolved else ")")]
    if unresolved:
        verdict = f"cannot be exact: {unresolved} commits of unknown outcome not looked up"
    elif counted + found == rows:
        verdict = "exact"
    else:
        verdict = f"MISMATCH by {rows - counted - found}"
    lines.append(f"  accounting:                 {counted} {what} counted + {found} found = {counted + found}, "
                 f"{rows} rows: {verdict}")
    return lines
