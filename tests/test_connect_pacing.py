"""A spawn burst's connection handshakes are paced: a few in flight per process, never all at once."""

import json
from conftest import why

USERS = 60


def most_at_once(intervals):
    """The largest number of (start, end) intervals that overlap at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda edge: (edge[0], edge[1]))  # an end sorts before a start at the same instant
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def test_most_at_once_counts_overlaps():
    assert most_at_once([(0, 2), (1, 3), (2, 4)]) == 2
    assert most_at_once([(0, 1), (1, 2)]) == 1
    assert most_at_once([(0, 5)] * 3) == 3


def test_a_spawn_burst_connects_at_most_eight_at_a_time(locust, mysql_db, tmp_path):
    out = tmp_path / "connects.json"
    run = locust("-f", "tests/locustfiles/connect_probe.py", "--headless", "-u", str(USERS), "-r", str(USERS),
                 "-t", "3s", "--db-engine", "mysql", "--db-name", mysql_db, "--db-init",
                 env={"CONNECT_PROBE_OUT": str(out)})
    assert run.returncode == 0, why(run.output)
    intervals = json.loads(out.read_text())
    assert len(intervals) == USERS, len(intervals)  # one connect per user, all of them succeeded
    assert run.failures() == 0, why(run.output)
    # All 60 users start in the same instant; without the gate all 60 handshakes overlap.
    assert 4 <= most_at_once(intervals) <= 8, most_at_once(intervals)
