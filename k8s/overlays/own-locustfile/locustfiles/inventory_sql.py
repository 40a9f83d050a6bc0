"""The inventory scenario's statements: a helper module beside the locustfile, imported by name."""

from plugins import read, write

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS items (id INT NOT NULL PRIMARY KEY, sku VARCHAR(40) NOT NULL, qty INT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS movements (item_id INT NOT NULL, delta INT NOT NULL)",
)
ITEMS = 100
INITIAL_QTY = 10

CHECK_STOCK = read("check_stock", "SELECT sku, qty FROM items WHERE id = %s")
ADD_STOCK = write("add_stock", "UPDATE items SET qty = qty + %s WHERE id = %s")
LOG_MOVEMENT = write("log_movement", "INSERT INTO movements (item_id, delta) VALUES (%s, %s)")
