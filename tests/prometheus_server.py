"""A throwaway real Prometheus (Debian's /usr/bin/prometheus) scraping loopback targets.

Temporary config and storage, a free port on 127.0.0.1, a 1 s scrape
interval; queried over its HTTP API. Installed by tools/test-tools.sh.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from servers import free_port

BINARY = "prometheus"


class PrometheusServer:
    def __init__(self, targets: list[str], interval: str = "1s"):
        self.targets = targets
        self.interval = interval
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dbswarm-prom-")
        self.proc = None

    def start(self) -> PrometheusServer:
        config = f"{self.dir}/prometheus.yml"
        with open(config, "w") as f:
            f.write(
                "global:\n"
                f"  scrape_interval: {self.interval}\n"
                f"  evaluation_interval: {self.interval}\n"
                "scrape_configs:\n"
                "  - job_name: dbswarm\n"
                f"    scrape_timeout: {self.interval}\n"
                f"    static_configs:\n      - targets: {json.dumps(self.targets)}\n"
            )
        self.log = open(f"{self.dir}/prometheus.log", "w")
        self.proc = subprocess.Popen(
            [shutil.which(BINARY) or "/usr/bin/prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={self.dir}/data", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready in 30 s: {self.logs()}")

    def wait_for_targets(self, timeout: float = 20) -> None:
        """Until every target is in a scrape pool (up or not): Prometheus 2.42 syncs targets every 5 s, so
        without this the first seconds of a run that starts right away go unscraped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = {t["labels"].get("instance") for t in self.api("targets")["activeTargets"]}
            if set(self.targets) <= active:
                return
            time.sleep(0.2)
        raise TimeoutError(f"prometheus did not pick up {self.targets} in {timeout} s: {self.logs()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        with open(f"{self.dir}/prometheus.log") as f:
            return f.read()[-3000:]

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict]:
        """Instant vector at ``at`` (epoch seconds): [{"metric": {...}, "value": [t, "v"]}]."""
        return self.api("query", query=expr, time=f"{at:.3f}")["result"]

    def query_range(self, expr: str, start: float, end: float, step: str = "1s") -> list[dict]:
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)["result"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
