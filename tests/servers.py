"""Throwaway database servers for tests that restart or break a server.

Each runs from a temporary data directory on a free loopback port and is
owned by the test that started it, so killing or restarting it never touches
the shared local MariaDB/PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, drawn below the kernel's ephemeral range.

    A port the kernel hands out for bind(0) is in the ephemeral range, where
    any client socket (a worker connecting, a driver, a browser) may take it
    before the test's server binds it: a web UI test once read a ZeroMQ
    greeting from "its" port. Below that range only another caller of this
    function could pick the same port, at random.
    """
    low, high = 20000, _ephemeral_low()
    for _ in range(200):
        port = random.randrange(low, high)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{high}")


def stop_process(proc: subprocess.Popen, timeout: float = 40) -> None:
    """Stop a locust process as a user does (SIGTERM); kill it if it has not exited within ``timeout``."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return max(20100, min(int(f.read().split()[0]), 32768))
    except (OSError, ValueError, IndexError):
        return 32768


def wait_port(port: int, up: bool = True, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} within {timeout}s")


class MariaDBServer:
    """mariadbd on 127.0.0.1:<port> with root and an empty password."""

    def __init__(self, max_connections: int = 200, port: int | None = None, extra_args: tuple = ()):
        self.port = port or free_port()
        self.max_connections = max_connections
        self.extra_args = tuple(extra_args)  # e.g. ("--ssl-ca=...", "--ssl-cert=...", "--ssl-key=...")
        self.dir = tempfile.mkdtemp(prefix="dbswarm-mariadb-")
        self.datadir = os.path.join(self.dir, "data")
        self.proc = None
        shutil.chown(self.dir, "mysql", "mysql")  # before install-db: it runs as mysql inside this 0700 dir
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=mysql",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def start(self, max_connections: int | None = None) -> MariaDBServer:
        if max_connections is not None:
            self.max_connections = max_connections
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=mysql",
             "--bind-address=127.0.0.1", f"--port={self.port}", f"--socket={self.dir}/mysqld.sock",
             f"--pid-file={self.dir}/mysqld.pid", f"--max-connections={self.max_connections}",
             "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
             f"--log-error={self.dir}/error.log", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import pymysql

        deadline = time.monotonic() + timeout
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", ssl_disabled=True).close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.proc = None
        wait_port(self.port, up=False)

    def restart(self, max_connections: int | None = None) -> None:
        self.stop()
        self.start(max_connections)

    def cleanup(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A PostgreSQL cluster (initdb) on 127.0.0.1:<port>, trust auth, user postgres."""

    def __init__(self, max_connections: int = 100, port: int | None = None):
        bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        self.pg_ctl = os.path.join(bindir, "pg_ctl")
        self.port = port or free_port()
        self.max_connections = max_connections
        self.dir = tempfile.mkdtemp(prefix="dbswarm-pg-")
        self.datadir = os.path.join(self.dir, "data")
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres([os.path.join(bindir, "initdb"), "-D", self.datadir, "-U", "postgres",
                           "--auth=trust", "-E", "UTF8", "--no-sync"])

    def _as_postgres(self, argv, check=True):
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=check,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self, max_connections: int | None = None) -> PostgresServer:
        if max_connections is not None:
            self.max_connections = max_connections
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                f"-c max_connections={self.max_connections} -c fsync=off -c shared_buffers=16MB")
        self._as_postgres([self.pg_ctl, "-D", self.datadir, "-o", opts, "-l", f"{self.dir}/log", "-w", "start"])
        wait_port(self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres([self.pg_ctl, "-D", self.datadir, "-m", mode, "-w", "stop"], check=False)
        wait_port(self.port, up=False)

    def restart(self, max_connections: int | None = None) -> None:
        self.stop()
        self.start(max_connections)

    def cleanup(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
