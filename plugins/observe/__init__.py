"""Watching the run and the database: the observer and its probes, swap
detection, µs histograms, the run report, the web UI tabs, the scenario's
outcome.
"""
