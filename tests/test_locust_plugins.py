"""dbswarm beside locust-plugins 5.0.3, which Locust 2.47 imports by itself whenever it is installed.

These tests run Locust from a second virtualenv, .venv-plugins (dbswarm's
runtime plus requirements-plugins.txt, built and cached by
tools/plugins-venv.sh), so the main .venv stays free of locust-plugins. The
threshold tests run in both environments: a command line means the same with
or without locust-plugins, and prints one verdict per check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from conftest import REPO, LocustRun, mysql_conn, order_rows, pg_conn, why

PLUGINS_VENV = os.path.join(REPO, ".venv-plugins")  # a link into the cache (tools/plugins-venv.sh)
LEDGER = ("-f", "tests/locustfiles/ledger.py", "--headless", "-r", "10", "--db-init")


@pytest.fixture(scope="session")
def plugins_python() -> str:
    """The .venv-plugins interpreter, built on first use (a no-op when cached)."""
    proc = subprocess.run([os.path.join(REPO, "tools", "plugins-venv.sh"), sys.executable], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    python = os.path.join(PLUGINS_VENV, "bin", "python")
    if proc.returncode != 0 or not os.access(python, os.X_OK):
        message = f"tools/plugins-venv.sh failed: {proc.stderr[-2000:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture(params=["with-locust-plugins", "without"])
def any_python(request):
    """Each threshold test once with locust-plugins installed and once without."""
    return request.getfixturevalue("plugins_python") if request.param == "with-locust-plugins" else sys.executable


def run(python: str, tmp_path, *args, env=None, timeout=90) -> LocustRun:
    json_path = str(tmp_path / f"stats-{uuid.uuid4().hex[:6]}.json")
    proc = subprocess.run(
        [python, "-m", "locust", *args, "--json-file", json_path.removesuffix(".json")],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return LocustRun(proc, json_path)


def checks(run_: LocustRun) -> list[str]:
    return [line for line in run_.stdout.splitlines() if line.startswith("check ")]


def assert_clean(run_: LocustRun) -> None:
    assert "Uncaught exception in event handler" not in run_.output, why(run_.output)
    assert "Traceback" not in run_.output, why(run_.output)
    # locust-plugins' own verdicts (INFO for a failure, DEBUG for a pass): dbswarm's are the only ones.
    assert "CHECK FAILED" not in run_.output and "CHECK SUCCESSFUL" not in run_.output


def test_locust_plugins_is_what_locust_imports(plugins_python):
    proc = subprocess.run([plugins_python, "-c", "import locust.main, sys, locust_plugins; "
                           "print(locust_plugins.__file__, 'locust_plugins' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("True") and "venv-plugins" in proc.stdout


# --- no collisions -------------------------------------------------------------------------

PARSER_PROBE = r"""
import json, logging, sys
errors = []
class Keep(logging.Handler):
    def emit(self, record):
        errors.append(record.getMessage())
logging.getLogger().addHandler(Keep(logging.ERROR))
import locust.main  # imports locust_plugins when it is installed, as the locust command does
from locust.argument_parser import get_parser

def flags(parser):
    return {s: a.dest for a in parser._actions for s in a.option_strings}

before = flags(get_parser())
sys.path[:0] = ["tests/locustfiles", "."]
import importlib.util
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location(path.replace("/", "_").removesuffix(".py"), path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
after = flags(get_parser())
print(json.dumps({"errors": errors, "before": before, "added": sorted(set(after) - set(before)),
                  "lost": sorted(set(before) - set(after))}))
"""

LOCUSTFILES = ("locustfiles/flash_sale.py", "locustfiles/transactions.py", "locustfiles/oltp.py",
               "tests/locustfiles/ledger.py")
SHARED = {"--check-fail-ratio", "--check-rps", "--check-avg-response-time"}


def _parser(python):
    proc = subprocess.run([python, "-c", PARSER_PROBE, *LOCUSTFILES], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_no_dbswarm_option_collides_with_locust_or_locust_plugins(plugins_python):
    without, beside = _parser(sys.executable), _parser(plugins_python)
    for probe in (without, beside):
        assert probe["errors"] == [], probe["errors"]  # a conflicting option string is logged here
        assert probe["lost"] == []
    plugin_flags = set(beside["before"]) - set(without["before"])
    assert {"-i", "--iterations", "--ips", "--timescale", "--description"} | SHARED <= plugin_flags
    # Without locust-plugins dbswarm brings the three shared checks itself, and only those.
    assert SHARED <= set(without["added"])
    assert set(without["added"]) - set(beside["added"]) == SHARED
    assert not set(beside["added"]) & (plugin_flags | set(without["before"]))
    # Every dbswarm option of all the scenarios is still there beside locust-plugins.
    assert {"--db-host", "--check-p99-ms", "--check-min-rps", "--flash-stock", "--oltp-mode"} <= set(beside["added"])


def _names(directory: str, patterns) -> set[str]:
    found = set()
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    text = f.read()
                for pattern in patterns:
                    found.update(re.findall(pattern, text))
    return found


def test_no_message_or_report_key_collides(plugins_python):
    """Custom messages (runner.register_message) and worker-report keys: dbswarm's are all dbswarm_*."""
    site = subprocess.run([plugins_python, "-c", "import locust_plugins, os; print(os.path.dirname(locust_plugins.__file__))"],
                          capture_output=True, text=True, timeout=60).stdout.strip()
    theirs = _names(site, [r'register_message\(\s*f?"([^"]+)"', r'data\["([^"]+)"\]\s*='])
    assert {"run_id", "_{name}_request", "csv_results", "transactions"} <= theirs
    ours = _names(os.path.join(REPO, "plugins"), [r'register_message\(\s*f?"([^"]+)"',
                                                   r'(?m)^(?:_MESSAGE|DRAIN|DRAINED|REPORT_KEY) = "([^"]+)"'])
    assert len(ours) >= 5 and all(name.startswith("dbswarm_") for name in ours), ours
    assert not ours & theirs


# --- every scenario runs beside locust-plugins ----------------------------------------------

@pytest.mark.parametrize("scenario,engine", [("flash_sale", "mysql"), ("transactions", "postgres"),
                                             ("oltp", "mysql"), ("oltp", "postgres")])
def test_every_scenario_runs_beside_locust_plugins(plugins_python, tmp_path, scenario, engine, request):
    db = request.getfixturevalue("mysql_db" if engine == "mysql" else "pg_db")
    extra = ["--oltp-table-size", "500", "--db-engine", engine] if scenario == "oltp" else []
    r = run(plugins_python, tmp_path, "-f", f"locustfiles/{scenario}.py", "--headless", "-u", "3", "-r", "3",
            "-t", "3s", "--db-init", "--db-name", db, "--check-fail-ratio", "0.05", *extra)
    # oltp read_write on a small table sees a few deadlocks that outlast the retries: allowed up to 5 %.
    assert r.returncode == 0, why(r.output)
    assert_clean(r)
    assert checks(r) and checks(r)[0].startswith("check PASS: fail ratio ")
    assert r.requests() > 10 and r.failures() <= 0.05 * r.requests()
    if scenario == "flash_sale":
        assert order_rows(db) == r.count("place_order") > 0
    else:
        conn = mysql_conn(db) if engine == "mysql" else pg_conn(db)
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                    + ("DATABASE()" if engine == "mysql" else "current_schema()"))
        assert cur.fetchone()[0] >= 1
        conn.close()


# --- locust-plugins' features with dbswarm users ---------------------------------------------

def _ledger(db, engine="mysql"):
    conn = mysql_conn(db) if engine == "mysql" else pg_conn(db)
    cur = conn.cursor()
    cur.execute("SELECT user_class, task, COUNT(*), COUNT(DISTINCT user_id) FROM entries"
                " WHERE user_class <> 'seed' GROUP BY user_class, task")
    rows = {(c, t): (int(n), int(u)) for c, t, n, u in cur.fetchall()}
    conn.close()
    return rows


def test_iteration_limit_stops_dbswarm_users_after_exactly_n_tasks(plugins_python, tmp_path, mysql_db):
    r = run(plugins_python, tmp_path, *LEDGER, "-u", "3", "-t", "60s", "--db-name", mysql_db, "--db-engine", "mysql",
            "Clerk", "-i", "40", "--tags", "write")
    assert r.returncode == 0, why(r.output)
    assert_clean(r)
    assert "Iteration limit reached (40)" in r.output
    assert r.count("write_entry") == 40
    assert _ledger(mysql_db) == {("Clerk", "write"): (40, 3)}


def test_stop_user_on_fail_listener_with_dbswarm_transactions(plugins_python, tmp_path, pg_db):
    r = run(plugins_python, tmp_path, *LEDGER, "-u", "2", "-t", "3s", "--db-name", pg_db, "--db-engine", "postgres",
            "--ledger-stop-on-fail", "Clasher")
    # Every request failed, so the run measured nothing: dbswarm's exit code 4 (README, exit codes).
    assert r.returncode == 4, why(r.output)
    assert "dbswarm: no request succeeded" in r.output
    assert "Uncaught exception in event handler" not in r.output
    clash = r.entry("clash")
    # Each user stopped at its first failure, and the failed transaction left no row.
    assert clash["num_requests"] == clash["num_failures"] == 2
    assert _ledger(pg_db, "postgres") == {}


# --- thresholds: the same with and without locust-plugins -------------------------------------

def test_every_threshold_passes_with_one_line_each(any_python, tmp_path, mysql_db):
    r = run(any_python, tmp_path, *LEDGER, "-u", "2", "-t", "3s", "--db-name", mysql_db, "--db-engine", "mysql",
            "Clerk", "--check-fail-ratio", "0.01", "--check-rps", "1", "--check-min-rps", "1",
            "--check-p99-ms", "5000,write_entry=5000", "--loglevel", "DEBUG",
            env={"LOCUST_CHECK_AVG_RESPONSE_TIME": "5000"})
    assert r.returncode == 0, why(r.output)
    assert_clean(r)
    lines = checks(r)
    assert len(lines) == 6 and all(line.startswith("check PASS: ") for line in lines), lines
    for text in ("fail ratio 0.0000 (limit 0.01)", "(limit 5000 ms)", "(minimum 1, --check-rps)", "(minimum 1)",
                 "p99 of write_entry"):
        assert any(text in line for line in lines), (text, lines)
    assert any(line.startswith("check PASS: average response time ") for line in lines)


def test_every_threshold_fails_with_one_line_each_exit_3(any_python, tmp_path, mysql_db):
    # A Clerk beside the Clasher: some requests succeed, so the run measured something (else exit 4).
    r = run(any_python, tmp_path, *LEDGER, "-u", "2", "-t", "3s", "--db-name", mysql_db, "--db-engine", "mysql",
            "Clerk", "Clasher", "--check-fail-ratio", "0.01", "--check-rps", "1000000", "--check-min-rps", "1000000",
            "--check-avg-response-time", "0.0001", "--check-p99-ms", "no_such_op=100")
    assert r.returncode == 3, why(r.output)
    assert_clean(r)
    lines = checks(r)
    assert len(lines) == 5 and all(line.startswith("check FAIL: ") for line in lines), lines
    assert "exit code 3" in r.output
    rows = _ledger(mysql_db)
    assert not [key for key in rows if key[0] == "Clasher"], rows  # every clash rolled back


def test_failures_within_the_fail_ratio_exit_0(any_python, tmp_path, mysql_db):
    """locust-plugins' meaning of --check-fail-ratio: failures it allows do not make the exit code 1."""
    # A Clerk beside the Clasher: some requests succeed, so the run measured something (else exit 4).
    args = (*LEDGER, "-u", "2", "-t", "2s", "--db-name", mysql_db, "--db-engine", "mysql", "Clerk", "Clasher")
    r = run(any_python, tmp_path, *args, "--check-fail-ratio", "1")
    assert r.returncode == 0, why(r.output)
    assert r.failures() > 0 and checks(r) == [checks(r)[0]] and checks(r)[0].startswith("check PASS: fail ratio ")
    assert run(any_python, tmp_path, *args).returncode == 1


def test_bad_shared_threshold_is_one_line_exit_2(any_python, tmp_path):
    r = run(any_python, tmp_path, *LEDGER, "-u", "1", "-t", "2s", "--db-engine", "mysql", "Clerk",
            "--check-rps", "-5")
    assert r.returncode == 2, why(r.output)
    assert "dbswarm: --check-rps -5: must not be negative" in r.stderr
    r = run(any_python, tmp_path, *LEDGER, "-u", "1", "-t", "2s", "--db-engine", "mysql", "Clerk",
            env={"LOCUST_CHECK_FAIL_RATIO": "1.5"})
    assert r.returncode == 2
    assert "dbswarm: --check-fail-ratio 1.5: must be between 0 and 1" in r.stderr


def test_thresholds_with_workers_beside_locust_plugins(plugins_python, tmp_path, mysql_db):
    """--processes: the master alone judges (one line per check); its workers print none."""
    from servers import free_port

    port = str(free_port())
    r = run(plugins_python, tmp_path, *LEDGER, "-u", "4", "-t", "3s", "--db-name", mysql_db, "--db-engine", "mysql",
            "Clerk", "--processes", "2", "--master-port", port, "--master-bind-port", port,
            "--check-fail-ratio", "0.01", "--check-rps", "1", "--check-avg-response-time", "0.0001")
    assert r.returncode == 3, why(r.output)
    assert_clean(r)
    lines = checks(r)
    assert len(lines) == 3, lines
    assert lines[0].startswith("check PASS: fail ratio ") and lines[2].startswith("check PASS: rps ")
    assert lines[1].startswith("check FAIL: average response time ")
    assert r.count("write_entry") == _ledger(mysql_db)[("Clerk", "write")][0]
