"""The measurement window every bench generator shares.

The harness picks two wall-clock instants (after start-up and warm-up) and
passes them in the environment; each generator process keeps the latency of
every query it completes and, at the second instant, writes the ones that
ended inside the window to ``BENCH_OUT/<pid>.json``. The harness samples the
generator's and the server's CPU at the same instants, so queries, latencies
and CPU all cover the same seconds, whatever the start-up cost of a tool.
"""

from __future__ import annotations

import json
import os
import time

import gevent


class Window:
    def __init__(self, t0: float, t1: float, out_dir: str):
        self.t0, self.t1, self.out_dir = t0, t1, out_dir
        self.latencies_ms: list[float] = []
        self.record = self.latencies_ms.append  # the hot path: one list append per query
        self._i0 = None
        self.late = False

    @classmethod
    def from_env(cls) -> Window | None:
        out = os.environ.get("BENCH_OUT")
        if not out:
            return None
        return cls(float(os.environ["BENCH_T0"]), float(os.environ["BENCH_T1"]), out)

    def start(self) -> None:
        now = time.time()
        self.late = now > self.t0  # started after the window opened: the harness flags the run
        gevent.spawn_later(max(0.0, self.t0 - now), self._open)
        gevent.spawn_later(max(0.0, self.t1 - now), self._close)

    def _open(self) -> None:
        self._i0 = len(self.latencies_ms)

    def _close(self) -> None:
        i1 = len(self.latencies_ms)
        window = self.latencies_ms[self._i0 or 0:i1]
        result = {"pid": os.getpid(), "count": len(window), "late": self.late,
                  "latencies_us": [round(ms * 1000.0, 1) for ms in window]}
        path = os.path.join(self.out_dir, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(result, f)
        os.replace(path + ".tmp", path)


def locust_listener() -> None:
    """In a locustfile: record every request's response_time inside the window (all processes)."""
    from locust import events

    window = Window.from_env()
    if window is None:
        return
    record = window.record

    @events.init.add_listener
    def _on_init(environment, **_kwargs):
        from locust.runners import MasterRunner

        if not isinstance(environment.runner, MasterRunner):
            window.start()

    @events.request.add_listener
    def _on_request(response_time, **_kwargs):
        record(response_time)
