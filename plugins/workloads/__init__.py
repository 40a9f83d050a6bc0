"""Workloads too large for a locustfile alone: their schema, loader, transactions and checks.

A locustfile stays the scenario (the mix and the users); the package beside it holds
the rest. The top layer: a workload may use the whole public API below it.
"""
