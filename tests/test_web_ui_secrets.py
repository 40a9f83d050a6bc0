"""No page or endpoint of the web UI gives away the database password.

The password is set by option, by environment and in a locust.conf; each
time every page and endpoint the UI serves is fetched (after a short run, so
the stats, reports, logs and the Database tab have content) and the password
is searched for in every answer and in Locust's own output. PostgreSQL here
trusts loopback, so any password logs in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from conftest import REPO, pg_conn, unique_name
from servers import free_port, stop_process, wait_port

PASSWORD = "Sw0rdfish-not-for-the-page"
PAGES = ("/", "/stats/requests", "/stats/report", "/stats/report?download=1&theme=dark", "/stats/requests/csv",
         "/stats/requests_full_history/csv", "/stats/failures/csv", "/exceptions", "/exceptions/csv", "/tasks",
         "/logs", "/worker-count", "/dbswarm/db_stats.csv", "/dbswarm/report")


def _fetch(url: str, data: bytes | None = None) -> str:
    try:
        with urllib.request.urlopen(url, data=data, timeout=90) as resp:
            return resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.read().decode("utf-8", "replace")


@pytest.mark.parametrize("how", ["option", "environment", "locust.conf"])
def test_the_password_reaches_no_page(tmp_path, how):
    db = unique_name()
    port = free_port()
    args = ["-f", "locustfiles/transactions.py", "--db-init", "--db-name", db, "--tx-seed-rows", "100",
            "--db-stats-interval", "1", "--report-dir", str(tmp_path / "reports"), "--wait-min", "0.1",
            "--wait-max", "0.2", "--web-host", "127.0.0.1", "--web-port", str(port)]
    env = {**os.environ}
    if how == "option":
        args += ["--db-password", PASSWORD]
    elif how == "environment":
        env["DBSWARM_DB_PASSWORD"] = PASSWORD
    else:
        conf = tmp_path / "locust.conf"
        conf.write_text(f"db-password = {PASSWORD}\n")
        args += ["--config", str(conf)]
    log_path = tmp_path / "locust.log"
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "locust", *args], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_port(port, timeout=40)
            seen = {"/ before the run": _fetch(base + "/")}
            # A bare POST /swarm with option names (as scripts send it) is parsed and checked alike.
            bad = {"user_count": "2", "spawn_rate": "2", "db_port": "abc", "wait_min": ""}
            answer = json.loads(_fetch(base + "/swarm", urllib.parse.urlencode(bad).encode()))
            assert answer == {"success": False, "message": "dbswarm: --db-port abc: must be an integer",
                              "host": answer["host"]}
            # The form as the page posts it: the password field empty ("keep the launch-time password").
            form = {"user_count": "2", "spawn_rate": "2", "host": "", "DB password": "", "db_retries": "",
                    "wait_min": " 0.1 "}
            answer = json.loads(_fetch(base + "/swarm", urllib.parse.urlencode(form).encode()))
            assert answer["success"], answer
            time.sleep(4)
            seen.update({page: _fetch(base + page) for page in PAGES})
            assert json.loads(seen["/stats/requests"])["user_count"] == 2
            assert "insert_transaction" in seen["/stats/requests"]
            assert "data:image/png" in seen["/dbswarm/report"]
            seen["stop"] = _fetch(base + "/stop", b"")
            seen["/ after the run"] = _fetch(base + "/")
        finally:
            stop_process(proc)
            conn = pg_conn()
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.close()
    leaks = [page for page, text in seen.items() if PASSWORD in text]
    assert not leaks, leaks
    assert "Transactions" in seen["/"] or "transactions" in seen["/"]
    with open(log_path) as f:
        output = f.read()
    assert PASSWORD not in output
    for directory, _dirs, files in os.walk(tmp_path / "reports"):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                assert PASSWORD.encode() not in f.read(), name
