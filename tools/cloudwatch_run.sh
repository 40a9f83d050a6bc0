#!/usr/bin/env bash
# Run a locust command with --cloudwatch, then compare Orders in CloudWatch with the database.
#   tools/cloudwatch_run.sh PYTHON LOCUST_ARGS...
# CLOUDWATCH_ENDPOINT unset: a local moto server is started for the run (dummy
# credentials, stopped at the end). CLOUDWATCH_ENDPOINT=aws: real CloudWatch via
# the normal boto3 credential chain. Any other value: that endpoint URL.
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
endpoint_args=(--cloudwatch-endpoint "$endpoint")
[ "$endpoint" = "aws" ] && endpoint_args=() && endpoint=""
since="$(date +%s)"
"$@" --cloudwatch "${endpoint_args[@]}"
rc=$?
"$py" tools/local_cloudwatch.py orders ${endpoint:+--endpoint "$endpoint"} --since "$since" || { [ "$rc" -eq 0 ] && rc=1; }
exit $rc
