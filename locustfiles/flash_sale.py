"""Flash sale on MySQL: limited stock, many buyers, never oversold.

From the Aurora Serverless v2 lab: buyers browse the catalog, place orders and
look them up while the database scales. Placing an order takes one unit of
stock only if one is left and writes the order in the same transaction;
"sold out" is an expected answer, reported as ``place_order: sold out``.

    locust -f locustfiles/flash_sale.py --db-init            # web UI
    locust -f locustfiles/flash_sale.py --db-init --headless -u 300 -t 60s --processes 2
"""

import random

from locust import events, task

from plugins import MySQLUser, Scenario, Metric, Outcome, read, write, option_group, counters, operation, unknown_commits

CATEGORIES = ("electronics", "fashion", "home", "toys", "sports", "books", "beauty", "garden")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS products (
        id INT UNSIGNED NOT NULL PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        category VARCHAR(40) NOT NULL,
        price DECIMAL(10, 2) NOT NULL,
        stock INT NOT NULL CHECK (stock >= 0),
        KEY by_category (category, id)
    ) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS orders (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        product_id INT UNSIGNED NOT NULL,
        customer_id INT UNSIGNED NOT NULL,
        quantity INT NOT NULL,
        created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        KEY by_product (product_id),
        KEY by_customer (customer_id, id)
    ) ENGINE=InnoDB""",
)

BROWSE_CATEGORY = read(
    "browse_category",
    "SELECT id, name, price, stock FROM products WHERE category = %s ORDER BY id LIMIT 20",
)
RESERVE_STOCK = write(
    "reserve_stock",
    "UPDATE products SET stock = stock - %s WHERE id = %s AND stock >= %s",
)
INSERT_ORDER = write(
    "insert_order",
    "INSERT INTO orders (product_id, customer_id, quantity) VALUES (%s, %s, %s)",
)
LOOKUP_ORDERS = read(
    "lookup_order",
    "SELECT o.id, o.quantity, o.created_at, p.name FROM orders o JOIN products p ON p.id = o.product_id"
    " WHERE o.customer_id = %s ORDER BY o.id DESC LIMIT 10",
)
# Did an order whose COMMIT went unanswered commit? On the writer, and a locking
# read: it waits for the order's transaction if the server has not ended it yet.
FIND_ORDER = write("find_order", "SELECT id FROM orders WHERE id = %s LOCK IN SHARE MODE")


class SoldOut(Outcome):
    label = "sold out"


def place_order(tx, product_id, customer_id, quantity=1):
    """Take stock and write the order atomically; the UPDATE's guard makes overselling impossible."""
    if tx.run(RESERVE_STOCK, (quantity, product_id, quantity)) == 0:
        raise SoldOut()
    tx.run(INSERT_ORDER, (product_id, customer_id, quantity))
    return tx.lastrowid


def create(cursor, opts, engine):
    """--db-init: create the tables and open a new sale (orders cleared, stock refilled)."""
    for ddl in SCHEMA:
        cursor.execute(ddl)
    cursor.execute("DELETE FROM orders")
    cursor.execute("DELETE FROM products")
    rows = [
        (i, f"Flash deal #{i}", CATEGORIES[i % len(CATEGORIES)], round(5 + (i * 7.31) % 495, 2), opts.flash_stock)
        for i in range(1, opts.flash_products + 1)
    ]
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        cursor.execute(
            "INSERT INTO products (id, name, category, price, stock) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk)),
            [value for row in chunk for value in row],
        )


def report(cursor, environment, engine):
    cursor.execute("SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM orders")
    order_rows, units_sold = (int(v) for v in cursor.fetchone())
    cursor.execute("SELECT COUNT(*), COALESCE(SUM(stock), 0) FROM products")
    products, stock_left = (int(v) for v in cursor.fetchone())
    orders = counters.total(ORDERS.counter)
    return [
        "Flash sale outcome",
        f"  orders placed (this run):   {orders}",
        f"  order rows in database:     {order_rows} ({units_sold} units)",
        f"  sold-out answers:           {operation(environment, 'place_order: sold out').requests}",
        f"  stock left:                 {stock_left} units over {products} products",
        *unknown_commits.report_lines(orders, order_rows),
    ]


def validate(opts):
    problems = []
    if opts.flash_stock <= 0:
        problems.append(f"--flash-stock {opts.flash_stock}: must be greater than 0")
    if opts.flash_products <= 0:
        problems.append(f"--flash-products {opts.flash_products}: must be greater than 0")
    return problems


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    add = option_group(parser, "flash sale")
    add("flash-products", type=int, default=20, help="Products on sale (--db-init)")
    add("flash-stock", type=int, default=1000, help="Units of stock per product (--db-init)")


# The lab's business metric: CloudWatch publishes it, the dashboard plots it against ACU.
ORDERS = Metric(counter="orders", name="Orders", namespace="MyFlashSale/Orders", dimension=("OfferType", "FlashSale"))

FLASH_SALE = Scenario(
    name="flash_sale",
    engine="mysql",
    database="myshop",
    tables=("products", "orders"),
    create=create,
    report=report,
    validate=validate,
    wait=(0.1, 0.5),  # a buyer's pause between clicks; --wait-min/--wait-max 0 to hammer
    metric=ORDERS,
)


class FlashSaleBuyer(MySQLUser):
    scenario = FLASH_SALE

    def on_start(self):
        super().on_start()
        self.customer_id = random.randint(1, 10_000_000)
        self.products = self.environment.parsed_options.flash_products
        self.unknown = unknown_commits.UnknownCommits(self.db, FIND_ORDER)

    def on_stop(self):
        self.unknown.resolve()
        super().on_stop()

    @task(6)
    def browse_category(self):
        self.db.run(BROWSE_CATEGORY, (random.choice(CATEGORIES),))

    @task(3)
    def buy(self):
        product_id = random.randint(1, self.products)
        if self.unknown.pending:
            self.unknown.resolve()
        if self.db.transaction("place_order", place_order, product_id, self.customer_id):
            counters.incr(ORDERS.counter)
        else:
            self.unknown.note()  # COMMIT unanswered: did it commit?

    @task(1)
    def lookup_order(self):
        self.db.run(LOOKUP_ORDERS, (self.customer_id,))
