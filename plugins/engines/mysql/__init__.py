"""MySQL / MariaDB / Aurora MySQL: the lean PyMySQL cursor, the binary protocol
of prepared statements, and the packet reading both share.
"""
