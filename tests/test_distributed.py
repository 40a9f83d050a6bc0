"""Real distributed runs: one master and several worker processes, the flash sale on MariaDB.

Each worker runs in its own network namespace with its own address, like a
separate host: the master listens on a bridge address in the root namespace
and a small TCP relay on that address forwards database traffic to MariaDB,
which listens on loopback only. Without the rights to create namespaces the
workers run on loopback instead (same processes, same checks).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import REPO, order_rows
from moto_server import DUMMY_CREDENTIALS
from servers import free_port

WORKER_FILES = "locustfiles/flash_sale.py,tests/worker_tally.py"
# Under load the master may log the second form (a worker's report came late).
SPAWNED = r"All users spawned|Spawning is complete"
LOAD = ["--wait-min", "0.05", "--wait-max", "0.15"]  # modest: the machine is shared


class Relay:
    """Forward TCP connections from ``host:port`` to MariaDB on loopback; remembers who connected."""

    def __init__(self, host: str, target=("127.0.0.1", 3306)):
        self.target = target
        self.server = socket.create_server((host, 0))
        self.port = self.server.getsockname()[1]
        self.peers: set[str] = set()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, addr = self.server.accept()
            except OSError:
                return
            self.peers.add(addr[0])
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.server.close()
        for s in self._open:
            s.close()


def _sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


class Hosts:
    """Worker hosts: network namespaces on a private bridge, or loopback as the fallback."""

    def __init__(self, count: int):
        self.count = count
        self.namespaces: list[str] = []
        self.tag = f"{os.getpid() % 10000}{random.randint(0, 9)}"
        self.bridge = f"dbswbr{self.tag}"
        self.links: list[str] = []
        try:
            if os.environ.get("DBSWARM_TEST_LOOPBACK") == "1":
                raise PermissionError("loopback workers requested")
            self._create()
            self.isolated = True
        except (subprocess.CalledProcessError, FileNotFoundError, PermissionError):
            self.destroy()
            self.isolated = False
            self.master_host = "127.0.0.1"
            self.addresses = ["127.0.0.1"] * count
            self.relay = None
            self.db_host, self.db_port = "127.0.0.1", 3306

    def _create(self):
        net = f"10.231.{random.randint(1, 254)}"
        self.master_host = f"{net}.1"
        _sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        _sh("ip", "addr", "add", f"{self.master_host}/24", "dev", self.bridge)
        _sh("ip", "link", "set", self.bridge, "up")
        self.addresses = []
        for i in range(self.count):
            ns, host_end, ns_end = f"dbsw{self.tag}w{i}", f"dbsw{self.tag}h{i}", f"dbsw{self.tag}n{i}"
            _sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            _sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            self.links.append(host_end)
            _sh("ip", "link", "set", ns_end, "netns", ns)
            _sh("ip", "link", "set", host_end, "master", self.bridge, "up")
            address = f"{net}.{10 + i}"
            _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", ns_end)
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_end, "up")
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            self.addresses.append(address)
        self.relay = Relay(self.master_host)
        self.db_host, self.db_port = self.master_host, self.relay.port

    def prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[i]] if self.isolated else []

    def destroy(self):
        if getattr(self, "relay", None):
            self.relay.close()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        for link in reversed(self.links):
            subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=20)


@pytest.fixture
def hosts():
    made = []

    def _make(count):
        h = Hosts(count)
        made.append(h)
        return h

    yield _make
    for h in made:
        h.destroy()


class Cluster:
    """A master and its workers as separate OS processes; everything is killed at the end."""

    def __init__(self, hosts: Hosts, tmp_path, db: str):
        self.hosts, self.tmp, self.db = hosts, tmp_path, db
        self.port = free_port()
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[int, subprocess.Popen] = {}
        self.json = str(tmp_path / "master")

    def _spawn(self, cmd, log_name):
        log = open(self.tmp / log_name, "w")
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "DBSWARM_TEST_TALLY": str(self.tmp / f"{log_name}.tally")})
        self.procs.append(proc)
        return proc

    def start_master(self, users: int, run_time: str, expect_workers: int, *extra):
        h = self.hosts
        self.master = self._spawn([
            sys.executable, "-m", "locust", "-f", "locustfiles/flash_sale.py", "--master",
            "--master-bind-host", h.master_host, "--master-bind-port", str(self.port),
            "--headless", "-u", str(users), "-r", str(users), "-t", run_time, "--expect-workers", str(expect_workers),
            "--db-host", h.db_host, "--db-port", str(h.db_port), "--db-name", self.db, "--db-init",
            "--json-file", self.json, *LOAD, *extra,
        ], "master.log")

    def start_worker(self, i: int):
        self.workers[i] = self._spawn([
            *self.hosts.prefix(i), sys.executable, "-m", "locust", "-f", WORKER_FILES, "--worker",
            "--master-host", self.hosts.master_host, "--master-port", str(self.port),
        ], f"worker{i}.log")

    def wait_master(self, timeout=150) -> int:
        try:
            return self.master.wait(timeout=timeout)
        finally:
            for proc in self.workers.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def log(self, name="master") -> str:
        return (self.tmp / f"{name}.log").read_text()

    def tally(self, i: int) -> dict | None:
        path = self.tmp / f"worker{i}.log.tally"
        return json.loads(path.read_text()) if path.exists() else None

    def master_stats(self) -> tuple[dict, dict]:
        with open(self.json + ".json") as f:
            entries = json.load(f)
        requests, failures = {}, {}
        for e in entries:
            requests[e["name"]] = requests.get(e["name"], 0) + e["num_requests"]
            failures[e["name"]] = failures.get(e["name"], 0) + e["num_failures"]
        return requests, failures

    def wait_for(self, pattern: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return True
            if self.master.poll() is not None:
                return False
            time.sleep(0.25)
        return False

    def kill_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def cluster(hosts, tmp_path, mysql_db):
    made = []

    def _make(workers: int):
        c = Cluster(hosts(workers), tmp_path, mysql_db)
        made.append(c)
        return c

    yield _make
    for c in made:
        c.kill_all()


def _sum(tallies, key):
    total: dict[str, int] = {}
    for t in tallies:
        for name, n in t[key].items():
            total[name] = total.get(name, 0) + n
    return total


def _assert_master_equals_workers(c: Cluster, tallies):
    requests, failures = c.master_stats()
    assert requests == _sum(tallies, "requests")
    assert {k: v for k, v in failures.items() if v} == _sum(tallies, "failures")
    orders = order_rows(c.db)
    assert orders > 0
    assert requests["place_order"] == orders
    assert f"orders placed (this run):   {orders}" in c.log()


def _assert_from_own_hosts(c: Cluster, workers: int):
    if c.hosts.isolated:  # every worker's database traffic came from its own address
        assert set(c.hosts.addresses[:workers]) <= c.hosts.relay.peers


def _orders_in_cloudwatch(moto) -> int:
    now = datetime.now(timezone.utc)
    answer = moto.client().get_metric_statistics(
        Namespace="MyFlashSale/Orders", MetricName="Orders", Dimensions=[{"Name": "OfferType", "Value": "FlashSale"}],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=2), Period=60, Statistics=["Sum"])
    return int(sum(p["Sum"] for p in answer["Datapoints"]))


def test_master_totals_equal_the_sum_of_the_workers(cluster, cloudwatch_endpoint, monkeypatch):
    proxy, moto = cloudwatch_endpoint
    for key, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    c = cluster(3)
    c.start_master(24, "20s", 3, "--cloudwatch", "--cloudwatch-endpoint", proxy.url)
    for i in range(3):
        c.start_worker(i)
    code = c.wait_master()
    assert code == 0, c.log()[-3000:]
    assert "3 workers connected" in c.log()
    tallies = [c.tally(i) for i in range(3)]
    assert all(tallies), [c.log(f"worker{i}")[-1500:] for i in range(3)]
    for t in tallies:
        assert t["users"] > 0 and sum(t["requests"].values()) > 0
    assert sum(t["users"] for t in tallies) >= 24
    _assert_master_equals_workers(c, tallies)
    _assert_from_own_hosts(c, 3)
    # The master published what the workers did: every order, once.
    assert _orders_in_cloudwatch(moto) == order_rows(c.db)


def test_a_worker_that_joins_mid_run_gets_users(cluster):
    c = cluster(3)
    c.start_master(24, "20s", 2)
    c.start_worker(0)
    c.start_worker(1)
    assert c.wait_for(SPAWNED, 60), c.log()[-3000:]
    time.sleep(2)
    c.start_worker(2)
    assert c.wait_for(r"3 workers connected", 30), c.log()[-3000:]
    code = c.wait_master()
    assert code == 0, c.log()[-3000:]
    tallies = [c.tally(i) for i in range(3)]
    assert all(tallies), [c.log(f"worker{i}")[-1500:] for i in range(3)]
    late = tallies[2]
    assert late["users"] > 0 and late["requests"].get("place_order", 0) > 0
    _assert_master_equals_workers(c, tallies)
    _assert_from_own_hosts(c, 3)


def test_a_killed_worker_is_reported_missing_and_the_others_finish(cluster):
    c = cluster(3)
    c.start_master(24, "20s", 3)
    for i in range(3):
        c.start_worker(i)
    assert c.wait_for(SPAWNED, 60), c.log()[-3000:]
    time.sleep(3)
    c.workers[0].send_signal(signal.SIGKILL)
    code = c.wait_master()
    log = c.log()
    assert "failed to send heartbeat, setting state to missing" in log, log[-3000:]
    assert code == 5, log[-3000:]  # a lost worker fails the run unless --allow-worker-loss
    assert re.search(r"dbswarm: worker \S+ lost at t\+[\d.]+s \(last report at t\+[\d.]+s\): it ran \d+ users", log), log[-3000:]
    survivors = [c.tally(i) for i in (1, 2)]
    assert all(survivors) and c.tally(0) is None
    requests, _ = c.master_stats()
    reported = _sum(survivors, "requests")
    for name, n in reported.items():
        assert requests[name] >= n  # plus what the killed worker reported before it died
    assert requests["place_order"] <= order_rows(c.db)  # orders after its last report are in the database only
