"""Statements as data.

A scenario names each statement once, marks it as a read (may go to the
reader endpoint) or a write (always the writer), and the session reports it to
Locust under that name: never the SQL text, so the stats table stays stable
whatever the parameters are.
"""

from __future__ import annotations


class Statement:
    __slots__ = ("name", "sql", "read")

    def __init__(self, name: str, sql: str, read: bool):
        self.name = name
        self.sql = sql
        self.read = read

    def __repr__(self) -> str:
        return f"<{'read' if self.read else 'write'} {self.name}>"


def read(name: str, sql: str) -> Statement:
    """A statement that may run on the reader endpoint."""
    return Statement(name, sql, read=True)


def write(name: str, sql: str) -> Statement:
    """A statement that must run on the writer."""
    return Statement(name, sql, read=False)


class Outcome(Exception):
    """An expected end of a transaction that is not a failure (e.g. sold out).

    Raised inside a transaction body: the transaction is rolled back and
    reported as a success under ``"<transaction>: <label>"``.
    """

    label = "outcome"

    def __init__(self, label: str | None = None):
        if label:
            self.label = label
        super().__init__(self.label)


def weighted(weights: dict) -> list:
    """A Locust task list from {task function: weight}, for weights set by options."""
    return [task for task, weight in weights.items() for _ in range(max(0, int(weight)))]
