"""The TPC-C specification's random functions (v5.11 clauses 2.1.6, 4.3.2).

NURand(A, x, y) = (((random(0, A) | random(x, y)) + C) % (y - x + 1)) + x,
with one C per field (C_LAST A=255, C_ID A=1023, OL_I_ID A=8191) shared by
every terminal of a run. C_LAST's run value must differ from the value the
data was loaded with by a delta in [65, 119] other than 96 and 112
(clause 2.1.6.1), so the loader records its C_LAST and ``run_constants``
picks the run's three values from it.
"""

from __future__ import annotations

import random
import string

A_C_LAST, A_C_ID, A_OL_I_ID = 255, 1023, 8191
SYLLABLES = ("BAR", "OUGHT", "ABLE", "PRI", "PRES", "ESE", "ANTI", "CALLY", "ATION", "EING")
DELTA_MIN, DELTA_MAX, DELTA_EXCLUDED = 65, 119, (96, 112)

_ALNUM = string.ascii_letters + string.digits
_DIGITS = string.digits
# Random strings are slices of a large random pool: the load makes millions of them
# and the specification asks only for random alphanumeric text of a random length.
_POOL_SIZE = 1 << 16
_pool = "".join(random.choices(_ALNUM, k=_POOL_SIZE + 600))
_digit_pool = "".join(random.choices(_DIGITS, k=_POOL_SIZE + 64))


def nurand(a: int, x: int, y: int, c: int) -> int:
    return (((random.randint(0, a) | random.randint(x, y)) + c) % (y - x + 1)) + x


def last_name(number: int) -> str:
    """C_LAST for a number 0..999: three syllables, one per digit (clause 4.3.2.3)."""
    return SYLLABLES[number // 100] + SYLLABLES[(number // 10) % 10] + SYLLABLES[number % 10]


def delta_ok(c_run: int, c_load: int) -> bool:
    delta = abs(c_run - c_load)
    return DELTA_MIN <= delta <= DELTA_MAX and delta not in DELTA_EXCLUDED


def c_last_for_run(c_load: int) -> int:
    """A C_LAST run constant in [0, 255] satisfying the delta rule against ``c_load``."""
    return random.choice([c for c in range(A_C_LAST + 1) if delta_ok(c, c_load)])


def run_constants(c_load: int | None) -> dict:
    """The run's C values; ``c_load`` None (data not loaded by dbswarm) gives an arbitrary C_LAST."""
    c_last = random.randint(0, A_C_LAST) if c_load is None else c_last_for_run(c_load)
    return {"c_last": c_last, "c_id": random.randint(0, A_C_ID), "ol_i_id": random.randint(0, A_OL_I_ID)}


def astring(lo: int, hi: int) -> str:
    """Random alphanumeric text of lo..hi characters (no quote or separator ever needs escaping)."""
    n = random.randint(lo, hi) if hi > lo else lo
    start = random.randrange(_POOL_SIZE)
    return _pool[start:start + n]


def nstring(n: int) -> str:
    start = random.randrange(_POOL_SIZE)
    return _digit_pool[start:start + n]


def original(lo: int, hi: int) -> str:
    """I_DATA / S_DATA: 10 % hold "ORIGINAL" at a random position (clause 4.3.3.1)."""
    text = astring(lo, hi)
    if random.random() < 0.1:
        at = random.randint(0, len(text) - 8)
        text = text[:at] + "ORIGINAL" + text[at + 8:]
    return text


def zip_code() -> str:
    return nstring(4) + "11111"


def other_warehouse(home: int, warehouses: int) -> int:
    """A warehouse other than ``home`` (home itself when there is only one)."""
    if warehouses < 2:
        return home
    other = random.randint(1, warehouses - 1)
    return other + 1 if other >= home else other
