"""A local CloudWatch for tests: moto's server, and a counting proxy in front of it.

``MotoServer`` runs ``python -m moto.server`` on a free loopback port. The
``EndpointProxy`` forwards every request to it unchanged, records each call
(action and body) so a test can count PutMetricData calls and check what was
sent, and can be stopped and started again on the same port to simulate an
outage without losing what moto already holds. ``refuse`` makes it answer
an action itself with an AWS error (e.g. GetMetricData throttled or denied)
instead of forwarding it.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from servers import free_port, wait_port

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **DUMMY_CREDENTIALS},
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self):
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("cloudwatch", endpoint_url=self.url)


class EndpointProxy:
    """HTTP/1.0 proxy (one request per connection, so a stop never cuts a request in half)."""

    def __init__(self, upstream_port: int, port: int | None = None):
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.calls: list[tuple[float, str, bytes, int]] = []  # (time, action, body, bytes on the wire)
        self.refuse: dict[str, tuple[int, str, str]] = {}  # action -> (HTTP status, AWS error code, message)
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self, action, body, status, code, message):
                with proxy._lock:
                    proxy.calls.append((time.time(), action, body, len(body)))
                payload = json.dumps({"__type": f"com.amazonaws.cloudwatch#{code}", "message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-query-error", f"{code};Sender")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                if action in proxy.refuse:
                    plain = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                    return self._refuse(action, plain, *proxy.refuse[action])
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                payload = answer.read()
                target = self.headers.get("X-Amz-Target", "")
                plain = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                with proxy._lock:
                    proxy.calls.append((time.time(), target.rsplit(".", 1)[-1], plain, len(body)))
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *args):
                pass

        return Handler

    def start(self) -> EndpointProxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        """Refuse connections from now on (requests already accepted complete)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self, action: str = "PutMetricData") -> list[dict]:
        with self._lock:
            return [json.loads(body) for _, a, body, _ in self.calls if a == action]

    def count(self, action: str = "PutMetricData") -> int:
        with self._lock:
            return sum(1 for _, a, _, _ in self.calls if a == action)

    def sizes(self, action: str = "PutMetricData") -> list[tuple[int, int]]:
        """(bytes on the wire, bytes uncompressed) of each call."""
        with self._lock:
            return [(wire, len(body)) for _, a, body, wire in self.calls if a == action]
