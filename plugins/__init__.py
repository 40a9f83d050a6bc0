"""dbswarm: Locust users with real database clients, and the plugins around them.

Import ``plugins.users`` from a locustfile to get ``MySQLUser`` and
``PostgresUser``; importing it also registers the options, the preflight and
the end-of-run report.
"""
