"""Each load shape produces the user counts it promises, read back from Locust's stats history."""

import csv
import itertools
import re
from datetime import datetime

import pytest
from conftest import why

LIGHT = ("--oltp-mode", "read_only", "--oltp-table-size", "200", "--wait-min", "0.1", "--wait-max", "0.2")


def shape_started_at(output: str) -> float:
    """When Locust logged "Shape test starting." (its log's local time, as epoch seconds).

    The shape's clock starts there; the stats history starts earlier, when the CSV writer starts, before
    the preflight and --db-init, which on a loaded machine take seconds.
    """
    m = re.search(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\][^\n]*Shape test starting", output, re.M)
    assert m, output[-2000:]
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(m.group(2)) / 1000


@pytest.fixture
def shaped(locust, mysql_db, tmp_path):
    """Run oltp.py with a shape (no -t: the shape ends the run); return (run, [(second, users), ...]).

    Seconds count from the shape's start; a history row's whole-second timestamp is up to 1 s before the
    moment it was written, so a row at ``t`` saw the shape at ``t`` to ``t + 1`` s.
    """

    def _run(*args):
        prefix = str(tmp_path / "shape")
        run = locust("-f", "locustfiles/oltp.py", "--headless", "--db-engine", "mysql", "--db-name", mysql_db,
                     "--db-init", *LIGHT, "--csv", prefix, "--csv-full-history", *args, timeout=60)
        assert run.returncode == 0, why(run.output)
        with open(prefix + "_stats_history.csv") as f:
            rows = [(int(r["Timestamp"]), int(r["User Count"])) for r in csv.DictReader(f) if r["Name"] == "Aggregated"]
        start = shape_started_at(run.output)
        return run, [(round(t - start, 3), users) for t, users in rows if t >= int(start)]

    return _run


def levels(history):
    """Distinct user counts in order, dropping one-sample transients while users spawn."""
    runs = [(users, len(list(group))) for users, group in itertools.groupby(u for _, u in history)]
    return [users for users, n in runs if n >= 2]


def seconds_at(history, users):
    return sum(1 for _, u in history if u == users)


def test_lab_ramp_adds_a_step_every_period_then_holds(shaped):
    run, history = shaped("--shape", "ramp", "--step-users", "2", "--step-seconds", "2", "--step-max-users", "6",
                          "--step-spawn-rate", "50", "--step-hold-seconds", "4")
    assert levels(history) == [2, 4, 6], history
    assert max(u for _, u in history) == 6
    assert seconds_at(history, 6) >= 3  # held
    assert 6 <= history[-1][0] <= 12  # 4 s of steps + 4 s hold, then the shape ends the run
    assert "Shape test completed" in run.output


def test_steps_hold_each_step_until_the_maximum(shaped):
    _, history = shaped("--shape", "steps", "--step-users", "3", "--step-seconds", "3", "--step-max-users", "9",
                        "--step-spawn-rate", "50")
    assert levels(history) == [3, 6, 9], history
    for users in (3, 6, 9):
        assert 2 <= seconds_at(history, users) <= 4, (users, history)


def test_spike_jumps_holds_and_drops_to_zero(shaped):
    _, history = shaped("--shape", "spike", "--spike-users", "12", "--spike-idle-seconds", "3",
                        "--spike-rise-seconds", "1", "--spike-hold-seconds", "4")
    assert levels(history) == [0, 12, 0], history
    first = next(t for t, u in history if u > 0)
    full = next(t for t, u in history if u == 12)
    assert 2 <= first <= 5 and round(full - first) <= 2  # idle first, then the jump within seconds
    last_full = max(t for t, u in history if u == 12)
    assert 3 <= round(last_full - full) <= 5  # held
    assert seconds_at(history[history.index((last_full, 12)):], 0) >= 2  # idle again at zero


def test_csv_profile_follows_its_rows(shaped, tmp_path):
    profile = tmp_path / "profile.csv"
    profile.write_text("seconds,users,spawn_rate\n3,2,20\n6,7,20\n9,1,20\n")
    _, history = shaped("--shape", "csv", "--shape-csv", str(profile))
    assert levels(history) == [2, 7, 1], history
    assert 8 <= history[-1][0] <= 13


def test_bad_profile_is_one_line_exit_2(locust, tmp_path):
    profile = tmp_path / "bad.csv"
    profile.write_text("3,2,20\n2,7,20\n")
    run = locust("-f", "locustfiles/oltp.py", "--headless", "--shape", "csv", "--shape-csv", str(profile))
    assert run.returncode == 2
    assert f"dbswarm: --shape-csv {profile}: line 2: need seconds > 0 and increasing" in run.stderr
    run = locust("-f", "locustfiles/oltp.py", "--headless", "--shape", "csv")
    assert run.returncode == 2 and "dbswarm: --shape csv: needs --shape-csv FILE" in run.stderr
