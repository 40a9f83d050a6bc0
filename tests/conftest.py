"""Shared fixtures: fresh databases on the real local servers, a locust runner."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import psycopg2
import pymysql
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Tests run Locust in the repository root, where locust.conf turns --db-init on and sets a spawn rate for
# people; a test asks for --db-init and -r itself (the command line wins over these).
os.environ.setdefault("DBSWARM_DB_INIT", "false")
os.environ.setdefault("LOCUST_SPAWN_RATE", "1")
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MYSQL = dict(host="127.0.0.1", port=3306, user="root", password="", ssl_disabled=True, autocommit=True)
PG = dict(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")


def mysql_conn(database=None, port=3306):
    return pymysql.connect(**{**MYSQL, "port": port}, database=database)


def pg_conn(database="postgres", port=5432):
    conn = psycopg2.connect(**{**PG, "port": port, "dbname": database})
    conn.autocommit = True
    return conn


def order_rows(db: str, port: int = 3306) -> int:
    """Rows in a flash-sale database's orders table."""
    with mysql_conn(db, port=port) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM orders")
        return int(cur.fetchone()[0])


def copy_flash_sale(db: str, dst_port: int, src_port: int = 3306, stock: int | None = None) -> None:
    """A flash-sale database's schema and products onto another server (a failover target, the promoted replica).

    ``stock`` sets every product's stock on the copy; None keeps the source's."""
    with mysql_conn(db, port=src_port) as src, mysql_conn(port=dst_port) as dst:
        s, d = src.cursor(), dst.cursor()
        d.execute(f"CREATE DATABASE `{db}`")
        d.execute(f"USE `{db}`")
        for table in ("products", "orders"):
            s.execute(f"SHOW CREATE TABLE {table}")
            d.execute(s.fetchone()[1])
        s.execute("SELECT id, name, category, price, " + ("stock" if stock is None else "%s") + " FROM products",
                  None if stock is None else (stock,))
        d.executemany("INSERT INTO products VALUES (%s, %s, %s, %s, %s)", s.fetchall())
        dst.commit()


def unique_name(prefix="dbswarm_t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def mysql_db():
    """A new, empty MariaDB database, dropped afterwards."""
    name = unique_name()
    with mysql_conn() as conn:
        conn.cursor().execute(f"CREATE DATABASE `{name}`")
    yield name
    with mysql_conn() as conn:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def pg_db():
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = unique_name()
    conn = pg_conn()
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    yield name
    conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def why(output: str, tail: int = 2500) -> str:
    """What a failed assertion on a run shows: its error lines first, then the end of its output.

    The end alone (the summary tables) hides the traceback or ERROR line that
    set the exit code, and CI shows only the assertion message.
    """
    lines = output.splitlines()
    marks = ("Traceback", "ERROR", "Error", "dbswarm:", "check FAIL", "exit code")
    errors, seen, covered = [], set(), -1
    for i, line in enumerate(lines):
        if i <= covered or line in seen or not any(m in line for m in marks):
            continue
        seen.add(line)
        if line.startswith("Traceback"):
            covered = i + 12
            errors.append("\n".join(lines[i:covered + 1]))
        else:
            errors.append(line)
    head = "\n".join(errors)[:3000]
    return f"--- error lines ---\n{head}\n--- end of output ---\n{output[-tail:]}"


# Locust 2.47's own race at exit with --processes and --csv (README, "What `make run` prints"): its CSV
# writer greenlet wakes on the files Locust has just closed. Not dbswarm's; every other traceback is.
_LOCUST_CSV_RACE = re.compile(r"in stats_writer\n.*\n(?:.*\^+\n)?ValueError: I/O operation on closed file")


def tracebacks(output: str) -> list[str]:
    """The tracebacks in a run's output, but for Locust's own CSV race at exit."""
    blocks = output.split("Traceback (most recent call last):")[1:]
    return [b[:1500] for b in blocks if not _LOCUST_CSV_RACE.search(b[:1500])]


class LocustRun:
    def __init__(self, proc: subprocess.CompletedProcess, json_path: str | None):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output = proc.stdout + proc.stderr
        self.stats = []
        if json_path and os.path.exists(json_path):
            with open(json_path) as f:
                self.stats = json.load(f)

    def entry(self, name: str, method: str | None = None) -> dict | None:
        for e in self.stats:
            if e["name"] == name and (method is None or e["method"] == method):
                return e
        return None

    def count(self, name: str) -> int:
        e = self.entry(name)
        return e["num_requests"] if e else 0

    def failures(self) -> int:
        return sum(e["num_failures"] for e in self.stats)

    def requests(self) -> int:
        return sum(e["num_requests"] for e in self.stats)


def run_locust(args, tmp_path, timeout=120, env=None) -> LocustRun:
    """Run the locust command from the repo root; bounded by ``timeout``."""
    json_path = str(tmp_path / f"stats-{uuid.uuid4().hex[:6]}.json")
    if "--processes" in args and "--master-bind-port" not in args:
        # Parallel runs on one machine must not share Locust's default 5557.
        from servers import free_port

        port = str(free_port())
        args = [*args, "--master-port", port, "--master-bind-port", port]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "locust", *args, "--json-file", json_path.removesuffix(".json")],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env, stdin=subprocess.DEVNULL,
    )
    return LocustRun(proc, json_path)


@pytest.fixture
def locust(tmp_path):
    def _run(*args, timeout=120, env=None):
        return run_locust(list(args), tmp_path, timeout=timeout, env=env)

    return _run


@pytest.fixture
def cloudwatch_endpoint():
    """moto's CloudWatch on a free port behind a counting proxy: (proxy, moto); stopped afterwards."""
    from moto_server import EndpointProxy, MotoServer

    moto = MotoServer().start()
    proxy = EndpointProxy(moto.port).start()
    yield proxy, moto
    proxy.stop()
    moto.stop()


def pytest_collection_finish(session):
    """Locust monkey-patches the process it is imported into (sockets, ssl, threads).

    In the pytest process that breaks tests that use threads or boto3, so test
    modules must run Locust in subprocesses and import only Locust-free plugin
    modules. Fail loudly when one does not.
    """
    if "locust" in sys.modules:
        raise pytest.UsageError("a test module imported locust into the pytest process; run it in a subprocess")


# The longest test files first (seconds, one serial run on the shared machine, 2026-12-02), so that
# `make test`'s two processes do not end with one of them alone on a long file. Files not named
# keep their order after these. Only the order changes: a file missing here still runs.
LONGEST_FILES = (
    "test_network_faults.py",  # 199
    "test_web_ui.py",  # 104
    "test_tpcc.py",  # 95
    "test_cloudwatch.py",  # 78
    "test_distributed.py",  # 78
    "test_aurora_metrics.py",  # 77
    "test_locust_plugins.py",  # 66
    "test_scaling_events.py",  # 48
    "test_tpcc_ui.py",  # 45
    "test_shapes.py",  # 44
    "test_prometheus.py",  # 44
    "test_faults.py",  # 43
    "test_flash_sale.py",  # 38
    "test_web_ui_secrets.py",  # 36
    "test_oltp.py",  # 35
    "test_transactions.py",  # 34
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: tests keep their order in a file
