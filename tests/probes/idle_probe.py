"""An idle connection on a host that went dark: does the kernel drop it by itself?

Run as a script (its own process: dbswarm's drivers import Locust):
    python tests/probes/idle_probe.py mysql|postgres PORT IDLE_SECONDS
Connects through dbswarm's driver, prints the socket's keepalive settings as
JSON, waits for a line on stdin (the test blackholes the port meanwhile),
stays idle IDLE_SECONDS, then runs SELECT 1 and prints JSON: how long it took
and how it failed. A dropped connection fails at once; one the kernel kept
would wait for the query deadline.
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gevent import monkey  # noqa: E402

monkey.patch_all()

import gevent  # noqa: E402

from plugins.engines import dead_peer  # noqa: E402
from plugins.config import DbConfig  # noqa: E402
from plugins.engines.drivers import driver_for  # noqa: E402

engine, port, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
cfg = DbConfig(engine=engine, port=port, user="root" if engine == "mysql" else "postgres",
               database="mysql" if engine == "mysql" else "postgres", connect_timeout=3)
driver = driver_for(engine)
conn = driver.connect(cfg)
sock = conn._sock if engine == "mysql" else socket.socket(fileno=os.dup(conn.fileno()))
print(json.dumps(dead_peer.settings(sock)), flush=True)
sys.stdin.readline()
gevent.sleep(idle)
cur = conn.cursor()
start = time.monotonic()
try:
    with gevent.Timeout(5):   # the query deadline a user would have; the kernel should beat it
        cur.execute("SELECT 1")
    outcome = "answered"
except gevent.Timeout:
    outcome = "no answer within 5s"
except driver.errors as exc:
    outcome = driver.classify(exc).error_class.name
print(json.dumps({"outcome": outcome, "seconds": round(time.monotonic() - start, 3)}), flush=True)
