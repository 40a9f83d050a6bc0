"""Record when each request ended, its name and error class, for the fault tests' timing figures.

Loaded next to a scenario (``-f locustfiles/flash_sale.py,tests/locustfiles/timeline.py``);
writes ``$DBSWARM_TIMELINE`` (JSON: [[unix time, name, error class or null], ...]) when Locust quits.
"""

import json
import os
import time

from locust import events

_rows = []


@events.request.add_listener
def _on_request(name, exception=None, **_kwargs):
    cls = getattr(getattr(exception, "error_class", None), "name", None) if exception else None
    _rows.append((time.time(), name, cls if exception is None or cls else type(exception).__name__))


@events.quitting.add_listener
def _on_quitting(**_kwargs):
    path = os.environ.get("DBSWARM_TIMELINE")
    if path:
        with open(path, "w") as f:
            json.dump(_rows, f)
