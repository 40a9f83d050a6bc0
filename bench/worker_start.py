"""Worker start time: from starting a worker process to the master saying it is connected.

Every worker process (and every pod) pays its imports before it can take
users, so this is what a run with many workers waits for at start. A real
master (headless, waiting for one worker) runs the flash sale's locustfile;
each repetition starts a fresh master and worker and stops both as soon as
the master logs the worker as ready.

    .venv/bin/python bench/worker_start.py [--repo DIR] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def once(repo: str, locustfile: str) -> float:
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", locustfile, "--master", "--headless", "--expect-workers", "1",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "-u", "1", "-r", "1", "-t", "30s",
         "--db-name", "dbswarm_worker_start", "--db-init", "--loglevel", "INFO"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    worker = None
    try:
        for line in master.stderr:  # the master is listening once it says it waits for workers
            if "Waiting for workers" in line or "waiting for workers" in line:
                break
        start = time.perf_counter()
        worker = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", locustfile, "--worker", "--master-host", "127.0.0.1",
             "--master-port", str(port)],
            cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for line in master.stderr:
            if "reported as ready" in line:
                return time.perf_counter() - start
        raise RuntimeError("the master ended before a worker connected")
    finally:
        for proc in (worker, master):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=REPO, help="the dbswarm tree to measure (default: this one)")
    ap.add_argument("--locustfile", default="locustfiles/flash_sale.py")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    times = [once(args.repo, args.locustfile) for _ in range(args.reps)]
    print(f"worker start: median {statistics.median(times):.3f}s  min {min(times):.3f}s  max {max(times):.3f}s  "
          f"({args.reps} runs: {' '.join(f'{t:.3f}' for t in times)})")


if __name__ == "__main__":
    main()
