#!/usr/bin/env bash
# Run a locust command with --cloudwatch, then compare Orders in CloudWatch with the database.
#   tools/cloudwatch_run.sh PYTHON LOCUST_ARGS...
# CLOUDWATCH_ENDPOINT unset: a local moto server is started for the run (dummy
# credentials, stopped at the end). CLOUDWATCH_ENDPOINT=aws: real CloudWatch via
# the normal boto3 credential chain. Any other value: that endpoint URL.
# AURORA_DEMO=1 (local moto only): a synthetic Aurora Serverless v2 series for the made-up
# instance demo-writer-1 is written first (RUN_TIME long), and the run reads it back, so the
# run report draws the lab's chart (Orders against ACU) without an Aurora cluster.
set -uo pipefail
cd "$(dirname "$0")/.."
py="$1"; shift
endpoint="${CLOUDWATCH_ENDPOINT:-}"
if [ -z "$endpoint" ]; then
  state="$(mktemp -d)"
  endpoint="$("$py" tools/local_cloudwatch.py start --state "$state")" || exit 1
  trap '"$py" tools/local_cloudwatch.py stop --state "$state"; rm -rf "$state"' EXIT
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  echo "Local CloudWatch (moto): $endpoint"
fi
aurora_args=()
if [ -n "${AURORA_DEMO:-}" ]; then
  if [ -z "${state:-}" ]; then
    echo "AURORA_DEMO: the synthetic ACU series goes to the local CloudWatch only (leave CLOUDWATCH_ENDPOINT empty)" >&2
    exit 2
  fi
  read -r -a aurora_args < <("$py" tools/local_cloudwatch.py acu --endpoint "$endpoint" --instance demo-writer-1 \
    --run-time "${RUN_TIME:-60s}") || exit 1
fi
endpoint_args=(--cloudwatch-endpoint "$endpoint")
[ "$endpoint" = "aws" ] && endpoint_args=() && endpoint=""
since="$(date +%s)"
"$@" --cloudwatch "${endpoint_args[@]}" "${aurora_args[@]}"
rc=$?
"$py" tools/local_cloudwatch.py orders ${endpoint:+--endpoint "$endpoint"} --since "$since" || { [ "$rc" -eq 0 ] && rc=1; }
exit $rc
