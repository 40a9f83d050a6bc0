"""TPC-C in a Locust run: options, terminals, the counters behind NOPM/TPM, the result and the checks.

The master (or local runner) reads the database's facts (warehouses loaded,
items, customers per district, the C_LAST the data was loaded with) when a
test starts, picks the run's NURand constants and hands them to the workers
inside the options of the spawn message, so every terminal of a run draws
with the same C values (clause 2.1.6). Each user is a terminal with a home
warehouse and district, spread as HammerDB spreads its virtual users: the
n-th user of the run gets warehouse n mod W + 1. Commits are counted with
``plugins.counters`` (merged on the master), never twice: a transaction
counts only once DbSession.transaction returned its committed result.
"""

from __future__ import annotations

import logging
import time

import gevent
from locust import events

from ...observe import hdr_latency, run_report, web_db_tab
from ...run import counters
from ...run.roles import is_worker, master_or_local, print_block, refuse
from ...config import MYSQL
from ...options import option_group
from ...users import DatabaseUser
from . import check, db, loader, rand, results, schema
from .transactions import KEYING, MIX, TRANSACTIONS, Terminal, think_time

# Counters (merged on the master; with --cloudwatch each becomes a metric: NOPM's Sum over a
# minute is the NOPM, TPM's the client TPM).
NEW_ORDERS, COMPLETED = "NOPM", "TPM"
ROLLBACKS, DELIVERIES, SKIPPED = "tpcc_rollbacks", "tpcc_deliveries", "tpcc_skipped_districts"
COUNTERS = (NEW_ORDERS, COMPLETED, ROLLBACKS, DELIVERIES, SKIPPED)
LAYOUT = "tpcc_layout"  # set in the master's options, so it reaches the workers with the spawn message
TAB = "tpcc"  # the web UI's TPC-C tab
USERS_PER_WAREHOUSE = 10
logger = logging.getLogger("dbswarm")

_scenario = None
_layout: dict = {}  # this process's copy of the run's layout
_started = 0  # users started in this process since the test started
_run: dict = {}  # master or local runner: baselines, times, the result


def use(scenario) -> None:
    """The locustfile's Scenario (its database settings); a locustfile that runs TPC-C gets the web UI's TPC-C tab."""
    global _scenario
    _scenario = scenario
    if not any(tab[1] == TAB for tab in web_db_tab.extra_tabs):
        web_db_tab.extra_tabs.append(("TPC-C", TAB, results.TAB_COLUMNS, tab_rows))


# -- options -------------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "tpcc", "TPC-C-like OLTP (HammerDB TPROC-C) on sysbench-tpcc's tables")
    add("tpcc-warehouses", type=int, default=1, help="Warehouses W: --db-init loads 1..W, users spread over them")
    add("tpcc-keying", action="store_true", default=False,
        help="The specification's keying and think times (10 terminals per warehouse: use -u 10*W)")
    add("tpcc-check", action="store_true", default=False,
        help="Run the consistency conditions 1-4 at the end (exit code 3 on a failure)")
    add("tpcc-load-workers", type=int, default=0, help="Loader processes for --db-init (0: one per CPU, at most W+1)")
    add("tpcc-scale-down", type=int, default=1,
        help="TESTS ONLY: divide items and customers per district by N (1 = the specification's 100000 and 3000)")
    for name, weight in MIX.items():
        add(f"tpcc-{name.replace('_', '-')}-weight", type=int, default=weight,
            help=f"Weight of {name} in the mix (default {weight})")


def weights(opts) -> dict:
    return {name: int(getattr(opts, f"tpcc_{name}_weight")) for name in MIX}


def validate(opts) -> list[str]:
    problems = []
    w = opts.tpcc_warehouses
    if not 1 <= w <= 32767:
        problems.append(f"--tpcc-warehouses {w}: must be between 1 and 32767")
    if not 1 <= opts.tpcc_scale_down <= 30:
        problems.append(f"--tpcc-scale-down {opts.tpcc_scale_down}: must be between 1 and 30")
    if not 0 <= opts.tpcc_load_workers <= 64:
        problems.append(f"--tpcc-load-workers {opts.tpcc_load_workers}: must be between 0 and 64")
    mix = weights(opts)
    for name, weight in mix.items():
        if weight < 0:
            problems.append(f"--tpcc-{name.replace('_', '-')}-weight {weight}: must not be negative")
    if sum(max(0, v) for v in mix.values()) == 0:
        problems.append("--tpcc-*-weight: at least one transaction needs a weight above 0")
    return problems


def create(cursor, opts, engine):
    """--db-init (see loader.create); a failed loader ends the run with one line."""
    try:
        loader.create(cursor, opts, engine, _scenario.config(opts))
    except loader.LoadError as exc:
        from ...run.preflight import PreflightError

        raise PreflightError(str(exc)) from None


# -- facts and layout ------------------------------------------------------------------------------


def facts(cursor, engine: str) -> dict:
    cursor.execute("SELECT w_id FROM warehouse1")
    loaded = sorted(int(r[0]) for r in cursor.fetchall())
    c_load = None
    if schema.NURAND_TABLE in schema.existing_tables(cursor, engine):
        c_load = db.scalar(cursor, f"SELECT c_last_load FROM {schema.NURAND_TABLE}")
    return {
        "loaded": loaded,
        "items": int(db.scalar(cursor, "SELECT MAX(i_id) FROM item1") or 0),
        "customers": int(db.scalar(cursor, "SELECT MAX(c_id) FROM customer1 WHERE c_w_id = 1 AND c_d_id = 1") or 0),
        "c_load": c_load,
    }


def missing(opts, found: dict) -> list[str]:
    w = opts.tpcc_warehouses
    absent = [n for n in range(1, w + 1) if n not in set(found["loaded"])]
    if absent or not found["items"] or not found["customers"]:
        held = f"warehouses {found['loaded'][0]}..{found['loaded'][-1]}" if found["loaded"] else "no warehouse"
        return [f"--tpcc-warehouses {w}: the database holds {held} (load them with --db-init)"]
    return []


def _with_cursor(environment, fn):
    cfg = _scenario.config(environment.parsed_options)
    conn = db.connect(cfg)
    try:
        return fn(conn.cursor(), cfg.engine)
    finally:
        conn.close()


def server_transactions(cursor, engine: str) -> int:
    """The server's own count of transactions ended (commits + rollbacks)."""
    if engine == MYSQL:
        cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_commit', 'Com_rollback')")
        return sum(int(v) for _, v in cursor.fetchall())
    cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
    return int(cursor.fetchone()[0])


@events.init.add_listener
def _on_init(environment, **_kwargs):
    """After the preflight (registered before this): refuse a run on warehouses that are not loaded."""
    if _scenario is None or not master_or_local(environment):
        return
    try:
        found = _with_cursor(environment, facts)
    except Exception as exc:  # noqa: BLE001 - the preflight already said what is wrong with the connection
        refuse([f"tpcc: cannot read the TPC-C tables: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"])
        return
    refuse(missing(environment.parsed_options, found))
    run_report.sections.append(_report_section)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    global _started
    _started = 0
    opts = environment.parsed_options
    if _scenario is None or opts is None:
        return
    if not master_or_local(environment):
        _layout.clear()
        _layout.update(getattr(opts, LAYOUT, None) or {})
        return
    found, base = _with_cursor(environment, lambda cur, engine: (facts(cur, engine), server_transactions(cur, engine)))
    problems = missing(opts, found)
    if problems:
        for line in problems:
            logger.error("%s", line)
        gevent.spawn_later(0.1, environment.runner.stop)
    runner = environment.runner
    layout = {
        "workers": max(1, int(getattr(runner, "worker_count", 1) or 1)) if not _is_local(runner) else 1,
        "warehouses": opts.tpcc_warehouses, "items": found["items"], "customers": found["customers"],
        "constants": rand.run_constants(found["c_load"]), "keying": bool(opts.tpcc_keying),
    }
    setattr(opts, LAYOUT, layout)
    _layout.clear()
    _layout.update(layout)
    if found["c_load"] is None:
        logger.warning("tpcc: the data has no recorded C_LAST load constant (not loaded by dbswarm): "
                       "the run's C_LAST constant cannot be checked against it (clause 2.1.6.1)")
    _run.clear()
    _run.update(start=time.time(), server=base, counts={name: counters.total(name) for name in COUNTERS})


def _is_local(runner) -> bool:
    return type(runner).__name__ == "LocalRunner"


@events.spawning_complete.add_listener
def _on_spawned(user_count, **_kwargs):
    if not _layout or "start" not in _run:
        return
    w = _layout["warehouses"]
    if user_count > USERS_PER_WAREHOUSE * w:
        logger.warning("tpcc: %d users on %d warehouse%s: more than %d per warehouse, so they queue on the "
                       "same district rows (HammerDB warns likewise); load more with --tpcc-warehouses",
                       user_count, w, "s" * (w != 1), USERS_PER_WAREHOUSE)
    if _layout["keying"] and user_count != USERS_PER_WAREHOUSE * w:
        logger.warning("tpcc: --tpcc-keying models %d terminals per warehouse: use -u %d",
                       USERS_PER_WAREHOUSE, USERS_PER_WAREHOUSE * w)


@events.test_stopping.add_listener
def _on_test_stopping(environment, **_kwargs):
    """The run's span ends when the stop is asked for, not after the graceful stop (a keying user may sleep 18 s)."""
    if "start" in _run and "stop" not in _run and master_or_local(environment):
        _run["stop"] = time.time()


@events.spawning_complete.add_listener
def _remember_users(user_count, **_kwargs):
    _run["users"] = user_count


# -- the result ---------------------------------------------------------------------------------


def _counts() -> dict:
    """The users' counts since the test started (merged from every worker so far)."""
    return {name: counters.total(name) - _run["counts"].get(name, 0) for name in COUNTERS}


def _figures(server_delta: int | None) -> dict:
    counts = _counts()
    return results.figures(seconds=_run.get("stop", time.time()) - _run["start"], new_orders=counts[NEW_ORDERS],
                           completed=counts[COMPLETED], server_delta=server_delta, rollbacks=counts[ROLLBACKS],
                           deliveries=counts[DELIVERIES], skipped=counts[SKIPPED])


def _result(cursor, engine) -> tuple[dict, list[dict]]:
    """The figures and latency rows; kept once the test has stopped, so the block, the run report and the tab agree.

    Before the stop (the run report on demand while the test runs) they are the figures so far, not kept: the
    result of the run is the one at its end.
    """
    if "figures" in _run:
        return _run["figures"], _run["latency"]
    if engine != MYSQL:
        gevent.sleep(0.5)  # PostgreSQL counts a backend's transactions when it flushes its statistics
    f = _figures(server_transactions(cursor, engine) - _run["server"])
    latency = results.latency_rows(hdr_latency.table())
    if "stop" in _run:
        _run["figures"], _run["latency"] = f, latency
    return f, latency


def report(cursor, environment, engine):
    """The scenario's end-of-run block (printed by plugins.report on the master), unless a web UI stop printed it."""
    if "start" not in _run or _run.get("printed"):
        return []
    f, latency = _result(cursor, engine)
    return results.block(f, latency, warehouses=_layout.get("warehouses", 0), users=_run.get("users", 0),
                         engine=engine)


def _report_section(environment):
    if "start" not in _run or _scenario is None:
        return None
    # The run report is written before the scenario's end-of-run block (quitting runs in reverse).
    f, latency = _with_cursor(environment, _result)
    rows = results.report_rows(f) + [
        {"figure": f"{r['transaction']} p50/p90/p99 µs", "value": f"{r['p50']} / {r['p90']} / {r['p99']}"}
        for r in latency
    ]
    return "TPC-C result (NOPM, TPM)", rows, ["figure", "value"]


def _run_checks(opts) -> list[tuple[bool, str]]:
    """Consistency conditions 1-4 on the run's database; one FAIL line when it cannot be read."""
    cfg = _scenario.config(opts)
    try:
        conn = db.connect(cfg)
        try:
            return check.run_checks(conn, cfg.engine)
        finally:
            conn.close()
    except db.errors(cfg.engine) as exc:
        return [(False, f"could not read {cfg.where()}: {str(exc).strip().splitlines()[0]}")]


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    """A test started from the web UI ends at its STOP, not at quit (one process serves many tests).

    So its result and, with --tpcc-check (a box of the start form too), its consistency checks are printed then
    and shown in the TPC-C tab; quitting prints neither again and takes its exit code from those checks.
    """
    opts = environment.parsed_options
    if _scenario is None or "start" not in _run or not master_or_local(environment) or opts.headless:
        return
    if _run.get("printed"):
        return
    try:
        lines = _with_cursor(environment, lambda cursor, engine: report(cursor, environment, engine))
    except db.errors(_scenario.config(opts).engine) as exc:
        lines = [f"tpcc: could not read the result from {_scenario.config(opts).where()}: "
                 f"{str(exc).strip().splitlines()[0]}"]
    _run["printed"] = True
    if opts.tpcc_check:
        _run["checks"] = _run_checks(opts)
        lines += check.lines(_run["checks"])
    print_block(lines)


def tab_rows(environment) -> list[dict]:
    """The web UI's TPC-C tab: NOPM and TPM live from the users' commits, the result and checks once stopped."""
    if "start" not in _run:
        return [{"figure": "test", "value": "not started", "about": "START a test: NOPM and TPM show here as it runs"}]
    final = _run.get("figures")
    state = "stopped" if final or _run.get("printed") else ("stopping" if "stop" in _run else "running")
    engine = _scenario.config(environment.parsed_options).engine
    return results.tab_rows(final or _figures(None), state=state, engine=engine, users=_run.get("users", 0),
                            warehouses=_layout.get("warehouses", 0), checks=_run.get("checks"))


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs):
    """First at quit, before the result is read: the span ends here; then the checks run, or reuse the stop's."""
    if "start" in _run:
        _run.setdefault("stop", time.time())
    opts = environment.parsed_options
    if _scenario is None or not master_or_local(environment) or not getattr(opts, "tpcc_check", False):
        return
    found = _run.get("checks")
    if found is None:
        found = _run_checks(opts)
        print("\n" + "\n".join(check.lines(found)), flush=True)
    if not all(ok for ok, _ in found):
        environment.process_exit_code = check.EXIT_FAILED


# -- the terminal ---------------------------------------------------------------------------------


class TpccTerminal(DatabaseUser):
    """One TPC-C terminal: a home warehouse and district, the mix's transactions one request each."""

    abstract = True

    def on_start(self):
        global _started
        super().on_start()
        runner = self.environment.runner
        worker = runner.worker_index if is_worker(self.environment) else 0
        index = _started * _layout.get("workers", 1) + max(0, worker)
        _started += 1
        w = _layout["warehouses"]
        self.terminal = Terminal(w=index % w + 1, d=(index // w) % 10 + 1, warehouses=w, items=_layout["items"],
                                 customers=_layout["customers"], constants=_layout["constants"])
        self.keying = _layout["keying"]
        self._think = 0.0

    def wait_time(self):
        if self.keying:
            return self._think
        return super().wait_time()

    def transact(self, name: str) -> None:
        """Run one transaction of the mix and count what it ended as."""
        if self.keying:
            gevent.sleep(KEYING[name])
        t = self.terminal
        t.outcome = None
        result = self.db.transaction(name, TRANSACTIONS[name], t)
        if result is not None:
            counters.incr(COMPLETED)
            if name == "new_order":
                counters.incr(NEW_ORDERS)
            elif name == "delivery":
                counters.incr(DELIVERIES)
                if result:
                    counters.incr(SKIPPED, result)
        elif t.outcome is not None:
            counters.incr(COMPLETED)
            if t.outcome == "rollback":
                counters.incr(ROLLBACKS)
        if self.keying:
            self._think = think_time(name)
