"""TLS verification, credentials from Secrets Manager (moto), IAM tokens, no secret in any output.

One throwaway MariaDB serves every case: TLS with a certificate made here by
openssl (SAN IP:127.0.0.1) and a user that needs a password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid

import boto3
import pytest

from conftest import REPO, mysql_conn, why
from servers import MariaDBServer, free_port, wait_port

PASSWORD = "Sec-" + uuid.uuid4().hex[:16]
AWS_SECRET = "aws-" + uuid.uuid4().hex
USER = "dbswarm_sec"
CONTENTION = ("-f", "tests/locustfiles/contention.py", "--db-engine", "mysql")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(directory: str) -> dict:
    """A CA, a server certificate it signed for IP 127.0.0.1, and an unrelated CA."""
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
                 "-days", "2", "-subj", f"/CN=dbswarm test {name}", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=directory)
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=directory)
    for name in os.listdir(directory):
        os.chmod(os.path.join(directory, name), 0o644)
    return {k: os.path.join(directory, f"{k}.pem") for k in ("ca", "other-ca", "server")} | {
        "key": os.path.join(directory, "server.key")}


@pytest.fixture(scope="module")
def tls_server():
    certs_dir = tempfile.mkdtemp(prefix="dbswarm-certs-")
    os.chmod(certs_dir, 0o755)
    certs = make_certs(certs_dir)
    server = MariaDBServer(extra_args=(f"--ssl-ca={certs['ca']}", f"--ssl-cert={certs['server']}",
                                       f"--ssl-key={certs['key']}")).start()
    with mysql_conn(port=server.port) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
        cur.execute(f"GRANT ALL ON *.* TO '{USER}'@'%'")
    server.certs = certs
    yield server
    server.cleanup()
    subprocess.run(["rm", "-rf", certs_dir], check=False)


@pytest.fixture(scope="module")
def moto():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIDDBSWARMTEST", "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_DEFAULT_REGION": "us-east-1"}


def _ssl_accepts(port) -> int:
    with mysql_conn(port=port) as conn:
        cur = conn.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'")
        return int(cur.fetchone()[1])


def test_secret_from_secrets_manager_over_tls_and_nothing_leaks(locust, tls_server, moto, tmp_path, monkeypatch):
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    secret = {"username": USER, "password": PASSWORD, "engine": "mysql", "host": "127.0.0.1",
              "port": tls_server.port, "dbname": "unused", "dbClusterIdentifier": "dbswarm-test"}
    sm = boto3.client("secretsmanager", endpoint_url=moto, region_name="us-east-1")
    arn = sm.create_secret(Name=f"dbswarm/{uuid.uuid4().hex[:8]}", SecretString=json.dumps(secret))["ARN"]
    before = _ssl_accepts(tls_server.port)
    reports = tmp_path / "reports"
    run = locust(*CONTENTION, "--headless", "-u", "4", "-r", "4", "-t", "4s", "--db-init", "--db-name", "sectest",
                 "--db-secret-id", arn, "--db-secret-endpoint", moto, "--db-ssl-ca", tls_server.certs["ca"],
                 "--html", str(reports / "run.html"), "--csv", str(reports / "run"), "--loglevel", "DEBUG",
                 timeout=90)
    assert run.returncode in (0, 1), why(run.output)  # 1: deadlocks are failures
    assert run.requests() > 0 and "Traceback" not in run.output
    # The run used the secret's host, port and user (root is not in the secret) over TLS.
    with mysql_conn("sectest", port=tls_server.port) as conn:
        cur = conn.cursor()
        cur.execute("SELECT SUM(v) FROM t")
        assert int(cur.fetchone()[0]) > 0
    assert _ssl_accepts(tls_server.port) > before
    # Nothing the run wrote contains the password or the AWS secret key.
    # Bytes, not text: the reports include PNG plots.
    written = [run.stdout.encode(), run.stderr.encode()] + [p.read_bytes() for p in reports.iterdir()] + [
        p.read_bytes() for p in tmp_path.glob("stats-*.json")]
    assert len(written) >= 6
    for data in written:
        assert PASSWORD.encode() not in data and AWS_SECRET.encode() not in data


def test_an_explicit_db_host_wins_over_the_secrets_host(locust, tls_server, moto, tmp_path, monkeypatch):
    """Explicit option, then secret, then default: --db-host 127.0.0.1 (the default's own value) still wins."""
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    secret = {"username": USER, "password": PASSWORD, "engine": "mysql", "host": "no-such-host.invalid",
              "port": tls_server.port}
    sm = boto3.client("secretsmanager", endpoint_url=moto, region_name="us-east-1")
    arn = sm.create_secret(Name=f"dbswarm/{uuid.uuid4().hex[:8]}", SecretString=json.dumps(secret))["ARN"]
    common = (*CONTENTION, "--headless", "-u", "2", "-r", "2", "-t", "2s", "--db-init", "--db-name", "hosttest",
              "--db-secret-id", arn, "--db-secret-endpoint", moto, "--db-ssl-ca", tls_server.certs["ca"])
    run = locust(*common, "--db-host", "127.0.0.1", timeout=90)
    assert run.returncode in (0, 1), why(run.output)
    assert run.requests() > 0 and "Traceback" not in run.output
    with mysql_conn("hosttest", port=tls_server.port) as conn:
        cur = conn.cursor()
        cur.execute("SELECT SUM(v) FROM t")
        assert int(cur.fetchone()[0]) > 0
    # Without --db-host the secret's host is the one tried.
    run = locust(*common, timeout=90)
    assert run.returncode == 2
    assert "no-such-host.invalid" in run.stderr and "Traceback" not in run.output


def test_missing_secret_is_one_line(locust, moto):
    run = locust(*CONTENTION, "--headless", "-t", "3s", "--db-secret-id", "dbswarm/does-not-exist",
                 "--db-secret-endpoint", moto, timeout=60, env=AWS_ENV)
    assert run.returncode == 2
    assert "dbswarm: --db-secret-id dbswarm/does-not-exist: Secrets Manager refused (ResourceNotFoundException)" in run.stderr
    assert "Traceback" not in run.output


def test_missing_password_when_the_server_needs_one(locust, tls_server):
    run = locust(*CONTENTION, "--headless", "-t", "3s", "--db-port", str(tls_server.port), "--db-user", USER,
                 "--db-name", "sectest", timeout=60)
    assert run.returncode == 2
    assert f"dbswarm: cannot use MySQL at 127.0.0.1:{tls_server.port}: authentication failed for user '{USER}'" in run.stderr
    assert "Traceback" not in run.output


def test_wrong_ca_fails_with_one_line(locust, tls_server):
    run = locust(*CONTENTION, "--headless", "-t", "3s", "--db-port", str(tls_server.port), "--db-init",
                 "--db-ssl-ca", tls_server.certs["other-ca"], timeout=60)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.startswith("dbswarm:")]
    assert len(lines) == 1 and "TLS failed" in lines[0] and "CERTIFICATE_VERIFY_FAILED" in lines[0], run.stderr
    assert "(check --db-ssl-ca)" in lines[0]
    assert "Traceback" not in run.output


def in_plugin_process(code: str, env=None) -> str:
    """Run code that imports plugins (and so locust's gevent patching) in its own interpreter.

    Importing locust here would monkey-patch the pytest process and turn the
    thread-based lock tests of other modules into a blocked single thread.
    """
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_right_ca_connects_verified(tls_server):
    out = in_plugin_process(f"""
from plugins.config import DbConfig
from plugins.engines.drivers import MySQLDriver
cfg = DbConfig("mysql", port={tls_server.port}, user={USER!r}, password={PASSWORD!r}, ssl_ca={tls_server.certs['ca']!r})
conn = MySQLDriver.connect(cfg, database="")
cur = conn.cursor()
cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
print("cipher=" + cur.fetchone()[1])
""")
    assert out.startswith("cipher=") and len(out.strip()) > len("cipher=")  # the session is encrypted


def test_iam_token_is_signed_for_the_endpoint():
    """Offline SigV4 signing, as boto3 does it for Aurora; the token embeds no secret key."""
    host = "mycluster.cluster-abc123.eu-west-1.rds.amazonaws.com"
    out = in_plugin_process(f"""
from plugins import credentials
opts = type("O", (), {{"aws_region": None, "db_secret_id": None}})()
print(credentials.region_for(opts, {host!r}))
print(credentials.iam_token({host!r}, 3306, "app", "eu-west-1"))
""", env=AWS_ENV)
    region, token = out.split()
    assert region == "eu-west-1"
    assert token.startswith(f"{host}:3306/?Action=connect&DBUser=app&")
    assert "X-Amz-Credential=AKIDDBSWARMTEST%2F" in token and "%2Feu-west-1%2Frds-db%2Faws4_request" in token
    assert "X-Amz-Signature=" in token and AWS_SECRET not in token


def test_iam_auth_sends_a_token_not_the_password(locust, tls_server):
    """With --db-iam-auth the server receives a token (not accepted by MariaDB: authentication fails, one line)."""
    run = locust(*CONTENTION, "--headless", "-t", "3s", "--db-port", str(tls_server.port), "--db-user", USER,
                 "--db-iam-auth", "--aws-region", "us-east-1", "--db-ssl-ca", tls_server.certs["ca"],
                 timeout=60, env=AWS_ENV)
    assert run.returncode == 2
    assert f"authentication failed for user '{USER}'" in run.stderr
    assert "X-Amz-Signature" not in run.output and AWS_SECRET not in run.output
