"""Reading ``--request-log PATH`` (one ``PATH.<pid>`` per process), the independent record of a paced run.

Lines: ``R <end> <scheduled start> <late> <ok> <first> <name>`` per request,
``K <scheduled start> <name>`` per skipped task, ``W <time>`` where the
process's warm-up ended (plugins/run/arrival.py writes them).
"""

from __future__ import annotations

import glob
import math


def _files(path) -> list[str]:
    files = sorted(glob.glob(str(path) + ".*"))
    assert files, "no request log written"
    return files


def after_warmup(path) -> list[list[list[str]]]:
    """Per process, the split lines after its warm-up mark (all of them without one)."""
    processes = []
    for name in _files(path):
        lines = [line.rstrip("\n").split(" ", 6) for line in open(name)]
        mark = next((i for i, f in enumerate(lines) if f[0] == "W"), None)
        processes.append(lines if mark is None else lines[mark + 1:])
    return processes


def warmup_ends(path) -> list[float]:
    """When each process's warm-up ended (epoch seconds), from its ``W`` line."""
    return [float(line.split()[1]) for name in _files(path) for line in open(name) if line.startswith("W ")]


def cv(times) -> float:
    """Coefficient of variation of the gaps between sorted times (1 for a Poisson stream, 0 for a grid)."""
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    mean = sum(gaps) / len(gaps)
    return math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps)) / mean


def merged_starts(processes) -> list[float]:
    """Every process's scheduled starts (sent or skipped), merged, over the span when all of them were sending.

    At the edges only some processes send (one's warm-up ends later, one stops
    sooner), so the merged rate there is lower and the gaps longer: enough to
    move a Poisson stream's CV off 1.
    """
    per = [sorted([float(f[2]) for f in p if f[0] == "R" and f[5] == "1"] + [float(f[1]) for f in p if f[0] == "K"])
           for p in processes]
    lo, hi = max(s[0] for s in per), min(s[-1] for s in per)
    return sorted(t for s in per for t in s if lo <= t <= hi)
