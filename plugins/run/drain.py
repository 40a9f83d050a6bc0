"""Make every worker's last report reach the master before the run ends.

When a headless run reaches its time limit Locust's master sends ``quit`` and
waits half a second for the workers' final stats; a loaded worker that is
still finishing its users' tasks misses that window and its last seconds of
requests and counters are lost. So when a test stops, the master first asks
each worker to stop its users and send its final report, and waits for the
answer (up to the stop timeout plus a margin). Only Locust's public message
API is used.
"""

from __future__ import annotations

import logging
import time

import gevent
from locust import events

from .roles import is_master, is_worker

DRAIN = "dbswarm_drain"
DRAINED = "dbswarm_drained"
MARGIN_SECONDS = 10.0
logger = logging.getLogger("dbswarm")

_waiting: set[str] = set()


def _worker_drain(environment, msg, **_kwargs):
    runner = environment.runner
    runner.stop()  # graceful: users finish the task they are in (stop_timeout)
    data: dict = {}
    environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
    runner.send_message("stats", data)
    runner.send_message(DRAINED, None)


def _master_drained(environment, msg, **_kwargs):
    _waiting.discard(msg.node_id)


@events.init.add_listener
def _on_init(environment, runner, **_kwargs):
    if is_worker(environment):
        runner.register_message(DRAIN, _worker_drain, concurrent=True)
    elif is_master(environment):
        runner.register_message(DRAINED, _master_drained)


@events.test_stopping.add_listener
def _on_test_stopping(environment, **_kwargs):
    runner = environment.runner
    if not is_master(environment):
        return
    clients = runner.clients.spawning + runner.clients.running
    if not clients:
        return
    _waiting.clear()
    _waiting.update(c.id for c in clients)
    for client in clients:
        runner.send_message(DRAIN, None, client.id)
    deadline = time.monotonic() + (environment.stop_timeout or 0) + MARGIN_SECONDS
    while _waiting and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if _waiting:
        logger.warning("%d worker(s) sent no final report in time; their last seconds may be missing", len(_waiting))
