"""Ctrl-C (SIGINT) stops the run where Locust expects it: in the main greenlet.

Python raises KeyboardInterrupt in whatever code runs when the signal
arrives. Locust catches it around its main greenlet's join (to write --html
and shut down). When a user greenlet is running instead, say decoding a
MySQL answer, the interrupt kills that user mid-operation and gevent prints
its traceback ("failed with KeyboardInterrupt") before passing it on to the
main greenlet. On a busy generator that is a coin toss at every Ctrl-C.
Here the signal is taken by gevent's loop and thrown into the main greenlet,
so Locust's shutdown is the same and no user is interrupted mid-query.
"""

from __future__ import annotations

import signal

import gevent
from locust import events

_installed = False


def _interrupt_main() -> None:
    main = gevent.get_hub().parent  # the greenlet that started the hub: Locust's main
    if main is not None and not main.dead:
        main.throw(KeyboardInterrupt)


@events.init.add_listener
def _on_init(**_kwargs):
    global _installed
    if not _installed:
        _installed = True
        gevent.signal_handler(signal.SIGINT, _interrupt_main)
