"""TPC-C-like OLTP (the HammerDB TPROC-C kind) on sysbench-tpcc's tables.

The scenario itself is ``locustfiles/tpcc.py``; this package holds what it
runs on: the schema per engine (``schema``), the loader behind ``--db-init``
(``loader``), the five transactions as named statements and bodies
(``transactions``), the specification's random functions (``rand``), the
consistency conditions of clause 3.3.2 (``check``, also a command line) and
the NOPM/TPM result (``results``, ``run``). Only ``run`` imports Locust, so the
loader and the checks run as plain programs too.
"""
