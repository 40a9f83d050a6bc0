"""Thresholds at the end of a run: one line per check, exit code 3 when one fails."""

from conftest import why

RUN = ("-f", "locustfiles/oltp.py", "--headless", "-u", "2", "-r", "2", "-t", "3s", "--db-engine", "mysql",
       "--oltp-mode", "read_only", "--oltp-table-size", "500", "--db-init")


def _lines(run):
    return [line for line in run.stdout.splitlines() if line.startswith("check ")]


def test_run_meeting_every_check_exits_0(locust, mysql_db):
    run = locust(*RUN, "--db-name", mysql_db, "--check-fail-ratio", "0.01",
                 "--check-p99-ms", "5000,oltp_read_only=5000", "--check-min-rps", "1", timeout=60)
    assert run.returncode == 0, why(run.output)
    lines = _lines(run)
    assert len(lines) == 4 and all(line.startswith("check PASS: ") for line in lines), lines
    assert any(line.startswith("check PASS: p99 of oltp_read_only ") for line in lines)


def test_violated_check_exits_3_naming_it(locust, mysql_db):
    run = locust(*RUN, "--db-name", mysql_db, "--check-fail-ratio", "0.01",
                 "--check-p99-ms", "oltp_read_only=0.5,no_such_op=100", "--check-min-rps", "1000000", timeout=60)
    assert run.returncode == 3, why(run.output)
    lines = _lines(run)
    assert any(line.startswith("check PASS: fail ratio 0.0000") for line in lines), lines
    assert any(line.startswith("check FAIL: p99 of oltp_read_only ") and "(limit 0.5 ms)" in line for line in lines)
    assert "check FAIL: p99 of no_such_op: no requests named 'no_such_op' (limit 100 ms)" in lines
    assert any(line.startswith("check FAIL: rps ") and "(minimum 1e+06)" in line for line in lines)
    assert "exit code 3" in run.output


def test_bad_threshold_is_one_line_exit_2(locust):
    run = locust(*RUN, "--check-p99-ms", "oltp=fast")
    assert run.returncode == 2
    assert "dbswarm: --check-p99-ms: 'oltp=fast' is not ms or NAME=ms" in run.stderr
    run = locust(*RUN, "--check-fail-ratio", "2", "--target-rps", "0")
    assert run.returncode == 2
    assert "dbswarm: --target-rps 0: must be greater than 0" in run.stderr
