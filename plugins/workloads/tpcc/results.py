"""The HammerDB-style result of a TPC-C run: NOPM, TPM (client and server), latency per transaction.

Pure functions of the figures the run collected (``run`` gathers them), so
the console block, the run report's table and the tests read the same
numbers. NOPM counts New-Orders the users committed; the client TPM counts
every transaction that ended as the mix says (commits, and the New-Orders
rolled back on purpose); the server TPM is the database's own commit and
rollback counters over the same span, which also count retried deadlocks and
whatever else ran on the server meanwhile (MySQL's counters are global).
"""

from __future__ import annotations

from .transactions import TRANSACTIONS

SERVER_COUNTERS = {"mysql": "Com_commit + Com_rollback", "postgres": "xact_commit + xact_rollback"}


def figures(*, seconds: float, new_orders: int, completed: int, server_delta: int | None, rollbacks: int,
            deliveries: int, skipped: int) -> dict:
    minutes = max(seconds, 1e-9) / 60.0
    return {
        "seconds": round(seconds, 1),
        "nopm": round(new_orders / minutes),
        "tpm_client": round(completed / minutes),
        "tpm_server": None if server_delta is None else round(server_delta / minutes),
        "new_orders": new_orders,
        "transactions": completed,
        "rollbacks": rollbacks,
        "deliveries": deliveries,
        "skipped_districts": skipped,
    }


def latency_rows(hdr_rows: list[dict]) -> list[dict]:
    """The five transactions (and the planned rollbacks) from the HDR table, µs."""
    wanted = [*TRANSACTIONS, "new_order: rollback"]
    by_name = {r["name"]: r for r in hdr_rows}
    return [{"transaction": name, "count": by_name[name]["count"], "p50": by_name[name]["p50"],
             "p90": by_name[name]["p90"], "p99": by_name[name]["p99"]} for name in wanted if name in by_name]


def block(f: dict, latency: list[dict], *, warehouses: int, users: int, engine: str) -> list[str]:
    server = "n/a" if f["tpm_server"] is None else f"{f['tpm_server']:,}"
    no_total = f["new_orders"] + f["rollbacks"]
    lines = [
        f"TPC-C result (TPROC-C-like): {warehouses} warehouse{'s' * (warehouses != 1)}, {users} users, "
        f"{f['seconds']:g}s",
        f"  NOPM: {f['nopm']:,}   (New-Orders committed per minute, from the users' commits)",
        f"  TPM:  {f['tpm_client']:,} client   {server} server ({SERVER_COUNTERS.get(engine, '?')})",
        f"  new_order: {f['new_orders']:,} committed, {f['rollbacks']:,} rolled back on an unused item "
        f"({100.0 * f['rollbacks'] / max(1, no_total):.1f} %)",
        f"  delivery: {f['deliveries']:,} committed, {f['skipped_districts']:,} districts skipped "
        f"({100.0 * f['skipped_districts'] / max(1, 10 * f['deliveries']):.1f} % of districts)",
    ]
    if latency:
        lines.append(f"  {'transaction':<22}{'count':>9}{'p50 µs':>10}{'p90 µs':>10}{'p99 µs':>10}")
        for r in latency:
            lines.append(f"  {r['transaction']:<22}{r['count']:>9}{r['p50']:>10}{r['p90']:>10}{r['p99']:>10}")
    return lines


def report_rows(f: dict) -> list[dict]:
    """The figures as rows of the run report's table."""
    return [{"figure": k, "value": "n/a" if v is None else v} for k, v in f.items()]


TAB_COLUMNS = [("figure", "TPC-C"), ("value", "Value"), ("about", "What it counts")]


def tab_rows(f: dict, *, state: str, engine: str, warehouses: int, users: int,
             checks: list[tuple[bool, str]] | None) -> list[dict]:
    """The web UI's TPC-C tab: the block's figures as rows, live (``running``) or the result (``stopped``).

    Live figures are the users' commits merged so far (a worker's arrive with its report, every few seconds);
    the server's TPM needs the database and is read once, at the stop.
    """
    server = SERVER_COUNTERS.get(engine, "?")
    rows = [
        {"figure": "test", "value": state,
         "about": f"{f['seconds']:g}s, {users} users on {warehouses} warehouse{'s' * (warehouses != 1)}"},
        {"figure": "NOPM", "value": f"{f['nopm']:,}",
         "about": "New-Orders committed per minute, from the users' commits"},
        {"figure": "TPM (client)", "value": f"{f['tpm_client']:,}",
         "about": "transactions ended as the mix says (commits and planned rollbacks) per minute"},
        {"figure": "TPM (server)", "value": "at the stop" if f["tpm_server"] is None else f"{f['tpm_server']:,}",
         "about": f"the database's {server} per minute"},
        {"figure": "New-Orders committed", "value": f"{f['new_orders']:,}",
         "about": f"{f['rollbacks']:,} rolled back on an unused item (the 1 % by design)"},
        {"figure": "Deliveries committed", "value": f"{f['deliveries']:,}",
         "about": f"{f['skipped_districts']:,} districts skipped (no undelivered order)"},
    ]
    for ok, text in checks or ():
        rows.append({"figure": "consistency check", "value": "PASS" if ok else "FAIL", "about": text})
    return rows
