"""The shapes are offered in the web UI's shape picker and run when picked there."""

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from conftest import REPO
from servers import free_port, wait_port


def test_web_ui_offers_and_runs_the_shapes(mysql_db):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "locustfiles/oltp.py", "--class-picker", "--web-host", "127.0.0.1",
         "--web-port", str(port), "--db-engine", "mysql", "--db-name", mysql_db, "--db-init",
         "--oltp-mode", "read_only", "--oltp-table-size", "200", "--wait-min", "0.1", "--wait-max", "0.2"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_port(port, timeout=30)
        page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
        for name in ("LabRamp", "Steps", "Spike", "CsvProfile"):
            assert f'"{name}"' in page
        form = urllib.parse.urlencode({
            "user_classes": "OltpUser", "shape_class": "Steps", "host": "",
            "step_users": "3", "step_seconds": "30", "step_max_users": "9", "step_spawn_rate": "50",
        }).encode()
        answer = json.loads(urllib.request.urlopen(base + "/swarm", data=form, timeout=10).read())
        assert answer["success"], answer
        assert "Steps" in answer["message"]
        deadline = time.monotonic() + 15
        users = None
        while time.monotonic() < deadline:
            users = json.loads(urllib.request.urlopen(base + "/stats/requests", timeout=10).read())["user_count"]
            if users == 3:
                break
            time.sleep(0.5)
        assert users == 3  # the first step of the picked shape
        urllib.request.urlopen(base + "/stop", data=b"", timeout=10).read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
