#!/usr/bin/env bash
# Control-flow tests of scripts/verify-job.sh against a kubectl stand-in (tests/k8s/stand-in)
# first on PATH: success, failed Job, Job failed without an exit code, timeout, and the settings.
set -euo pipefail
cd "$(dirname "$0")/../.."

REAL_KUBECTL=$(command -v kubectl) || { echo "FAIL: kubectl not found (needed for kubectl kustomize)" >&2; exit 1; }
command -v pgrep >/dev/null || { echo "FAIL: pgrep not found (Debian package procps): it checks that no waiter is left running" >&2; exit 1; }
export REAL_KUBECTL
export PATH="$PWD/tests/k8s/stand-in:$PATH"
export STANDIN_MARKER="vj$$"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "  ok   $name"; else failed=$((failed + 1)); echo "  FAIL $name" >&2; fi
}

# run SCENARIO [ENV=VALUE...]: runs the script; sets $status, $out, $err, $log.
run() {
  local scenario=$1; shift
  log="$tmp/$scenario.$RANDOM.log"
  : >"$log"
  set +e
  env STANDIN_SCENARIO="$scenario" STANDIN_LOG="$log" OVERLAY=k8s/overlays/example "$@" \
    scripts/verify-job.sh >"$tmp/out" 2>"$tmp/err"
  status=$?
  set -e
  out=$(cat "$tmp/out") err=$(cat "$tmp/err")
}
has() { grep -qE -- "$2" <<<"$1"; }
# pgrep exits 1 when nothing matches; anything else (a match, or pgrep broken) fails the check.
no_hanging_waiters() {
  local rc=0
  pgrep -f "standin-hang-$STANDIN_MARKER" >/dev/null || rc=$?
  [[ "$rc" == 1 ]] || { echo "  pgrep exited $rc (0: a waiter is still running)" >&2; return 1; }
}

echo "verify-job.sh: success"
run success TIMEOUT=30
check "exits 0" test "$status" = 0
check "prints the report on stdout" has "$out" '"ok":true'
check "applies the standing resources but not the Job or CronJob" has "$(cat "$log")" "^apply -f .* -l app.kubernetes.io/component notin \(verify,smoke\)$"
check "creates only the verify Job" has "$(cat "$log")" "^create -f .* -l app.kubernetes.io/component=verify$"
check "the Job has a unique name in the overlay's namespace" \
  has "$(cat "$log.jobs")" '^gke-aws-verifier-verify-[0-9]{14}-[a-z0-9]{5}$'
check "waits for both conditions" has "$(grep -c '^-n gke-aws-verifier wait --for=condition=' "$log")" '^2$'
check "deletes the Job" has "$(cat "$log")" "^-n gke-aws-verifier delete job gke-aws-verifier-verify-"
check "reads the last pod's log" has "$(cat "$log")" "^-n gke-aws-verifier logs pod/verify-pod-1 -c verifier$"
check "leaves no waiter running" no_hanging_waiters
first_job=$(cat "$log.jobs")
run success TIMEOUT=30
check "a second run gets another name" test "$(cat "$log.jobs")" != "$first_job"

echo "verify-job.sh: failed Job"
run failed TIMEOUT=60
check "propagates the verifier's exit code (4, STS)" test "$status" = 4
check "prints the report" has "$out" '"stage":"sts"'
check "names the Job's failure reason" has "$err" 'BackoffLimitExceeded'
check "deletes the Job" has "$(cat "$log")" "delete job gke-aws-verifier-verify-"
check "leaves no waiter running" no_hanging_waiters

echo "verify-job.sh: Job failed before the verifier exited"
run deadline TIMEOUT=60
check "exits 1" test "$status" = 1
check "names the reason" has "$err" 'DeadlineExceeded'
check "deletes the Job" has "$(cat "$log")" "delete job gke-aws-verifier-verify-"

echo "verify-job.sh: timeout"
run timeout TIMEOUT=2
check "exits 124" test "$status" = 124
check "says it timed out" has "$err" 'timed out after 2s'
check "passes the timeout to kubectl wait" has "$(cat "$log")" 'wait --for=condition=complete job/gke-aws-verifier-verify-.* --timeout=2s'
check "shows the pods" has "$(cat "$log")" 'get pods -l job-name=gke-aws-verifier-verify-.* -o wide'
check "deletes the Job" has "$(cat "$log")" "delete job gke-aws-verifier-verify-"

echo "verify-job.sh: settings"
run success KUBE_CONTEXT=gke_p_z_c NAMESPACE=other APPLY=0 KEEP_JOB=1 TIMEOUT=30
check "exits 0" test "$status" = 0
check "every call uses the context" test "$(grep -vc -- '--context gke_p_z_c' "$log")" = 0
check "the namespace override reaches the Job" has "$(cat "$log")" "^--context gke_p_z_c -n other wait"
check "APPLY=0 applies nothing" test "$(grep -c ' apply ' "$log")" = 0
check "KEEP_JOB=1 keeps the Job" test "$(grep -c ' delete ' "$log")" = 0
run success TIMEOUT=soon
check "a bad TIMEOUT is a usage error (2) before any kubectl call" test "$status:$(wc -l <"$log")" = "2:0"
run success OVERLAY=k8s/overlays/no-such
check "a missing overlay is a usage error (2)" test "$status" = 2

echo "verify-job.sh: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
