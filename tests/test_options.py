"""Options from the user's side: listed with their defaults, typed on every path, documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import REPO, mysql_conn, order_rows, unique_name, why

LOCUSTFILES = ("locustfiles/flash_sale.py", "locustfiles/oltp.py", "locustfiles/transactions.py", "locustfiles/tpcc.py")


def _options_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugins.options", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_every_option_is_listed_with_default_and_environment_variable():
    run = _options_cli("locustfiles/flash_sale.py")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for flag, default, env in (("--db-port", "(none)", "DBSWARM_DB_PORT"), ("--db-engine", "(none)", "DBSWARM_DB_ENGINE"),
                               ("--flash-stock", "1000", "DBSWARM_FLASH_STOCK"), ("--db-connect-timeout", "10.0", "DBSWARM_DB_CONNECT_TIMEOUT"),
                               ("--check-p99-ms", "(none)", "DBSWARM_CHECK_P99_MS")):
        block = out[out.index(f"  {flag}"):]
        block = block[: block.index("\n  --", 3) if "\n  --" in block[3:] else len(block)]
        assert f"default: {default}" in block and f"env: {env}" in block, block
    assert "[launch only: not in the web form]" in out  # e.g. --cloudwatch


def test_readme_table_lists_every_option():
    run = _options_cli("--markdown", *LOCUSTFILES)
    assert run.returncode == 0, run.stderr
    flags = re.findall(r"^\| `(--[a-z0-9-]+)`", run.stdout, re.M)
    assert len(flags) > 50
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for row in run.stdout.strip().splitlines():
        assert row in readme, f"README.md's options table is stale: {row}"


def test_unwritable_report_dir_is_one_line(locust, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = locust("-f", "locustfiles/flash_sale.py", "--headless", "-t", "5s", "--report-dir", str(blocker / "reports"))
    assert run.returncode == 2
    assert f"dbswarm: --report-dir {blocker / 'reports'}: {blocker} is not a directory" in run.stderr
    assert "Traceback" not in run.output and not run.stats


def test_typed_values_from_the_environment_reach_the_users(locust, mysql_db):
    """DBSWARM_WAIT_MIN/MAX arrive as text, as the web form's did: the users get numbers."""
    run = locust("-f", "locustfiles/flash_sale.py", "--db-name", mysql_db, "--db-init", "--headless", "-u", "3",
                 "-r", "3", "-t", "4s", env={"DBSWARM_WAIT_MIN": "0.05", "DBSWARM_WAIT_MAX": "0.1",
                                              "DBSWARM_DB_PORT": "3306"})
    assert run.returncode == 0, why(run.output)
    assert "Traceback" not in run.output
    assert run.count("place_order") == order_rows(mysql_db) > 0


def test_host_url_sets_the_target(locust, tmp_path):
    db = unique_name()
    try:
        run = locust("-f", "locustfiles/flash_sale.py", "-H", f"mysql://root@127.0.0.1:3306/{db}", "--db-init",
                     "--headless", "-u", "2", "-r", "2", "-t", "3s")
        assert run.returncode == 0, why(run.output)
        assert run.count("place_order") == order_rows(db) > 0  # the URL's database got the load
        bad = locust("-f", "locustfiles/flash_sale.py", "-H", "mysql://root:pw@127.0.0.1:notaport/x", "--headless",
                     "-t", "3s")
        assert bad.returncode == 2 and "dbswarm: --host mysql://root@127.0.0.1:notaport/x: bad port" in bad.stderr
        assert ":pw@" not in bad.output
    finally:
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_the_design_cards_command_works_from_the_repository_root(tmp_path):
    """``locust --headless -u N -t T`` in the root: locust.conf names the flash sale, --db-init and the spawn rate."""
    db = unique_name()
    env = {k: v for k, v in os.environ.items() if k not in ("DBSWARM_DB_INIT", "LOCUST_SPAWN_RATE")}
    env["DBSWARM_DB_NAME"] = db  # not the shared myshop
    try:
        run = subprocess.run([sys.executable, "-m", "locust", "--headless", "-u", "5", "-t", "3s"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-3000:]
        assert "Ramping to 5 users at a rate of 50.00 per second" in output  # locust.conf's spawn-rate
        placed = re.search(r"orders placed \(this run\):\s+(\d+)", output)
        assert placed and int(placed.group(1)) == order_rows(db) > 0
    finally:
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
