"""The web UI's start form: typed, checked, labelled, and without secrets.

Locust 2.47's ``POST /swarm`` copies every posted field into the parsed
options, keeping text where an option's default is None and raising on a
bad number, so a start from the form would reach the users with strings.
Here, through Flask's own hooks on ``environment.web_ui.app``:

- before ``/swarm`` runs, the fields of dbswarm's options are parsed with the
  parsers of plugins/options.py and every validator and the database
  preflight run on the result (a new database name or host is checked, and
  ``--db-init`` creates it). A problem answers ``success: false`` with the
  same one-line reason the command line gives, which the page shows; no run
  starts. Otherwise the typed values replace the launch's and Locust sees
  only its own fields. A cleared field means the option's default; a blank
  password means the launch-time password, a typed one is for that start.
- when the start page renders, secret options lose their value, and each
  option is keyed by its readable label (the form derives a field's label
  from its key; its value comes back under that key and is mapped back).
"""

from __future__ import annotations

import argparse
import logging
import re

from flask import jsonify, request
from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING
from werkzeug.datastructures import ImmutableMultiDict

from .. import options, target
from ..scenario import Scenario
from . import preflight
from .roles import master_or_local

logger = logging.getLogger("dbswarm")
_JOIN = "\u2060"  # word joiner: stops the form splitting "p99" into "p9 9" when it spaces out a key


def form_key(option: options.Option) -> str:
    """The key the start form shows as this option's label (and posts its value under)."""
    label = option.label[:1].upper() + option.label[1:]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z0-9])", _JOIN, label)


def _by_key() -> dict[str, options.Option]:
    found = {}
    for option in options.OPTIONS.values():
        found[option.dest] = option
        found[form_key(option)] = option
    return found


def _form_fields(extra: dict, opts) -> dict:
    """Locust's ``extra_options`` for the page: readable keys, current values, no secret, a blank 'default' choice."""
    shown = {}
    for dest, field in extra.items():
        option = options.OPTIONS.get(dest)
        field = dict(field)
        if option is not None and opts is not None:
            field["default_value"] = getattr(opts, dest, field.get("default_value"))  # what the next start uses
        if field.get("is_secret") or (option and option.secret):
            field["default_value"] = ""
        if option is None:
            shown[dest] = field
            continue
        if option.help:
            field["help_text"] = option.help
        if option.choices and option.default is None:
            # Without a blank choice the select would post its first choice instead of "the default".
            field["choices"] = [""] + list(option.choices)
            field["default_value"] = field["default_value"] or ""
        shown[form_key(option)] = field
    return shown


def check_start(environment, form) -> tuple[argparse.Namespace | None, list[str]]:
    """The options a start with ``form`` would run with, or the problems (one line each)."""
    opts = environment.parsed_options
    candidate = argparse.Namespace(**vars(opts))
    by_key = _by_key()
    running = environment.runner is not None and environment.runner.state in (STATE_RUNNING, STATE_SPAWNING)
    raw = {}
    for key in form.keys():
        option = by_key.get(key)
        if option is None or not option.in_web_ui:
            continue
        value = form.get(key, "")
        if option.secret and not value:
            # Blank: a new start uses the launch-time password, EDIT keeps the one the running test uses.
            if not running:
                setattr(candidate, option.dest, _launch_secrets.get(option.dest, ""))
            continue
        raw[option.dest] = value
    found = options.parse_into(candidate, raw)
    if running and not found:
        # EDIT changes the user count of the running test; its other settings were fixed when it started.
        for dest in raw:
            if getattr(candidate, dest) != getattr(opts, dest, None):
                option = options.OPTIONS[dest]
                found.append(f"{option.flag}: cannot change while a test runs (STOP, then NEW to start with it)")
        if found:
            return None, found
    host = (form.get("host") or "").strip()
    if not found and host and host != (environment.host or "") and host not in _shown_targets(environment):
        if not target.is_db_url(host):
            found.append(f"Host {host}: must be a mysql:// or postgresql:// URL (or leave it as shown)")
        else:
            try:
                for dest, value in target.parse(host).items():
                    setattr(candidate, dest, value)
            except ValueError as exc:
                found.append(f"Host {target.without_password(host)}: {exc}")
    if found:
        return None, found
    found = options.problems(candidate) if running else preflight.problems(environment, candidate)
    return (None, found) if found else (candidate, [])


def _shown_targets(environment) -> set[str]:
    return {getattr(cls, "host", None) for cls in (environment.user_classes or ())}


_launch_secrets: dict[str, str] = {}


def name_targets(environment, opts=None) -> None:
    """Give each database user class a ``host`` naming its target, so Locust's header shows it.

    Locust replaces it with ``-H`` when that is given; a start from the web UI
    that changes the settings names them again.
    """
    opts = environment.parsed_options if opts is None else opts
    classes = set(environment.user_classes or ()) | set((environment.available_user_classes or {}).values())
    for cls in classes:
        if not (isinstance(cls, type) and getattr(cls, "database_user", False)):
            continue
        scenario = cls.scenario or Scenario(name=cls.__name__, database="test")
        try:
            cls.host = target.url(scenario.config(opts, cls.engine))
        except Exception:  # a credentials problem: the preflight reports it
            continue


@events.init.add_listener
def _on_init(environment, web_ui=None, **_kwargs):
    if environment.parsed_options is not None:
        name_targets(environment)
    if web_ui is None or not master_or_local(environment):
        return
    opts = environment.parsed_options
    _launch_secrets.update({d: getattr(opts, d, "") for d, o in options.OPTIONS.items() if o.secret})

    @web_ui.app.before_request
    def _before_request():
        if request.method != "POST" or not request.path.endswith("/swarm"):
            return None
        return _check_swarm()  # behind --web-login as /swarm itself is

    @web_ui.auth_required_if_enabled
    def _check_swarm():
        candidate, found = check_start(environment, request.form)
        if found:
            message = "dbswarm: " + "; ".join(found)
            logger.warning("web UI start refused: %s", "; ".join(found))
            return jsonify({"success": False, "message": message, "host": environment.host})
        vars(opts).update({dest: getattr(candidate, dest) for dest in options.OPTIONS})
        name_targets(environment, opts)
        shown = {cls.host for cls in environment.user_classes or () if getattr(cls, "host", None)}
        by_key = _by_key()
        kept = [(k, v) for k, v in request.form.items(multi=True) if k not in by_key and k != "host"]
        if len(shown) == 1:
            kept.append(("host", shown.pop()))
            environment.host = None  # Locust sets it from the field we pass on
        elif request.form.get("host") is not None:
            kept.append(("host", request.form["host"]))
        # werkzeug documents that setting a cached property (request.form) replaces its value.
        request.form = ImmutableMultiDict(kept)
        return None

    @web_ui.app.context_processor
    def _page_fields():
        args = web_ui.template_args
        if isinstance(args.get("extra_options"), dict):
            args["extra_options"] = _form_fields(args["extra_options"], environment.parsed_options)
        return {}
