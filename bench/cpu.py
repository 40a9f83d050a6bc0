"""CPU seconds of a process tree and of the database servers, from the OS (psutil /proc)."""

from __future__ import annotations

import psutil

SERVER_NAMES = {"mysql": ("mariadbd", "mysqld"), "postgres": ("postgres",)}


def _cpu(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0


def tree(pid: int) -> dict[int, float]:
    """{pid: user+sys CPU seconds} of a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    return {p.pid: _cpu(p) for p in procs}


def servers(engine: str) -> dict[int, float]:
    names = SERVER_NAMES[engine]
    return {p.pid: _cpu(p) for p in psutil.process_iter(["name"]) if p.info["name"] in names}


def delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two samples; processes born in between count from zero."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)
