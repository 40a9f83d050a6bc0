"""A ledger on MySQL or PostgreSQL (--db-engine): every task writes what ran, for tests of Locust's own features.

Each row names the user class, the user and the task, so a test counts in the
database what Locust ran: tags (``@tag``), ``fixed_count``, ``--config-users``,
locust-plugins' ``-i`` iteration limit. ``--ledger-stop-on-fail`` adds
locust-plugins' ``StopUserOnFail`` listener (only where locust-plugins is installed).
"""

import random

from locust import events, tag, task

from plugins import DatabaseUser, Scenario, option_group, read, write

WRITE_ENTRY = write("write_entry", "INSERT INTO entries (user_class, user_id, task) VALUES (%s, %s, %s)")
READ_ENTRIES = read("read_entries", "SELECT id, task FROM entries WHERE user_id = %s ORDER BY id DESC LIMIT 5")
CLASH_ENTRY = write("clash_entry", "INSERT INTO entries (id, user_class, user_id, task) VALUES (-1, %s, %s, %s)")


def create(cursor, opts, engine):
    key = "BIGINT AUTO_INCREMENT PRIMARY KEY" if engine == "mysql" else "BIGSERIAL PRIMARY KEY"
    cursor.execute(f"CREATE TABLE IF NOT EXISTS entries (id {key}, user_class VARCHAR(40) NOT NULL,"
                   " user_id BIGINT NOT NULL, task VARCHAR(40) NOT NULL)")
    cursor.execute("DELETE FROM entries")
    # Row -1 is there so that clash_entry's explicit id always collides (and no generated id ever does).
    cursor.execute("INSERT INTO entries (id, user_class, user_id, task) VALUES (-1, 'seed', 0, 'seed')")


LEDGER = Scenario(name="ledger", database="dbswarm_ledger", tables=("entries",), create=create,
                  wait=(0.005, 0.01))


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "ledger (test)")
    add("ledger-stop-on-fail", action="store_true", default=False,
        help="Stop a user at its first failed request (locust-plugins' StopUserOnFail)")


@events.init.add_listener
def _on_init(environment, **_kwargs):
    if environment.parsed_options and environment.parsed_options.ledger_stop_on_fail:
        from locust_plugins.listeners import StopUserOnFail

        StopUserOnFail(environment)


class LedgerUser(DatabaseUser):
    abstract = True
    scenario = LEDGER

    def on_start(self):
        super().on_start()
        self.user_id = random.randint(1, 2**62)

    def note(self, task_name):
        self.db.run(WRITE_ENTRY, (type(self).__name__, self.user_id, task_name))


class Clerk(LedgerUser):
    weight = 3

    @tag("write")
    @task(3)
    def write(self):
        self.note("write")

    @tag("read")
    @task(1)
    def read(self):
        self.db.run(READ_ENTRIES, (self.user_id,))


class Auditor(LedgerUser):
    fixed_count = 1

    @tag("audit")
    @task
    def audit(self):
        self.note("audit")


def clash(tx, user_class, user_id):
    """A row, then a duplicate key: the transaction fails and must leave nothing behind."""
    tx.run(WRITE_ENTRY, (user_class, user_id, "clash"))
    tx.run(CLASH_ENTRY, (user_class, user_id, "clash"))


class Clasher(LedgerUser):
    """Every task fails (duplicate key) after writing a row in the same transaction: name the classes to run."""

    @tag("clash")
    @task
    def clash(self):
        self.db.transaction("clash", clash, type(self).__name__, self.user_id)
