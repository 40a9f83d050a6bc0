#!/usr/bin/env bash
# Tools the deployment-file checks need (tests/test_deploy_files.py):
# Debian's docker-compose, and kubectl for `kubectl kustomize`.
# check-jsonschema and kubernetes-validate come from requirements-dev.txt.
# Safe to run again; used by `make test` (and so by .ci/run).
set -uo pipefail

log() { echo "deploy-tools: $*" >&2; }

apt_install() {
  [ "$(id -u)" = 0 ] || { log "not root: install $* yourself"; return 1; }
  # Other processes may hold the dpkg lock for a while: wait instead of failing.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >/dev/null 2>&1 && return 0
  apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >/dev/null 2>&1
}

if ! command -v docker-compose >/dev/null; then
  log "installing docker-compose (Debian)"
  apt_install docker-compose || log "could not install docker-compose"
fi

# kubectl ships with this machine image (google-cloud-cli's kubectl package);
# Debian's own kubernetes-client (1.20) is too old for these kustomizations.
if ! command -v kubectl >/dev/null; then
  log "installing kubectl"
  apt_install kubectl || log "kubectl is not installed and no apt source has it: the kustomize checks will fail under CI"
fi
exit 0
