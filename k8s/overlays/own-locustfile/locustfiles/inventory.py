"""Your own scenario on dbswarm's image: a warehouse that checks and restocks items.

An example of a locustfile that is not in the image: it is mounted at
/mnt/locust (a ConfigMap on Kubernetes, a bind mount with compose) and
selected with LOCUST_LOCUSTFILE=/mnt/locust/inventory.py. It imports
``plugins`` from the image (PYTHONPATH=/opt/dbswarm) and its own helper module
``inventory_sql`` from the same folder. Runs on MySQL or PostgreSQL
(--db-engine); --db-init creates and seeds its tables.
"""

import random

from locust import task

from inventory_sql import ADD_STOCK, CHECK_STOCK, INITIAL_QTY, ITEMS, LOG_MOVEMENT, SCHEMA
from plugins import DatabaseUser, Scenario


def create(cursor, opts, engine):
    for ddl in SCHEMA:
        cursor.execute(ddl)
    cursor.execute("DELETE FROM movements")
    cursor.execute("DELETE FROM items")
    cursor.execute("INSERT INTO items (id, sku, qty) VALUES " + ", ".join(["(%s, %s, %s)"] * ITEMS),
                   [v for i in range(1, ITEMS + 1) for v in (i, f"SKU-{i:05d}", INITIAL_QTY)])


def restock(tx, item_id, units):
    """Add stock and log the movement in one transaction."""
    tx.run(ADD_STOCK, (units, item_id))
    tx.run(LOG_MOVEMENT, (item_id, units))


INVENTORY = Scenario(name="inventory", database="inventory", tables=("items", "movements"),
                     create=create, wait=(0.01, 0.05))


class WarehouseClerk(DatabaseUser):
    scenario = INVENTORY

    @task(3)
    def check_stock(self):
        self.db.run(CHECK_STOCK, (random.randint(1, ITEMS),))

    @task(1)
    def restock(self):
        self.db.transaction("restock", restock, random.randint(1, ITEMS), 1)
