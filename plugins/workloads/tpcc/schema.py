"""The nine tables of Percona-Lab's sysbench-tpcc (one table set, suffix 1), per engine.

Same names, columns, types, primary keys and secondary indexes as
``tpcc_common.lua`` creates with ``--tables=1 --use_fk=0``, so data prepared
by ``sysbench tpcc.lua prepare`` runs here and data loaded by ``--db-init``
runs under sysbench. One extra one-row table, ``tpcc_nurand``, records the
C_LAST constant the data was loaded with, which the run needs for the
specification's delta rule (clause 2.1.6.1); sysbench ignores it.
"""

from __future__ import annotations

from ...config import MYSQL

SUFFIX = "1"
TABLES = ("warehouse", "district", "customer", "history", "orders", "new_orders", "order_line", "stock", "item")
TABLE_NAMES = tuple(t + SUFFIX for t in TABLES)
NURAND_TABLE = "tpcc_nurand"

_COLUMNS = {
    "warehouse": """w_id smallint not null, w_name varchar(10), w_street_1 varchar(20), w_street_2 varchar(20),
        w_city varchar(20), w_state char(2), w_zip char(9), w_tax decimal(4,2), w_ytd decimal(12,2),
        primary key (w_id)""",
    "district": """d_id {tiny} not null, d_w_id smallint not null, d_name varchar(10), d_street_1 varchar(20),
        d_street_2 varchar(20), d_city varchar(20), d_state char(2), d_zip char(9), d_tax decimal(4,2),
        d_ytd decimal(12,2), d_next_o_id int, primary key (d_w_id, d_id)""",
    "customer": """c_id int not null, c_d_id {tiny} not null, c_w_id smallint not null, c_first varchar(16),
        c_middle char(2), c_last varchar(16), c_street_1 varchar(20), c_street_2 varchar(20), c_city varchar(20),
        c_state char(2), c_zip char(9), c_phone char(16), c_since {datetime}, c_credit char(2), c_credit_lim bigint,
        c_discount decimal(4,2), c_balance decimal(12,2), c_ytd_payment decimal(12,2), c_payment_cnt smallint,
        c_delivery_cnt smallint, c_data text, PRIMARY KEY(c_w_id, c_d_id, c_id)""",
    "history": """h_c_id int, h_c_d_id {tiny}, h_c_w_id smallint, h_d_id {tiny}, h_w_id smallint,
        h_date {datetime}, h_amount decimal(6,2), h_data varchar(24)""",
    "orders": """o_id int not null, o_d_id {tiny} not null, o_w_id smallint not null, o_c_id int,
        o_entry_d {datetime}, o_carrier_id {tiny}, o_ol_cnt {tiny}, o_all_local {tiny},
        PRIMARY KEY(o_w_id, o_d_id, o_id)""",
    "new_orders": """no_o_id int not null, no_d_id {tiny} not null, no_w_id smallint not null,
        PRIMARY KEY(no_w_id, no_d_id, no_o_id)""",
    "order_line": """ol_o_id int not null, ol_d_id {tiny} not null, ol_w_id smallint not null,
        ol_number {tiny} not null, ol_i_id int, ol_supply_w_id smallint, ol_delivery_d {datetime},
        ol_quantity {tiny}, ol_amount decimal(6,2), ol_dist_info char(24),
        PRIMARY KEY(ol_w_id, ol_d_id, ol_o_id, ol_number)""",
    "stock": """s_i_id int not null, s_w_id smallint not null, s_quantity smallint, s_dist_01 char(24),
        s_dist_02 char(24), s_dist_03 char(24), s_dist_04 char(24), s_dist_05 char(24), s_dist_06 char(24),
        s_dist_07 char(24), s_dist_08 char(24), s_dist_09 char(24), s_dist_10 char(24), s_ytd decimal(8,0),
        s_order_cnt smallint, s_remote_cnt smallint, s_data varchar(50), PRIMARY KEY(s_w_id, s_i_id)""",
    "item": """i_id int not null, i_im_id int, i_name varchar(24), i_price decimal(5,2), i_data varchar(50),
        PRIMARY KEY(i_id)""",
}

# sysbench-tpcc creates these after loading the item table.
INDEXES = (
    ("idx_customer1", "customer1", "c_w_id,c_d_id,c_last,c_first"),
    ("idx_orders1", "orders1", "o_w_id,o_d_id,o_c_id,o_id"),
    ("fkey_stock_21", "stock1", "s_i_id"),
    ("fkey_order_line_21", "order_line1", "ol_supply_w_id,ol_i_id"),
    ("fkey_history_11", "history1", "h_c_w_id,h_c_d_id,h_c_id"),
    ("fkey_history_21", "history1", "h_w_id,h_d_id"),
)


def create_table(table: str, engine: str) -> str:
    """CREATE TABLE IF NOT EXISTS for one of TABLES (without the suffix)."""
    if engine == MYSQL:
        columns = _COLUMNS[table].format(tiny="tinyint", datetime="datetime")
        return f"CREATE TABLE IF NOT EXISTS {table}{SUFFIX} ({columns}) /*! ENGINE = innodb */"
    columns = _COLUMNS[table].format(tiny="smallint", datetime="timestamp")
    return f"CREATE TABLE IF NOT EXISTS {table}{SUFFIX} ({columns})"


CREATE_NURAND = f"CREATE TABLE IF NOT EXISTS {NURAND_TABLE} (c_last_load int not null)"


def existing_tables(cursor, engine: str) -> set[str]:
    if engine == MYSQL:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    else:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {row[0].lower() for row in cursor.fetchall()}


def existing_indexes(cursor, engine: str) -> set[str]:
    if engine == MYSQL:
        cursor.execute("SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE()")
    else:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    return {row[0].lower() for row in cursor.fetchall()}
