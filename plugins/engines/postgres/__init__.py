"""PostgreSQL / Aurora PostgreSQL: psycopg2 made cooperative under gevent."""
