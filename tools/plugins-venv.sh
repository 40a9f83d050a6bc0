#!/usr/bin/env bash
# A second virtualenv, .venv-plugins, with dbswarm's runtime (requirements.txt)
# and locust-plugins (requirements-plugins.txt), for tests/test_locust_plugins.py.
# Separate from .venv because Locust imports locust_plugins by itself whenever
# it is installed: in .venv it would change every other test's run.
#
# Idempotent and cached: the virtualenv lives in a cache folder named after the
# checksum of the requirements files and the Python version, and .venv-plugins
# links to it. A fresh clone on the same machine (CI) only links; a changed
# requirements file builds a new one.
#   tools/plugins-venv.sh [PYTHON]   (default: python3)
#   DBSWARM_CACHE=dir                (default: ${XDG_CACHE_HOME:-~/.cache}/dbswarm)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${1:-${PYTHON:-python3}}"
CACHE="${DBSWARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbswarm}"
KEY="$( { cat requirements.txt requirements-plugins.txt; "$PYTHON" -c 'import sys; print(sys.version)'; } \
        | sha256sum | cut -c1-16)"
VENV="$CACHE/venv-plugins-$KEY"
LINK=.venv-plugins

if [ ! -f "$VENV/.installed" ] || [ ! -x "$VENV/bin/locust" ]; then
  echo "plugins-venv: building $VENV (requirements-plugins.txt)" >&2
  mkdir -p "$CACHE"
  rm -rf "$VENV"  # a half-built one (no .installed)
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-plugins.txt \
    2> >(grep -v "is neither a file nor a directory" >&2)
  # What `import locust_plugins` needs, as Locust's own import of it will.
  "$VENV/bin/python" -c "import locust_plugins"
  touch "$VENV/.installed"
fi
if [ "$(readlink "$LINK" 2>/dev/null)" != "$VENV" ]; then
  rm -rf "$LINK"
  ln -s "$VENV" "$LINK"
fi
