#!/usr/bin/env bash
# Control-flow tests of scripts/verify-job.sh against a kubectl stand-in (tests/k8s/stand-in)
# first on PATH: success, an API error while polling, failed Job, Job failed without an exit
# code, timeout; the two namespace modes (what is applied, what is only annotated: the role, the
# GSA or mode, the audience and the named roles); the smoke deployment; the settings; a
# placeholder image; an overlay whose KSA annotations name a key outside those.
set -euo pipefail
cd "$(dirname "$0")/../.."

REAL_KUBECTL=$(command -v kubectl) || { echo "FAIL: kubectl not found (needed for kubectl kustomize)" >&2; exit 1; }
export REAL_KUBECTL
export PATH="$PWD/tests/k8s/stand-in:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "  ok   $name"; else failed=$((failed + 1)); echo "  FAIL $name" >&2; fi
}

# run SCENARIO [ENV=VALUE...] [-- ARGS]: runs the script; sets $status, $out, $err, $log.
run() {
  local scenario=$1; shift
  local envs=() args=()
  while [[ $# -gt 0 ]]; do
    if [[ "$1" == -- ]]; then shift; args=("$@"); break; fi
    envs+=("$1"); shift
  done
  log="$tmp/$scenario.$RANDOM.log"
  : >"$log"
  set +e
  env STANDIN_SCENARIO="$scenario" STANDIN_LOG="$log" OVERLAY=k8s/overlays/example POLL=0 "${envs[@]}" \
    scripts/verify-job.sh "${args[@]}" >"$tmp/out" 2>"$tmp/err"
  status=$?
  set -e
  out=$(cat "$tmp/out") err=$(cat "$tmp/err")
  # The checks below read the calls without the bound every call carries (checked once, here).
  mv "$log" "$log.raw"
  sed -E 's/^--request-timeout=60s //' "$log.raw" >"$log"
}
bounded() { ! grep -vE -- '^--request-timeout=60s |(^| )annotate --local ' "$log.raw"; }
has() { grep -qE -- "$2" <<<"$1"; }
lacks() { ! grep -qE -- "$2" <<<"$1"; }
calls() { grep -vE -- '(^| )(kustomize|annotate --local) ' "$log" || true; } # calls that reach the cluster

echo "verify-job.sh: success, dedicated mode (the example overlay)"
run success TIMEOUT=30
check "exits 0" test "$status" = 0
check "prints the report on stdout" has "$out" '"ok":true'
check "says it is the dedicated mode" has "$err" 'dedicated mode: this overlay owns namespace gke-aws-verifier and KSA gke-aws-verifier'
check "applies the standing resources but not the Job or CronJob" has "$(cat "$log")" "^apply -f .* -l app.kubernetes.io/component notin \(verify,smoke\)$"
check "annotates nothing (the KSA is its own, applied whole)" test "$(calls | grep -c ' annotate ')" = 0
check "creates only the verify Job" has "$(cat "$log")" "^create -f .* -l app.kubernetes.io/component=verify$"
check "the Job has a unique name in the overlay's namespace" \
  has "$(cat "$log.jobs")" '^gke-aws-verifier-verify-[0-9]{14}-[a-z0-9]{5}$'
check "polls the Job's conditions until Complete (twice: running, then complete)" \
  test "$(grep -c '^-n gke-aws-verifier get job gke-aws-verifier-verify-.* --request-timeout=10s -o jsonpath=' "$log")" = 2
check "starts no kubectl wait" test "$(grep -c ' wait ' "$log")" = 0
check "every call that may reach the cluster has a request timeout" bounded
check "deletes the Job" has "$(cat "$log")" "^-n gke-aws-verifier delete job gke-aws-verifier-verify-"
check "reads the last pod's log" has "$(cat "$log")" "^-n gke-aws-verifier logs pod/verify-pod-1 -c verifier$"
first_job=$(cat "$log.jobs")
run success TIMEOUT=30
check "a second run gets another name" test "$(cat "$log.jobs")" != "$first_job"

echo "verify-job.sh: application mode (a GSA workload in the application's namespace)"
run success TIMEOUT=30 OVERLAY=k8s/overlays/reports
check "exits 0" test "$status" = 0
check "says it is the application mode" has "$err" "application mode: only the verifier's own objects go to namespace payments; the application's KSA reports-reader"
check "annotates the existing KSA with exactly the role, GSA, audience and named role, --overwrite" \
  has "$(cat "$log")" '^-n payments annotate --overwrite serviceaccount reports-reader amazonaws.com/role-arn=arn:aws:iam::123456789012:role/reports-reader iam.gke.io/gcp-service-account=reports-reader@example-project.iam.gserviceaccount.com amazonaws.com/audience=sts.amazonaws.com gke-aws-verifier/region.exports=eu-west-1 gke-aws-verifier/role.exports=arn:aws:iam::123456789012:role/reports-reader.exports$'
check "says how many annotations the KSA gets" has "$err" "the application's KSA reports-reader gets 5 annotations, nothing else"
check "annotates before it applies anything" \
  test "$(calls | grep -nE ' annotate | apply ' | head -1 | grep -c annotate)" = 1
check "the Job runs as the application's KSA" has "$(cat "$log")" '^-n payments get job gke-aws-verifier-verify-'
check "reads the KSA's current annotations first" has "$(cat "$log")" '^-n payments get serviceaccount reports-reader -o jsonpath=\{\.metadata\.annotations\.iam\\\.gke\\\.io/gcp-service-account\}$'
check "reads the current named role and audience too" \
  test "$(grep -cE '^-n payments get serviceaccount reports-reader -o jsonpath=\{\.metadata\.annotations\.(amazonaws\\\.com/audience|gke-aws-verifier/role\\\.exports|gke-aws-verifier/region\\\.exports)\}$' "$log")" = 3
run othergsa TIMEOUT=30 OVERLAY=k8s/overlays/reports
check "a KSA mapped to another GSA: exit 2, naming both" \
  test "$status:$(has "$err" 'already has iam.gke.io/gcp-service-account=someone-else@example-project.iam.gserviceaccount.com, not reports-reader@.*OVERWRITE_ANNOTATIONS=1' && echo named)" = "2:named"
check "a KSA mapped to another GSA: nothing annotated, applied or created" test "$(calls | grep -cE ' annotate | apply | create ')" = 0
run othergsa TIMEOUT=30 OVERLAY=k8s/overlays/reports OVERWRITE_ANNOTATIONS=1
check "OVERWRITE_ANNOTATIONS=1 replaces it" test "$status:$(calls | grep -c ' annotate --overwrite ')" = "0:1"
run otherrole TIMEOUT=30 OVERLAY=k8s/overlays/reports
check "a KSA with another ARN for a named role: exit 2, naming the key and both values" \
  test "$status:$(has "$err" 'already has gke-aws-verifier/role.exports=arn:aws:iam::123456789012:role/someone-else, not arn:aws:iam::123456789012:role/reports-reader.exports.*OVERWRITE_ANNOTATIONS=1' && echo named)" = "2:named"
check "a KSA with another ARN for a named role: nothing annotated, applied or created" test "$(calls | grep -cE ' annotate | apply | create ')" = 0
run otherrole TIMEOUT=30 OVERLAY=k8s/overlays/reports OVERWRITE_ANNOTATIONS=1
check "OVERWRITE_ANNOTATIONS=1 replaces the named role" \
  test "$status:$(calls | grep -c ' annotate --overwrite .* gke-aws-verifier/role.exports=arn:aws:iam::123456789012:role/reports-reader.exports$')" = "0:1"
run noksa TIMEOUT=30 OVERLAY=k8s/overlays/reports
check "a missing application KSA: exit 2, saying it must exist" test "$status:$(has "$err" 'it must exist' && echo named)" = "2:named"
check "a missing application KSA: nothing applied, no Job created" test "$(calls | grep -cE ' apply | create ')" = 0

echo "verify-job.sh: application mode, cluster identity"
run success TIMEOUT=30 OVERLAY=k8s/overlays/example-cluster
check "exits 0" test "$status" = 0
check "annotates the role, the mode (no Google service account in this mode), the audience and the named role" \
  has "$(cat "$log")" '^-n payments annotate --overwrite serviceaccount ledger amazonaws.com/role-arn=arn:aws:iam::123456789012:role/ledger-reader gke-aws-verifier/identity=cluster amazonaws.com/audience=sts.amazonaws.com gke-aws-verifier/region.audit-log=eu-west-2 gke-aws-verifier/role.audit-log=arn:aws:iam::123456789012:role/ledger-reader.audit-log$'

echo "verify-job.sh: smoke"
run success OVERLAY=k8s/overlays/reports -- smoke
check "exits 0" test "$status" = 0
check "applies the standing resources and the CronJob, not the verify Job" has "$(cat "$log")" "^apply -f .* -l app.kubernetes.io/component!=verify$"
check "annotates the application's KSA" has "$(cat "$log")" '^-n payments annotate --overwrite serviceaccount reports-reader '
check "creates no Job" test "$(calls | grep -cE ' create | get job ')" = 0
run success -- smoke now
check "a second argument is a usage error (2)" test "$status" = 2
run success -- prove
check "an unknown action is a usage error (2) before any kubectl call" test "$status:$(wc -l <"$log")" = "2:0"

echo "verify-job.sh: an API error while polling"
run flaky TIMEOUT=30
check "keeps polling and exits 0" test "$status" = 0
check "read the Job twice" test "$(wc -l <"$log.polls")" = 2

echo "verify-job.sh: failed Job"
run failed TIMEOUT=60
check "propagates the verifier's exit code (4, STS)" test "$status" = 4
check "prints the report" has "$out" '"stage":"sts"'
check "names the Job's failure reason" has "$err" 'BackoffLimitExceeded'
check "deletes the Job" has "$(cat "$log")" "delete job gke-aws-verifier-verify-"

echo "verify-job.sh: Job failed before the verifier exited"
run deadline TIMEOUT=60
check "exits 1" test "$status" = 1
check "names the reason" has "$err" 'DeadlineExceeded'
check "deletes the Job" has "$(cat "$log")" "delete job gke-aws-verifier-verify-"

echo "verify-job.sh: timeout"
run timeout TIMEOUT=2 POLL=1
check "exits 124" test "$status" = 124
check "says it timed out" has "$err" 'timed out after 2s'
check "polled more than once, a bounded number of times" test "$(wc -l <"$log.polls")" -ge 2 -a "$(wc -l <"$log.polls")" -le 4
check "shows the pods" has "$(cat "$log")" 'get pods -l job-name=gke-aws-verifier-verify-.* -o wide'
check "deletes the Job" has "$(cat "$log")" "delete job gke-aws-verifier-verify-"

echo "verify-job.sh: settings"
run success KUBE_CONTEXT=gke_p_z_c NAMESPACE=other APPLY=0 KEEP_JOB=1 TIMEOUT=30
check "exits 0" test "$status" = 0
check "every call that reaches the cluster uses the context" test "$(calls | grep -vc -- '--context gke_p_z_c')" = 0
check "reading the render reaches no cluster" has "$(grep -- ' --local ' "$log")" '^annotate --local -f '
check "the namespace override reaches the Job" has "$(cat "$log")" "^--context gke_p_z_c -n other get job"
check "APPLY=0 applies and annotates nothing" test "$(calls | grep -cE ' apply | annotate ')" = 0
check "KEEP_JOB=1 keeps the Job" test "$(grep -c ' delete ' "$log")" = 0
run success TIMEOUT=soon
check "a bad TIMEOUT is a usage error (2) before any kubectl call" test "$status:$(wc -l <"$log")" = "2:0"
run success POLL=fast
check "a bad POLL is a usage error (2) before any kubectl call" test "$status:$(wc -l <"$log")" = "2:0"
run success OVERLAY=k8s/overlays/no-such
check "a missing overlay is a usage error (2)" test "$status" = 2

echo "verify-job.sh: the placeholder image"
mkdir -p "$tmp/placeholder"
base_rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' k8s/base "$tmp/placeholder")
sed '/^images:/,$d' k8s/overlays/reports/kustomization.yaml | sed "s#^  - ../../base#  - $base_rel#" >"$tmp/placeholder/kustomization.yaml"
cp k8s/overlays/reports/config.env k8s/overlays/reports/workload.yaml "$tmp/placeholder/"
run success OVERLAY="$tmp/placeholder"
check "is refused with exit 2, naming what to pass" test "$status:$(has "$err" 'placeholder image REGISTRY/gke-aws-verifier:0.1.0.*make k8s-config IMAGE=' && echo named)" = "2:named"
check "before anything reaches the cluster" test "$(calls | wc -l)" = 0

echo "verify-job.sh: the application pods' annotations come from the render, and only those keys"
# An overlay like reports, written elsewhere: the audience and roles are what it renders.
overlay_copy() { # overlay_copy DIR: a copy of the reports overlay in $tmp/DIR, its base path fixed
  mkdir -p "$tmp/$1"
  local rel
  rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' k8s/base "$tmp/$1")
  sed "s#^  - ../../base#  - $rel#" k8s/overlays/reports/kustomization.yaml >"$tmp/$1/kustomization.yaml"
  cp k8s/overlays/reports/config.env k8s/overlays/reports/workload.yaml "$tmp/$1/"
}
overlay_copy audience
sed -i 's#amazonaws.com/audience=sts.amazonaws.com#amazonaws.com/audience=aws|example.com#' "$tmp/audience/kustomization.yaml"
run success TIMEOUT=30 OVERLAY="$tmp/audience"
check "a rendered custom audience (even with a '|') reaches the KSA" \
  test "$status:$(calls | grep -c ' annotate --overwrite .* amazonaws.com/audience=aws|example.com gke-aws-verifier/region.exports=')" = "0:1"
overlay_copy foreign
sed -i 's#gke-aws-verifier/ksa-annotations: "#&iam.gke.io/gcp-service-account=attacker@evil-project.iam.gserviceaccount.com #' "$tmp/foreign/kustomization.yaml"
run success TIMEOUT=30 OVERLAY="$tmp/foreign"
check "a key outside audience and named roles: exit 2, naming it" \
  test "$status:$(has "$err" "ksa-annotations has 'iam.gke.io/gcp-service-account=attacker@.*expected KEY=VALUE" && echo named)" = "2:named"
check "a key outside audience and named roles: before anything reaches the cluster" test "$(calls | wc -l)" = 0
overlay_copy twice
sed -i 's#gke-aws-verifier/ksa-annotations: "#&gke-aws-verifier/role.exports=arn:aws:iam::123456789012:role/other #' "$tmp/twice/kustomization.yaml"
run success TIMEOUT=30 OVERLAY="$tmp/twice"
check "a key named twice: exit 2, naming it" \
  test "$status:$(has "$err" 'names gke-aws-verifier/role.exports twice' && echo named):$(calls | wc -l)" = "2:named:0"

echo "verify-job.sh: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
