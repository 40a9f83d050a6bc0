#!/usr/bin/env bash
# Install Debian's headless-capable chromium when missing: the run report test
# opens the report in it. Safe to run again; used by make test (and so .ci/run).
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
echo "chromium: installing the Debian package (needed by the run report and web UI tests)" >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
$SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null \
  || echo "chromium: could not install it; the report test will fail and say so" >&2
exit 0
