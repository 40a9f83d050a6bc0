"""Orders on PostgreSQL for the fault tests: every order counted, commits of unknown outcome looked up.

The flash sale is MySQL's; this is its accounting on PostgreSQL in a few
lines: a transaction takes stock and writes an order, and the outcome block
says whether orders counted + unknown commits found committed = order rows.
"""

import random

from locust import task

from plugins import PostgresUser, Scenario, counters, read, unknown_commits, write

PRODUCTS = 20

RESERVE = write("reserve_stock", "UPDATE products SET stock = stock - 1 WHERE id = %s AND stock > 0")
INSERT_ORDER = write("insert_order", "INSERT INTO orders (product_id) VALUES (%s) RETURNING id")
BROWSE = read("browse", "SELECT id, stock FROM products ORDER BY id LIMIT 10")
FIND_ORDER = write("find_order", "SELECT id FROM orders WHERE id = %s")


def create(cursor, opts, engine):
    cursor.execute("CREATE TABLE IF NOT EXISTS products (id int PRIMARY KEY, stock int NOT NULL CHECK (stock >= 0))")
    cursor.execute("CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, product_id int NOT NULL)")
    cursor.execute("TRUNCATE orders, products")
    cursor.execute("INSERT INTO products SELECT g, 100000 FROM generate_series(1, %s) g", (PRODUCTS,))


def place_order(tx, product_id):
    if tx.run(RESERVE, (product_id,)) == 0:
        return None
    return tx.run(INSERT_ORDER, (product_id,))[0][0]


def report(cursor, environment, engine):
    cursor.execute("SELECT COUNT(*) FROM orders")
    rows = int(cursor.fetchone()[0])
    orders = counters.total("orders")
    return ["Orders outcome", f"  orders placed (this run):   {orders}", f"  order rows in database:     {rows}",
            *unknown_commits.report_lines(orders, rows)]


ORDERS = Scenario(name="pg_orders", engine="postgres", database="orders", tables=("products", "orders"),
                  create=create, report=report, wait=(0.1, 0.5))


class Buyer(PostgresUser):
    scenario = ORDERS

    def on_start(self):
        super().on_start()
        self.unknown = unknown_commits.UnknownCommits(self.db, FIND_ORDER)

    def on_stop(self):
        self.unknown.resolve()
        super().on_stop()

    @task(3)
    def buy(self):
        if self.unknown.pending:
            self.unknown.resolve()
        if self.db.transaction("place_order", place_order, random.randint(1, PRODUCTS)):
            counters.incr("orders")
        else:
            self.unknown.note()

    @task(6)
    def browse(self):
        self.db.run(BROWSE)
