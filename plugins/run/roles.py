"""Who does what in a run, and how a plugin speaks to the user from there.

Checks, observing, merging and end-of-run output happen once per run: on the
master or the local runner, never on a worker. Every plugin asks here, so the
one subtle case (a worker joining a running test gets its first spawn message
before Locust has set ``environment.runner``) is handled in one place.
"""

from __future__ import annotations

import os
import signal
import sys

from locust import events
from locust.runners import MasterRunner, WorkerRunner

EXIT_REFUSED = 2

_worker_process = False  # set at init, for code that has no environment at hand (e.g. counters.total)


def is_worker(environment) -> bool:
    opts = environment.parsed_options
    return (opts is not None and bool(getattr(opts, "worker", False))) or isinstance(environment.runner, WorkerRunner)


def is_master(environment) -> bool:
    """The master of a distributed run (not a local runner)."""
    return isinstance(environment.runner, MasterRunner)


def master_or_local(environment) -> bool:
    return environment.parsed_options is not None and not is_worker(environment)


def worker_process() -> bool:
    """This process is a worker (known from Locust's init on)."""
    return _worker_process


@events.init.add_listener
def _remember(environment, **_kwargs):
    global _worker_process
    _worker_process = is_worker(environment)


def refuse(problems: list[str]) -> None:
    """End the process before any load: one ``dbswarm: ...`` line per problem, exit code 2.

    No problems, nothing to do: a plugin writes ``refuse(validate(opts))``.
    """
    if not problems:
        return
    for line in problems:
        sys.stderr.write(f"dbswarm: {line}\n")
    sys.stderr.flush()
    _stop_forked_workers()
    sys.exit(EXIT_REFUSED)


def _stop_forked_workers() -> None:
    """Stop the workers ``--processes`` forked from this process, if any.

    Locust 2.47's exit hook means to SIGINT them, but it drops every child
    whose ``waitpid(WNOHANG)`` says "still running" from its list first, so
    after a refusal the workers wait 60 s for a master heartbeat and keep the
    terminal (or a CI step reading their output) open. A forked worker has
    this process as its parent and the same command line.
    """
    me = os.getpid()
    try:
        with open(f"/proc/{me}/cmdline", "rb") as f:
            cmdline = f.read()
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:  # no /proc (not Linux): they time out on their own
        return
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            if parent != me:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() != cmdline:
                    continue
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue


def print_block(lines: list[str]) -> None:
    """A block of end-of-run lines on stdout, next to Locust's summary."""
    if lines:
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
        sys.stdout.flush()
