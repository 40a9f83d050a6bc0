"""A STOP in the web UI ends on a page that says STOPPED and shows the run's final figures.

Locust's page (2.47) asks for ``/stats/requests`` every 2 s only while the
test spawns or runs. A STOP passes through ``cleanup`` (local: the users
finish the task they are in, up to the stop timeout) or ``stopping``
(distributed); a poll that lands there is the page's last, and the page stays
at CLEANUP or STOPPING after the test has ended until someone reloads it
(locust #2046, #2400). dbswarm's graceful stop (10 s by default) and a slow
transaction make that window seconds long.

So the page gets a small script: while it shows CLEANUP or STOPPING, it asks
``/dbswarm/state`` every 2 s and reloads itself once the stop has settled; the
reloaded page's first poll brings the final statistics and tabs.

Settled means the runner has stopped *and* every ``test_stop`` listener has
run: the TPC-C result and checks, the last database sample and the stage
reports are written there, after Locust already says ``stopped``. Until then
``/stats/requests`` (so the page, and any script polling it) says
``stopping``, which is what the run is doing (``hold_back``, applied by the
Database tab's hook, which already rewrites that response). Only public hooks
are used: the Flask app's ``after_request``, two routes, and a ``test_stop``
listener added at init, after every plugin's own.
"""

from __future__ import annotations

import json

from flask import Response, request
from locust import events

from .roles import master_or_local

STATE_PATH = "/dbswarm/state"
SCRIPT_PATH = "/dbswarm/stop-watch.js"
STOPPED, STOPPING = "stopped", "stopping"
RAW_STATE = "dbswarm_locust_state"  # in /stats/requests: Locust's own state of that snapshot

_settled = True  # no test has started, or the last one's test_stop listeners have all run

# Served as it is to Locust's page (its React build): small and self-contained.
SCRIPT = """\
(function () {
  "use strict";
  var WAITING = /^(cleanup|stopping)$/i;
  var asking = false;
  function shownStatus() {
    var labels = document.querySelectorAll("header p");
    for (var i = 0; i < labels.length; i++) {
      if (labels[i].textContent.trim() === "Status" && labels[i].nextElementSibling) {
        return labels[i].nextElementSibling.textContent.trim();
      }
    }
    return "";
  }
  setInterval(function () {
    if (asking || !WAITING.test(shownStatus())) return;
    asking = true;
    fetch("./dbswarm/state", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s && !WAITING.test(s.state)) window.location.reload(); })
      .catch(function () {})
      .then(function () { asking = false; });
  }, 2000);
})();
"""


def shown_state(state: str) -> str:
    """``stopping`` for a stopped runner whose test_stop listeners have not all run yet."""
    return STOPPING if state == STOPPED and not _settled else state


def hold_back(data: dict) -> None:
    """Show the state of a ``/stats/requests`` snapshot (observe/web_db_tab.py's hook, the one that rewrites it).

    Locust keeps one ``/stats/requests`` response for 2 s and serves it again, and after_request hooks
    change that same object: so the snapshot's own state is kept beside the one shown, and a state is
    only ever held back (stopped -> stopping), never moved ahead of the figures it came with.
    """
    raw = data.get(RAW_STATE, data.get("state"))
    data[RAW_STATE], data["state"] = raw, shown_state(raw)


def _on_test_start(environment, **_kwargs):
    global _settled
    if master_or_local(environment):
        _settled = False


def _settle(environment, **_kwargs):
    global _settled
    if master_or_local(environment):
        _settled = True


@events.init.add_listener
def _on_init(environment, web_ui=None, **_kwargs):
    # Added now, after every plugin module registered its own at import: Locust calls them in order.
    environment.events.test_start.add_listener(_on_test_start)
    environment.events.test_stop.add_listener(_settle)
    if web_ui is None:
        return
    app = web_ui.app

    @app.after_request
    def _with_script(response):
        if request.path == "/" and response.status_code == 200 and response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            if SCRIPT_PATH not in html and "</body>" in html:
                response.set_data(html.replace("</body>", f'<script src=".{SCRIPT_PATH}"></script></body>', 1))
        return response

    @app.route(STATE_PATH)
    @web_ui.auth_required_if_enabled
    def _state():
        state = shown_state(getattr(environment.runner, "state", None) or "")
        return Response(json.dumps({"state": state}), mimetype="application/json", headers={"Cache-Control": "no-store"})

    @app.route(SCRIPT_PATH)
    @web_ui.auth_required_if_enabled
    def _script():
        return Response(SCRIPT, mimetype="text/javascript", headers={"Cache-Control": "no-store"})
