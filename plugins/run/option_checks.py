"""Every option typed and checked before any other plugin acts on them, on every path.

The registry and the checks live in ``options.py`` (vocabulary: no Locust runner
there); this module runs them when Locust initialises, as the first dbswarm init
listener after the roles: ``-H mysql://...`` fills the ``--db-*`` options not
given, then every validator runs, and the master (or local runner) refuses a
bad run with one line per problem and exit code 2, before any load. The web
UI's start form runs the same checks again (``web_form.py``).
"""

from __future__ import annotations

from locust import events

from .. import target
from ..options import OPTIONS, problems
from .roles import master_or_local, refuse


@events.init.add_listener
def _on_init(environment, **_kwargs):
    opts = environment.parsed_options
    if opts is None:
        return
    found = _host_url(environment, opts)
    found += problems(opts)
    if master_or_local(environment):
        refuse(found)


def _host_url(environment, opts) -> list[str]:
    """``-H mysql://...`` fills the --db-* options not given; the password never stays in Host."""
    host = getattr(opts, "host", None)
    if not target.is_db_url(host):
        return []
    try:
        target.apply(opts, host, {dest: option.default for dest, option in OPTIONS.items()})
    except ValueError as exc:
        return [f"--host {target.without_password(host)}: {exc}"]
    opts.host = environment.host = target.without_password(host)
    return []
