"""One slow query must never freeze the other users of a process."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

PROBE = os.path.join(REPO, "tests", "probes", "coop_probe.py")


def probe(engine, users, *extra):
    out = subprocess.run([sys.executable, PROBE, engine, str(users), *extra], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_fifty_sleeping_users_overlap(engine):
    result = probe(engine, 50)
    assert result["done"] == 50
    assert result["span"] < 1.5, result


def test_blocking_driver_is_detected():
    """Control: without the wait callback psycopg2 serialises the sleeps (6 x 0.5 s)."""
    result = probe("postgres", 6, "--blocking")
    assert result["done"] == 6
    assert result["span"] >= 2.5, result
