"""point_selects.py behind a slow setup of the locustfile's own (tests/test_locust_features.py, -t).

The init listener computes for 1.5 s without yielding, as loading a data set
or building a large parameter list would.
"""

import time

from locust import events

from point_selects import PointReader  # noqa: F401  (the user class Locust finds here)

SETUP_SECONDS = 1.5


@events.init.add_listener
def _slow_setup(**_kwargs):
    end = time.perf_counter() + SETUP_SECONDS
    while time.perf_counter() < end:
        pass
