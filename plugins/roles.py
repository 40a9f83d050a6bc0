"""Who does what in a run, and how a plugin speaks to the user from there.

Checks, observing, merging and end-of-run output happen once per run: on the
master or the local runner, never on a worker. Every plugin asks here, so the
one subtle case (a worker joining a running test gets its first spawn message
before Locust has set ``environment.runner``) is handled in one place.
"""

from __future__ import annotations

import sys

from locust.runners import WorkerRunner

EXIT_REFUSED = 2


def master_or_local(environment) -> bool:
    opts = environment.parsed_options
    return opts is not None and not getattr(opts, "worker", False) and not isinstance(environment.runner, WorkerRunner)


def refuse(problems: list[str]) -> None:
    """End the process before any load: one ``dbswarm: ...`` line per problem, exit code 2."""
    for line in problems:
        sys.stderr.write(f"dbswarm: {line}\n")
    sys.stderr.flush()
    sys.exit(EXIT_REFUSED)


def print_block(lines: list[str]) -> None:
    """A block of end-of-run lines on stdout, next to Locust's summary."""
    if lines:
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
        sys.stdout.flush()
