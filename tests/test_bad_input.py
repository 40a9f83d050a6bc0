"""Bad input is refused before any load: one line naming the option, exit code 2.

Each case runs the real locust command. None may print a traceback or the
password, and none may get as far as spawning a user.
"""

from __future__ import annotations

import pytest

from servers import free_port
from conftest import why

PASSWORD = "pw-Zq81-never-printed"
FLASH = ("-f", "locustfiles/flash_sale.py")

# (id, extra args, expected text in the one line, environment)
CASES = [
    ("port-out-of-range", ("--db-port", "70000"), "--db-port 70000: must be between 1 and 65535", None),
    ("reader-port-zero", ("--db-reader-port", "0"), "--db-reader-port 0: must be between 1 and 65535", None),
    ("zero-stock", ("--flash-stock", "0"), "--flash-stock 0: must be greater than 0", None),
    ("negative-stock", ("--flash-stock", "-5"), "--flash-stock -5: must be greater than 0", None),
    ("missing-ca-file", ("--db-ssl-ca", "/nonexistent/rds-ca.pem"), "--db-ssl-ca /nonexistent/rds-ca.pem: no such file", None),
    ("malformed-env-value", (), "--db-port abc: must be an integer", {"DBSWARM_DB_PORT": "abc"}),
    ("unresolvable-host", ("--db-host", "no-such-host.invalid"), "at no-such-host.invalid:3306: unknown host", None),
    ("reader-host-missing", ("--db-reader-host", "no-such-reader.invalid"),
     "reader at no-such-reader.invalid:3306: unknown host", None),
    # Both endpoints are checked: a writer problem does not hide the reader's.
    ("reader-host-missing-and-unknown-database",
     ("--db-name", "dbswarm_no_such_db", "--db-reader-host", "no-such-reader.invalid"),
     "reader at no-such-reader.invalid:3306: unknown host", None),
    ("refused-port", ("--db-port", "{free}"), "connection refused", None),
    ("wrong-password", ("--db-password", PASSWORD, "--db-user", "dbswarm_no_such_user"),
     "authentication failed for user 'dbswarm_no_such_user'", None),
    ("engine-conflict", ("--db-engine", "postgres"), "--db-engine postgres: the flash_sale scenario runs on mysql", None),
    ("bad-db-name", ("--db-name", "shop;drop"), "--db-name 'shop;drop': use letters, digits and _ only", None),
    ("negative-retries", ("--db-retries", "-1"), "--db-retries -1: must be between 0 and 100", None),
    ("zero-backoff", ("--db-retry-backoff", "0"), "--db-retry-backoff 0.0: must be greater than 0", None),
    ("backoff-cap-below-base", ("--db-retry-backoff", "2", "--db-retry-backoff-max", "1"),
     "--db-retry-backoff-max 1.0: must not be less than --db-retry-backoff 2.0", None),
    ("zero-connect-timeout", ("--db-connect-timeout", "0"), "--db-connect-timeout 0.0: must be greater than 0", None),
    ("query-timeout-too-long", ("--db-query-timeout", "45"),
     "--db-query-timeout 45: must be between 0 (none) and 30 seconds", None),
    ("negative-query-timeout", ("--db-query-timeout", "-1"),
     "--db-query-timeout -1: must be between 0 (none) and 30 seconds", None),
    ("wait-max-below-min", ("--wait-min", "2", "--wait-max", "1"), "--wait-max 1.0: must not be less than --wait-min 2.0", None),
    ("iam-without-tls", ("--db-iam-auth",), "--db-iam-auth: Aurora accepts IAM tokens only over TLS", None),
    ("malformed-secret-endpoint", ("--db-secret-id", "x", "--db-secret-endpoint", "localhost:4566"),
     "--db-secret-endpoint localhost:4566: not an http(s) URL", None),
]


@pytest.mark.parametrize("args,expected,env", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_one_line(locust, args, expected, env):
    args = tuple(a.replace("{free}", str(free_port())) for a in args)
    run = locust(*FLASH, "--headless", "-u", "5", "-t", "5s", *args, timeout=60, env=env)
    assert run.returncode == 2, why(run.output)
    problem_lines = [line for line in run.stderr.splitlines() if expected in line]
    assert len(problem_lines) == 1, run.stderr
    assert "Traceback" not in run.output
    assert PASSWORD not in run.output
    assert "Ramping to" not in run.output and not run.stats  # no load started


def test_malformed_locust_conf_value(locust, tmp_path):
    conf = tmp_path / "locust.conf"
    conf.write_text("db-retry-backoff = fast\n")
    run = locust(*FLASH, "--config", str(conf), "--headless", "-t", "5s", timeout=60)
    assert run.returncode == 2
    assert "--db-retry-backoff fast: must be a number" in run.stderr
    assert "Traceback" not in run.output


def test_unknown_locustfile_is_refused_by_locust(locust):
    run = locust("-f", "locustfiles/no_such_scenario.py", "--headless", "-t", "5s", timeout=60)
    # Locust itself checks -f before any plugin loads; its exit code is 1.
    assert run.returncode == 1
    assert "Could not find 'locustfiles/no_such_scenario.py'" in run.output
    assert "Traceback" not in run.output
