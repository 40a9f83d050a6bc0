"""``-t`` counts from the start of the load, however long init took.

Locust arms its ``--run-time`` timer right after the ``init`` listeners, and
gevent measures a timer from the time its loop read at its last iteration.
The init listeners (imports, the preflight, ``--db-init``, a locustfile's own
setup) can run for a second or more without yielding, so the timer started
from a stale clock and the run was cut short by as long as init took: a 3 s
run lasted 2.4 s here, and under load a 2 s run ended before its first
request. Refreshing the loop's clock as the last init listener fixes that.

The listener is added when the command line is parsed, which is after the
locustfile's import has registered its own init listeners, so it runs after
them too.
"""

from __future__ import annotations

import gevent
from locust import events

_armed = False


def _refresh_loop_clock(**_kwargs) -> None:
    gevent.get_hub().loop.update_now()


@events.init_command_line_parser.add_listener
def _arm(**_kwargs):
    global _armed
    if not _armed:
        _armed = True
        events.init.add_listener(_refresh_loop_clock)
