#!/usr/bin/env bash
# Command-line tools the tests drive besides the databases: sysbench (the OLTP
# tests compare against it on the same tables), nft (the network fault tests'
# blackhole) and Prometheus (tests/test_prometheus.py scrapes a real run with it).
# Installs what is missing.
set -euo pipefail

missing=()
command -v sysbench >/dev/null || missing+=(sysbench)
command -v nft >/dev/null || missing+=(nftables)
command -v prometheus >/dev/null || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "test-tools: installing ${missing[*]}" >&2
# The package lists are usually fresh (the Chromium step just updated them): try first.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}
