"""The five TPC-C transactions (clause 2.4 to 2.8): statements as named data, and their bodies.

Each body runs inside ``DbSession.transaction`` (BEGIN ... COMMIT, one request
under the transaction's name; a deadlock or serialization failure runs it
again) and returns a value only a committed transaction returns, so the
caller counts New-Orders and skipped deliveries once per commit. The 1 % of
New-Orders that name an unused item end in ``Outcome("rollback")``: rolled
back, reported as ``new_order: rollback``, not a failure (clause 2.4.2.3).
The SQL is the same on both engines; with ``--statement-stats`` each
statement is also reported under its name (``new_order.stock``, ...).
"""

from __future__ import annotations

import random

from ...workload import Outcome, read, write
from . import rand

DISTRICTS = 10
REMOTE_LINE = 0.01  # share of order lines supplied by another warehouse (clause 2.4.1.5)
REMOTE_PAYMENT = 0.15  # share of Payments by a customer of another warehouse (clause 2.5.1.2)
BY_LAST_NAME = 0.60  # Payment and Order-Status select the customer by last name (2.5.1.2, 2.6.1.2)
ROLLBACK = 0.01  # New-Orders with an unused item (2.4.1.4)

S = {
    # New-Order
    "no_customer": read("new_order.customer", "SELECT c_discount, c_last, c_credit, w_tax FROM customer1, warehouse1 "
                        "WHERE w_id = %s AND c_w_id = w_id AND c_d_id = %s AND c_id = %s"),
    "no_district": write("new_order.district", "SELECT d_next_o_id, d_tax FROM district1 "
                         "WHERE d_w_id = %s AND d_id = %s FOR UPDATE"),
    "no_next_o_id": write("new_order.next_o_id", "UPDATE district1 SET d_next_o_id = d_next_o_id + 1 "
                          "WHERE d_w_id = %s AND d_id = %s"),
    "no_order": write("new_order.order", "INSERT INTO orders1 (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_ol_cnt, "
                      "o_all_local) VALUES (%s, %s, %s, %s, NOW(), %s, %s)"),
    "no_new_order": write("new_order.new_order", "INSERT INTO new_orders1 (no_o_id, no_d_id, no_w_id) "
                          "VALUES (%s, %s, %s)"),
    "no_item": read("new_order.item", "SELECT i_price, i_name, i_data FROM item1 WHERE i_id = %s"),
    "no_stock_update": write("new_order.stock_update", "UPDATE stock1 SET s_quantity = %s, s_ytd = s_ytd + %s, "
                             "s_order_cnt = s_order_cnt + 1, s_remote_cnt = s_remote_cnt + %s "
                             "WHERE s_i_id = %s AND s_w_id = %s"),
    "no_order_line": write("new_order.order_line", "INSERT INTO order_line1 (ol_o_id, ol_d_id, ol_w_id, ol_number, "
                           "ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, ol_dist_info) "
                           "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"),
    # Payment
    "pay_warehouse_ytd": write("payment.warehouse_ytd", "UPDATE warehouse1 SET w_ytd = w_ytd + %s WHERE w_id = %s"),
    "pay_warehouse": read("payment.warehouse", "SELECT w_street_1, w_street_2, w_city, w_state, w_zip, w_name "
                          "FROM warehouse1 WHERE w_id = %s"),
    "pay_district_ytd": write("payment.district_ytd", "UPDATE district1 SET d_ytd = d_ytd + %s "
                              "WHERE d_w_id = %s AND d_id = %s"),
    "pay_district": read("payment.district", "SELECT d_street_1, d_street_2, d_city, d_state, d_zip, d_name "
                         "FROM district1 WHERE d_w_id = %s AND d_id = %s"),
    "pay_by_name": read("payment.customer_by_name", "SELECT c_id FROM customer1 "
                        "WHERE c_w_id = %s AND c_d_id = %s AND c_last = %s ORDER BY c_first"),
    "pay_customer": write("payment.customer", "SELECT c_first, c_middle, c_last, c_street_1, c_street_2, c_city, "
                          "c_state, c_zip, c_phone, c_since, c_credit, c_credit_lim, c_discount, c_balance "
                          "FROM customer1 WHERE c_w_id = %s AND c_d_id = %s AND c_id = %s FOR UPDATE"),
    "pay_customer_data": read("payment.customer_data", "SELECT c_data FROM customer1 "
                              "WHERE c_w_id = %s AND c_d_id = %s AND c_id = %s"),
    "pay_customer_bc": write("payment.customer_update", "UPDATE customer1 SET c_balance = c_balance - %s, "
                             "c_ytd_payment = c_ytd_payment + %s, c_payment_cnt = c_payment_cnt + 1, c_data = %s "
                             "WHERE c_w_id = %s AND c_d_id = %s AND c_id = %s"),
    "pay_customer_gc": write("payment.customer_update", "UPDATE customer1 SET c_balance = c_balance - %s, "
                             "c_ytd_payment = c_ytd_payment + %s, c_payment_cnt = c_payment_cnt + 1 "
                             "WHERE c_w_id = %s AND c_d_id = %s AND c_id = %s"),
    "pay_history": write("payment.history", "INSERT INTO history1 (h_c_d_id, h_c_w_id, h_c_id, h_d_id, h_w_id, "
                         "h_date, h_amount, h_data) VALUES (%s, %s, %s, %s, %s, NOW(), %s, %s)"),
    # Order-Status
    "os_by_name": read("order_status.customer_by_name", "SELECT c_balance, c_first, c_middle, c_id FROM customer1 "
                       "WHERE c_w_id = %s AND c_d_id = %s AND c_last = %s ORDER BY c_first"),
    "os_customer": read("order_status.customer", "SELECT c_balance, c_first, c_middle, c_last FROM customer1 "
                        "WHERE c_w_id = %s AND c_d_id = %s AND c_id = %s"),
    "os_last_order": read("order_status.last_order", "SELECT o_id, o_carrier_id, o_entry_d FROM orders1 "
                          "WHERE o_w_id = %s AND o_d_id = %s AND o_c_id = %s ORDER BY o_id DESC LIMIT 1"),
    "os_lines": read("order_status.order_lines", "SELECT ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, "
                     "ol_delivery_d FROM order_line1 WHERE ol_w_id = %s AND ol_d_id = %s AND ol_o_id = %s"),
    # Delivery
    "dl_new_order": write("delivery.new_order", "SELECT no_o_id FROM new_orders1 WHERE no_d_id = %s AND no_w_id = %s "
                          "ORDER BY no_o_id ASC LIMIT 1 FOR UPDATE"),
    "dl_delete": write("delivery.delete", "DELETE FROM new_orders1 WHERE no_o_id = %s AND no_d_id = %s "
                       "AND no_w_id = %s"),
    "dl_order": read("delivery.order", "SELECT o_c_id FROM orders1 WHERE o_id = %s AND o_d_id = %s AND o_w_id = %s"),
    "dl_carrier": write("delivery.carrier", "UPDATE orders1 SET o_carrier_id = %s "
                        "WHERE o_id = %s AND o_d_id = %s AND o_w_id = %s"),
    "dl_lines": write("delivery.order_lines", "UPDATE order_line1 SET ol_delivery_d = NOW() "
                      "WHERE ol_o_id = %s AND ol_d_id = %s AND ol_w_id = %s"),
    "dl_amount": read("delivery.amount", "SELECT SUM(ol_amount) FROM order_line1 "
                      "WHERE ol_o_id = %s AND ol_d_id = %s AND ol_w_id = %s"),
    "dl_customer": write("delivery.customer", "UPDATE customer1 SET c_balance = c_balance + %s, "
                         "c_delivery_cnt = c_delivery_cnt + 1 WHERE c_id = %s AND c_d_id = %s AND c_w_id = %s"),
    # Stock-Level
    "sl_district": read("stock_level.district", "SELECT d_next_o_id FROM district1 WHERE d_w_id = %s AND d_id = %s"),
    "sl_count": read("stock_level.count", "SELECT COUNT(DISTINCT s_i_id) FROM order_line1, stock1 "
                     "WHERE ol_w_id = %s AND ol_d_id = %s AND ol_o_id < %s AND ol_o_id >= %s "
                     "AND s_w_id = %s AND s_i_id = ol_i_id AND s_quantity < %s"),
}
# S_DIST_xx is the ordering district's column: one statement per district, one name.
NO_STOCK = {d: write("new_order.stock", f"SELECT s_quantity, s_data, s_dist_{d:02d} FROM stock1 "
                     "WHERE s_i_id = %s AND s_w_id = %s FOR UPDATE") for d in range(1, DISTRICTS + 1)}


class Terminal:
    """What one user's transactions draw from: its home warehouse and district, the scale, the run's C values."""

    __slots__ = ("w", "d", "warehouses", "items", "customers", "last_names", "c_last", "c_id", "ol_i_id", "outcome")

    def __init__(self, w: int, d: int, warehouses: int, items: int, customers: int, constants: dict):
        self.w, self.d, self.warehouses = w, d, warehouses
        self.items, self.customers = items, customers
        self.last_names = min(1000, customers)
        self.c_last, self.c_id, self.ol_i_id = constants["c_last"], constants["c_id"], constants["ol_i_id"]
        self.outcome = None  # the label of the Outcome that ended the last transaction, if one did

    def customer_id(self) -> int:
        return rand.nurand(rand.A_C_ID, 1, self.customers, self.c_id)

    def item_id(self) -> int:
        return rand.nurand(rand.A_OL_I_ID, 1, self.items, self.ol_i_id)

    def last_name(self) -> str:
        return rand.last_name(rand.nurand(rand.A_C_LAST, 0, self.last_names - 1, self.c_last))


def _end(t: Terminal, label: str):
    """End the transaction as an expected outcome (rolled back, not a failure)."""
    t.outcome = label
    raise Outcome(label)


def _middle(t: Terminal, rows):
    """The customer at position n/2 rounded up, in C_FIRST order (clause 2.5.2.2)."""
    if not rows:
        _end(t, "customer not found")  # never with the specification's data
    return rows[(len(rows) + 1) // 2 - 1]


def new_order(tx, t: Terminal):
    w, d = t.w, random.randint(1, DISTRICTS)
    c = t.customer_id()
    lines = []
    for _ in range(random.randint(5, 15)):
        supply = rand.other_warehouse(w, t.warehouses) if random.random() < REMOTE_LINE else w
        lines.append((t.item_id(), supply, random.randint(1, 10)))
    if random.random() < ROLLBACK:
        lines[-1] = (t.items + 1, lines[-1][1], lines[-1][2])  # an unused item: the order rolls back
    all_local = int(all(supply == w for _, supply, _ in lines))
    discount, _last, _credit, w_tax = tx.run(S["no_customer"], (w, d, c))[0]
    o_id, d_tax = tx.run(S["no_district"], (w, d))[0]
    tx.run(S["no_next_o_id"], (w, d))
    tx.run(S["no_order"], (o_id, d, w, c, len(lines), all_local))
    tx.run(S["no_new_order"], (o_id, d, w))
    stock, total = NO_STOCK[d], 0.0
    for number, (item, supply, quantity) in enumerate(lines, 1):
        found = tx.run(S["no_item"], (item,))
        if not found:
            _end(t, "rollback")
        price = float(found[0][0])
        s_quantity, _s_data, dist_info = tx.run(stock, (item, supply))[0]
        left = s_quantity - quantity if s_quantity >= quantity + 10 else s_quantity - quantity + 91
        tx.run(S["no_stock_update"], (left, quantity, 0 if supply == w else 1, item, supply))
        amount = round(quantity * price, 2)
        total += amount
        tx.run(S["no_order_line"], (o_id, d, w, number, item, supply, quantity, amount, dist_info))
    return total * (1 - float(discount)) * (1 + float(w_tax) + float(d_tax))


def payment(tx, t: Terminal):
    w, d = t.w, random.randint(1, DISTRICTS)
    if t.warehouses > 1 and random.random() < REMOTE_PAYMENT:
        c_w, c_d = rand.other_warehouse(w, t.warehouses), random.randint(1, DISTRICTS)
    else:
        c_w, c_d = w, d
    amount = round(random.uniform(1.0, 5000.0), 2)
    tx.run(S["pay_warehouse_ytd"], (amount, w))
    w_name = tx.run(S["pay_warehouse"], (w,))[0][5]
    tx.run(S["pay_district_ytd"], (amount, w, d))
    d_name = tx.run(S["pay_district"], (w, d))[0][5]
    if random.random() < BY_LAST_NAME:
        c = _middle(t, tx.run(S["pay_by_name"], (c_w, c_d, t.last_name())))[0]
    else:
        c = t.customer_id()
    credit = tx.run(S["pay_customer"], (c_w, c_d, c))[0][10]
    if credit == "BC":
        data = tx.run(S["pay_customer_data"], (c_w, c_d, c))[0][0] or ""
        data = f"{c} {c_d} {c_w} {d} {w} {amount:.2f} {data}"[:500]
        tx.run(S["pay_customer_bc"], (amount, amount, data, c_w, c_d, c))
    else:
        tx.run(S["pay_customer_gc"], (amount, amount, c_w, c_d, c))
    tx.run(S["pay_history"], (c_d, c_w, c, d, w, amount, f"{w_name or ''}    {d_name or ''}"[:24]))
    return amount


def order_status(tx, t: Terminal):
    w, d = t.w, random.randint(1, DISTRICTS)
    if random.random() < BY_LAST_NAME:
        c = _middle(t, tx.run(S["os_by_name"], (w, d, t.last_name())))[3]
    else:
        c = t.customer_id()
        tx.run(S["os_customer"], (w, d, c))
    order = tx.run(S["os_last_order"], (w, d, c))
    if order:
        tx.run(S["os_lines"], (w, d, order[0][0]))
    return len(order)


def delivery(tx, t: Terminal):
    """Deliver the oldest new order of each of the 10 districts; the number of districts skipped (none waiting)."""
    w, carrier, skipped = t.w, random.randint(1, 10), 0
    for d in range(1, DISTRICTS + 1):
        oldest = tx.run(S["dl_new_order"], (d, w))
        if not oldest or not tx.run(S["dl_delete"], (oldest[0][0], d, w)):
            skipped += 1
            continue
        o_id = oldest[0][0]
        c = tx.run(S["dl_order"], (o_id, d, w))[0][0]
        tx.run(S["dl_carrier"], (carrier, o_id, d, w))
        tx.run(S["dl_lines"], (o_id, d, w))
        total = tx.run(S["dl_amount"], (o_id, d, w))[0][0] or 0
        tx.run(S["dl_customer"], (total, c, d, w))
    return skipped


def stock_level(tx, t: Terminal):
    threshold = random.randint(10, 20)
    next_o_id = tx.run(S["sl_district"], (t.w, t.d))[0][0]
    return tx.run(S["sl_count"], (t.w, t.d, next_o_id, next_o_id - 20, t.w, threshold))[0][0]


TRANSACTIONS = {"new_order": new_order, "payment": payment, "order_status": order_status,
                "delivery": delivery, "stock_level": stock_level}
MIX = {"new_order": 45, "payment": 43, "order_status": 4, "delivery": 4, "stock_level": 4}  # clause 5.2.3

# Keying and think times in seconds (clause 5.2.5.7): keying before, think time (mean of a
# negative exponential, capped at 10x) after.
KEYING = {"new_order": 18.0, "payment": 3.0, "order_status": 2.0, "delivery": 2.0, "stock_level": 2.0}
THINK = {"new_order": 12.0, "payment": 12.0, "order_status": 10.0, "delivery": 5.0, "stock_level": 5.0}


def think_time(name: str) -> float:
    mean = THINK[name]
    return min(10 * mean, random.expovariate(1.0 / mean))
