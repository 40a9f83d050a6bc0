"""sysbench oltp_point_select and pgbench -S: the C generators as the floor.

Both run one point select per event (sysbench --point-selects=1; pgbench's
built-in select-only script), threads = users, and report their own counts;
latencies come from sysbench's histogram and pgbench's per-transaction log.
"""

from __future__ import annotations

import glob
import os
import re
import shutil

from bench import db


def available(engine: str) -> bool:
    return shutil.which("sysbench" if engine == "mysql" else "pgbench") is not None


def prepare(engine: str) -> None:
    import subprocess

    if engine == "mysql":
        base = _sysbench_args(1)
        subprocess.run([*base, "cleanup"], capture_output=True)
        subprocess.run([*base, "prepare"], check=True, capture_output=True)
    else:
        subprocess.run(["pgbench", "-i", "-q", "-s", "1", "-h", db.PG["host"], "-p", str(db.PG["port"]),
                        "-U", db.PG["user"], db.DATABASE], check=True, capture_output=True)


def _sysbench_args(users: int) -> list[str]:
    return ["sysbench", "oltp_point_select", "--db-driver=mysql", f"--mysql-host={db.MYSQL['host']}",
            f"--mysql-port={db.MYSQL['port']}", f"--mysql-user={db.MYSQL['user']}", f"--mysql-db={db.DATABASE}",
            "--tables=1", f"--table-size={db.ROWS}", "--point-selects=1", f"--threads={users}"]


def command(engine: str, users: int, seconds: float, workdir: str) -> list[str]:
    secs = str(max(1, int(round(seconds))))
    if engine == "mysql":
        return [*_sysbench_args(users), f"--time={secs}", "--histogram=on", "--report-interval=0", "run"]
    return ["pgbench", "-S", "-n", "-c", str(users), "-j", "1", "-T", secs, "-l",
            f"--log-prefix={os.path.join(workdir, 'pgbench_log')}", "-h", db.PG["host"], "-p", str(db.PG["port"]),
            "-U", db.PG["user"], db.DATABASE]


def parse(engine: str, stdout: str, workdir: str) -> tuple[int, list[float]]:
    """(queries completed, latencies in µs) of a whole run."""
    if engine == "mysql":
        count = int(re.search(r"read:\s+(\d+)", stdout).group(1))
        lat = []
        for m in re.finditer(r"^\s*([\d.]+)\s+\|\**\s+(\d+)\s*$", stdout, re.M):
            lat.extend([float(m.group(1)) * 1000.0] * int(m.group(2)))
        return count, lat
    count = int(re.search(r"number of transactions actually processed: (\d+)", stdout).group(1))
    lat = []
    for path in glob.glob(os.path.join(workdir, "pgbench_log*")):
        with open(path) as f:
            lat.extend(float(line.split()[2]) for line in f if line.strip())
    return count, lat
