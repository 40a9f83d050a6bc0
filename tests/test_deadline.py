"""The query deadline measures each operation, not the time a connection has spent in operations.

CI failed twice with one ``query-timeout`` per user in a 15 s run whose slowest
request took under 100 ms: the deadline was a gevent Timeout restarted around
each operation, and gevent's libev loop resumes a restarted Timeout with the
time that was left (gevent #1890). So a user that spent ``--db-query-timeout``
seconds in queries, in all, failed its next one. The runs here give each user
several times the deadline in query time, through the locust command line.
"""

from __future__ import annotations

import time

import gevent
import pytest
from conftest import mysql_conn, unique_name, why

from plugins.deadline import Deadline


def _cumulative_query_seconds_per_user(run, users: int) -> float:
    return sum(e["total_response_time"] for e in run.stats if not e["name"].startswith("connect")) / 1000.0 / users


def test_restarted_around_short_operations_it_never_fires():
    deadline, start = Deadline(0.3), time.perf_counter()
    for _ in range(12):  # 1.2 s of operations of 0.1 s each, 4 times the deadline in all
        deadline.start()
        try:
            gevent.sleep(0.1)
        finally:
            deadline.cancel()
    assert time.perf_counter() - start > 1.1


def test_it_fires_at_its_time_and_again_at_its_time_after_a_restart():
    deadline = Deadline(0.2)
    for _ in range(3):
        start = time.perf_counter()
        with pytest.raises(Deadline) as caught:
            deadline.start()
            try:
                gevent.sleep(1)
            finally:
                deadline.cancel()
        assert caught.value is deadline
        assert 0.19 < time.perf_counter() - start < 0.5


def test_an_answer_that_arrives_in_the_turn_of_the_expiry_wins_and_the_next_operation_is_not_cut():
    deadline, outcome = Deadline(0.3), []

    def user():
        deadline.start()
        try:
            gevent.sleep(0.1)  # the answer; the process stalls past the deadline before it is read
        finally:
            deadline.cancel()
        start = time.perf_counter()
        deadline.start()
        try:
            gevent.sleep(0.1)
            outcome.append(("next operation ran", round(time.perf_counter() - start, 2)))
        except Deadline:
            outcome.append(("next operation cut", round(time.perf_counter() - start, 2)))
        finally:
            deadline.cancel()

    gevent.spawn_later(0.05, time.sleep, 0.5)  # blocks the whole process, as a stalled machine does
    gevent.spawn(user).join()
    assert outcome == [("next operation ran", 0.1)], outcome


def test_no_deadline_does_nothing():
    deadline = Deadline(0)
    deadline.start()
    gevent.sleep(0.05)
    deadline.cancel()
    assert str(deadline) == "no deadline" and str(Deadline(1.5)) == "no answer within 1.5s"


def test_postgres_users_spend_many_deadlines_in_queries_without_a_false_timeout(locust, pg_db):
    run = locust("-f", "locustfiles/transactions.py", "--headless", "-u", "4", "-r", "4", "-t", "6s",
                 "--db-name", pg_db, "--db-init", "--tx-seed-rows", "100", "--db-query-timeout", "1",
                 "--only-summary", timeout=90)
    assert run.returncode == 0, why(run.output)
    assert run.failures() == 0, why(run.output)
    assert run.count("connect") == 4  # no connection was dropped and opened again
    assert _cumulative_query_seconds_per_user(run, 4) > 2.0  # at least twice the deadline per user


def test_mysql_users_spend_many_deadlines_in_queries_without_a_false_timeout(locust):
    db = unique_name()
    run = locust("-f", "tests/locustfiles/compare_probe.py", "--headless", "-u", "4", "-r", "4", "-t", "6s",
                 "--db-init", "--db-name", db, "--probe-sleep-ms", "20", "--db-query-timeout", "0.5",
                 "--only-summary", "--no-db-stats-console", timeout=90)
    try:
        assert run.returncode == 0, why(run.output)
        assert run.failures() == 0, why(run.output)
        assert run.count("connect") == 4
        assert _cumulative_query_seconds_per_user(run, 4) > 2.0  # at least 4 times the deadline per user
    finally:
        with mysql_conn() as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
