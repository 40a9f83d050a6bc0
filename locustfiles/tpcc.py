"""TPC-C-like OLTP, the HammerDB TPROC-C kind, on MySQL or PostgreSQL (``--db-engine``).

The five transactions of the TPC-C specification (v5.11, clause 2) in its
mix: New-Order 45, Payment 43, Order-Status 4, Delivery 4, Stock-Level 4
(``--tpcc-*-weight``). Each user is a terminal with a home warehouse; each
transaction is one request under its name, the 1 % of New-Orders that roll
back on an unused item as ``new_order: rollback``. At the end: NOPM, TPM
(client and server) and p50/p90/p99 per transaction; ``--tpcc-check`` runs
the consistency conditions. Tables are sysbench-tpcc's (``warehouse1`` ...).

    locust -f locustfiles/tpcc.py --db-init --tpcc-warehouses 2 --headless -u 8 -t 5m --tpcc-check
    locust -f locustfiles/tpcc.py --db-engine postgres --db-init --headless -u 8 -t 5m
"""

from locust import task

from plugins import Scenario, weighted
from plugins.workloads.tpcc import run
from plugins.workloads.tpcc.schema import TABLE_NAMES

TPCC = Scenario(
    name="tpcc",
    database="tpcc",
    engine=None,
    tables=TABLE_NAMES,
    create=run.create,
    report=run.report,
    validate=run.validate,
    wait=(0.0, 0.0),  # no think time unless --tpcc-keying, as HammerDB's default
)
run.use(TPCC)


class TpccUser(run.TpccTerminal):
    """A HammerDB virtual user: transactions of the mix back to back on its home warehouse."""

    scenario = TPCC

    def __init__(self, environment):
        super().__init__(environment)
        # The weights above are the specification's; --tpcc-*-weight may change them.
        mix = run.weights(environment.parsed_options)
        self.tasks = weighted({
            TpccUser.new_order: mix["new_order"],
            TpccUser.payment: mix["payment"],
            TpccUser.order_status: mix["order_status"],
            TpccUser.delivery: mix["delivery"],
            TpccUser.stock_level: mix["stock_level"],
        })

    @task(45)
    def new_order(self):
        self.transact("new_order")

    @task(43)
    def payment(self):
        self.transact("payment")

    @task(4)
    def order_status(self):
        self.transact("order_status")

    @task(4)
    def delivery(self):
        self.transact("delivery")

    @task(4)
    def stock_level(self):
        self.transact("stock_level")
