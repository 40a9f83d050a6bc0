"""The deadline of one database operation (--db-query-timeout), kept for the life of a connection.

A user runs thousands of operations a second, so the deadline is one timer
restarted around each of them rather than an object per statement. gevent's
``Timeout`` cannot be reused that way on its default libev loop: ``cancel()``
then ``start()`` resumes the time that was left instead of starting afresh
(gevent issue #1890, reproduced with gevent 26.9). A reused ``Timeout``
therefore fires once the operations on a connection have taken the timeout *in
all*, on an operation that has just begun: each busy user reported a false
``query-timeout`` and dropped its connection for every ``--db-query-timeout``
seconds it spent in queries (tests/test_deadline.py shows both).

A repeating libev timer restarted with ``again()`` is set from now every time.
It stays armed after it fires, so every ``start()`` is paired with a
``cancel()`` in a ``finally``. Its priority is below the sockets', so an answer
that arrives in the same loop turn as the expiry wins.
"""

from __future__ import annotations

from gevent import get_hub, getcurrent


class Deadline(BaseException):
    """Thrown into the greenlet whose operation overran; a BaseException, as gevent's Timeout, so that
    ``except Exception`` in a driver or a scenario cannot swallow it."""

    def __init__(self, seconds: float | None):
        super().__init__(seconds)
        self.seconds = seconds or None  # 0 or None: no deadline, start() and cancel() do nothing
        self._timer = get_hub().loop.timer(seconds, seconds, priority=-1) if self.seconds else None

    def start(self) -> None:
        """Arm for ``seconds`` from now, to throw into the calling greenlet."""
        timer = self._timer
        if timer is not None:
            timer.again(getcurrent().throw, self, update=True)

    def cancel(self) -> None:
        """Disarm (the operation ended, or the deadline fired and was handled)."""
        timer = self._timer
        if timer is not None:
            timer.stop()

    def close(self) -> None:
        """Free the timer; the deadline can no longer be started."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.close()

    def __str__(self) -> str:
        return f"no answer within {self.seconds:g}s" if self.seconds else "no deadline"
