#!/usr/bin/env bash
# Tests of scripts/audit-job.sh (make audit) against a kubectl stand-in written below (no cluster
# runs here; `kubectl kustomize` is the real one, so what would be applied is the real render):
# IMAGE missing, the placeholder, unpinned or malformed: exit 2 naming IMAGE before any call to
# the cluster; a digest or a tag: the CronJob applied carries that image and no placeholder, the
# Job is created from it, its report printed and its exit code returned; and `make audit`.
set -euo pipefail
cd "$(dirname "$0")/../.."

REAL_KUBECTL=$(command -v kubectl) || { echo "FAIL: kubectl not found (needed for kubectl kustomize)" >&2; exit 1; }
export REAL_KUBECTL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
cat >"$tmp/bin/kubectl" <<'STANDIN'
#!/usr/bin/env bash
# Appends each call to $STANDIN_LOG; `apply -k DIR` renders DIR with the real kubectl into
# $STANDIN_LOG.applied; the Job completes at once and its pod exited $STANDIN_EXIT.
set -euo pipefail
echo "$*" >>"$STANDIN_LOG"
words=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --context | --namespace | -n) shift 2 ;;
    *) words+=("$1"); shift ;;
  esac
done
case "${words[0]}:${words[1]:-}" in
  kustomize:*) exec "$REAL_KUBECTL" "${words[@]}" ;;
  apply:-k) "$REAL_KUBECTL" kustomize "${words[2]}" >"$STANDIN_LOG.applied"; echo "applied (stand-in)" ;;
  create:job) echo "job.batch/${words[2]} created" ;;
  get:job) echo "1/" ;;
  logs:*) echo "AUDIT REPORT (stand-in)" ;;
  get:pods) echo "$STANDIN_EXIT" ;;
  delete:job) echo "job.batch/${words[2]} deleted" ;;
  *) echo "stand-in: unexpected kubectl $*" >&2; exit 99 ;;
esac
STANDIN
chmod +x "$tmp/bin/kubectl"
export PATH="$tmp/bin:$PATH"

passed=0 failed=0
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "  ok   $name"; else failed=$((failed + 1)); echo "  FAIL $name" >&2; fi
}
has() { grep -qE -- "$2" <<<"$1"; }
lacks() { ! grep -qE -- "$2" <<<"$1"; }

# run [ENV=VALUE...] [-- COMMAND...]: runs scripts/audit-job.sh (or COMMAND); sets $status, $out, $err, $log.
run() {
  local envs=() command=(scripts/audit-job.sh)
  while [[ $# -gt 0 ]]; do
    if [[ "$1" == -- ]]; then shift; command=("$@"); break; fi
    envs+=("$1"); shift
  done
  log="$tmp/log.$RANDOM"
  : >"$log"
  set +e
  env -u IMAGE STANDIN_LOG="$log" STANDIN_EXIT=6 AUDIT_POLL_SECONDS=0 "${envs[@]}" "${command[@]}" >"$tmp/out" 2>"$tmp/err"
  status=$?
  set -e
  out=$(cat "$tmp/out") err=$(cat "$tmp/err")
}

digest=sha256:$(printf '%064d' 7)

echo "audit-job.sh: bad IMAGE, exit 2 before any call to the cluster"
for case in "missing:" "placeholder:REGISTRY/gke-aws-verifier:0.1.0" "unpinned:registry.example/gke-aws-verifier" \
  "latest:registry.example/gke-aws-verifier:latest" "spaces:registry.example/a b:1"; do
  run "IMAGE=${case#*:}"
  check "${case%%:*}: exits 2" test "$status" = 2
  check "${case%%:*}: names IMAGE and the fix" has "$err" '^audit: IMAGE.*(make audit IMAGE=|not latest)'
  check "${case%%:*}: calls no kubectl" test ! -s "$log"
done

echo "audit-job.sh: a digest"
before=$(git status --porcelain --untracked-files=all -- k8s; find k8s -newer "$tmp/bin/kubectl" -print)
run "IMAGE=europe-docker.pkg.dev/proj/repo/gke-aws-verifier@$digest" KUBE_CONTEXT=prod
check "exits with the audit's exit code (6, findings)" test "$status" = 6
check "prints the Job's report" has "$out" '^AUDIT REPORT \(stand-in\)$'
check "the applied CronJob runs the image by digest" \
  has "$(cat "$log.applied")" "^ +image: europe-docker.pkg.dev/proj/repo/gke-aws-verifier@$digest$"
check "no placeholder is applied" lacks "$(cat "$log.applied")" 'REGISTRY/'
check "the audit's CronJob and its RBAC are applied" \
  test "$(grep -cE '^kind: (CronJob|ClusterRole|ClusterRoleBinding|Role|RoleBinding|ServiceAccount)$' "$log.applied")" = 6
check "every call names the context" test "$(grep -vc -- '^--context prod ' "$log")" = 0
check "creates the Job from the CronJob" has "$(cat "$log")" '^--context prod --namespace gke-aws-webhook create job gke-aws-audit-manual-[0-9]+ --from=cronjob/gke-aws-audit$'
check "deletes the Job at the end" has "$(cat "$log")" ' delete job gke-aws-audit-manual-[0-9]+ --wait=false$'
check "writes nothing under k8s/" \
  test "$before" = "$(git status --porcelain --untracked-files=all -- k8s; find k8s -newer "$tmp/bin/kubectl" -print)"

echo "audit-job.sh: a tag, a clean audit"
run "IMAGE=registry.example:5000/team/gke-aws-verifier:0.2.0" STANDIN_EXIT=0
check "exits 0 (the audit's)" test "$status" = 0
check "the applied CronJob runs the tagged image" \
  has "$(cat "$log.applied")" '^ +image: registry.example:5000/team/gke-aws-verifier:0.2.0$'

echo "make audit"
run -- make --no-print-directory audit
check "without IMAGE: fails" test "$status" = 2
check "without IMAGE: names IMAGE" has "$err" '^audit: IMAGE: missing; pass the image `make image` pushed'
check "without IMAGE: calls no kubectl" test ! -s "$log"
run -- make --no-print-directory audit "IMAGE=registry.example/gke-aws-verifier@$digest" STANDIN_EXIT=0
check "with IMAGE: exits 0" test "$status" = 0
check "with IMAGE: applies that image" has "$(cat "$log.applied")" "^ +image: registry.example/gke-aws-verifier@$digest$"

echo "audit-job.sh: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
