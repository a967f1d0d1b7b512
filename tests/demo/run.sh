#!/usr/bin/env bash
# Tests scripts/demo.sh (make demo): a full run passes, shows the expected failure and
# leaves nothing running; an interrupted run (SIGINT, SIGTERM) cleans up too. Processes
# are tracked through DEMO_PIDFILE, so other tests' moto or emulators don't confuse it.
# Called by `make test-demo` from the repo root with the venv's bin on PATH.
set -euo pipefail

cd "$(dirname "$0")/../.."
WORK=$(mktemp -d)
BG=
cleanup() {
  # Only if a check failed midway: stop the demo we started and whatever it left.
  if [[ -n "$BG" ]]; then kill -TERM "$BG" 2>/dev/null || true; wait "$BG" 2>/dev/null || true; fi
  for f in "$WORK"/*.pids; do
    if [[ -f "$f" ]]; then xargs -r kill -KILL <"$f" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Every PID in FILE is gone (bounded: 10 s, for the kernel to reap them).
assert_gone() {
  local file=$1 pid alive
  [[ -s "$file" ]] || die "the demo recorded no PIDs in $file"
  for _ in $(seq 100); do
    alive=
    while read -r pid; do kill -0 "$pid" 2>/dev/null && alive+=" $pid"; done <"$file"
    [[ -z "$alive" ]] && { echo "ok: no demo process left ($(tr '\n' ' ' <"$file"))"; return; }
    sleep 0.1
  done
  alive=${alive# }
  ps -o pid,args -p "${alive// /,}" >&2 || true
  die "demo processes still running:$alive"
}

assert_contains() {
  grep -qF -- "$2" "$1" || { cat "$1"; die "output lacks: $2"; }
}

step "1. scripts/demo.sh passes and leaves nothing running"
rc=0
DEMO_PIDFILE=$WORK/full.pids scripts/demo.sh >"$WORK/full.out" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || { cat "$WORK/full.out"; die "demo exited $rc"; }
for text in '==> [2/13] started moto' 'and aws-sts-gate in front of its STS' 'PASS: keyless chain proven on emulators' \
  'PASS s3' 'credential_process served the AWS CLI' 'EXPECTED FAILURE' 'EXPECTED: exit 3' \
  'PROFILE default  role=arn:aws:iam::123456789012:role/gke-aws-demo-reader' \
  'PROFILE other  role=arn:aws:iam::123456789012:role/gke-aws-demo-reader.other' 'OK: all 2 roles proven' \
  'EXPECTED: AccessDenied: profile other reads' 'a pod with two roles, rendered by the webhook from its KSA' \
  'app (default role):      arn:aws:sts::123456789012:assumed-role/gke-aws-demo-reader/demo-pod' \
  'exporter (bound to other): arn:aws:sts::123456789012:assumed-role/gke-aws-demo-reader.other/demo-pod' \
  'app with --profile other: arn:aws:sts::123456789012:assumed-role/gke-aws-demo-reader.other/' \
  'the token met the role'"'"'s trust policy' 'PASS cluster_identity' 'mode=cluster sub=system:serviceaccount:gke-aws:verifier' \
  'assumed-role/gke-aws-demo-cluster-reader/' 'issuer consulted:' 'web_identity_token_file, no helper' \
  'ERROR sts: OidcProviderMissing: InvalidIdentityToken: No OpenIDConnect provider found' \
  'EXPECTED: exit 4 (STS stage), no OIDC provider' \
  'fix: kubectl rollout restart deployment/reports --namespace payments' 'EXPECTED: exit 6 (findings), one NotInjected pod' \
  'EXPECTED: exit 6 (findings), GsaRecreated for gke-aws/verifier with both unique ids' '==> teardown'; do
  assert_contains "$WORK/full.out" "$text"
done
grep -q '^FAIL:' "$WORK/full.out" && { cat "$WORK/full.out"; die "a FAIL line in a passing run"; }
[[ $(wc -l <"$WORK/full.pids") -eq 6 ]] \
  || die "expected 6 PIDs (moto, STS gate, metadata emulator, the recreated GSA's emulator, cluster issuer, Kubernetes API stand-in), got: $(cat "$WORK/full.pids")"
assert_gone "$WORK/full.pids"
echo "ok: exit 0, PASS summary, both modes proven, both EXPECTED failure sections"

# Interrupted with moto alone (SIGINT) and with all four peers (SIGTERM): teardown must still happen.
interrupt() {
  local n=$1 signal=$2 after=$3 out=$WORK/$2.out pids=$WORK/$2.pids rc=0
  step "$n. $signal after '$after': the demo tears down"
  # Job control on: a non-interactive shell's background jobs ignore SIGINT otherwise,
  # and a script cannot trap a signal ignored on entry.
  set -m
  DEMO_PIDFILE=$pids scripts/demo.sh >"$out" 2>&1 &
  BG=$!
  set +m
  for _ in $(seq 600); do  # bounded: 60 s (a cargo freshness check comes first)
    grep -qF -- "$after" "$out" && break
    kill -0 "$BG" 2>/dev/null || { cat "$out"; die "demo exited before '$after'"; }
    sleep 0.1
  done
  grep -qF -- "$after" "$out" || { cat "$out"; die "no '$after' within 60 s"; }
  kill -"$signal" "$BG"
  wait "$BG" || rc=$?
  BG=
  [[ $rc -ne 0 ]] || die "interrupted demo exited 0"
  assert_contains "$out" '==> teardown'
  assert_contains "$out" 'FAIL: demo did not complete'
  assert_gone "$pids"
  echo "ok: exit $rc, teardown ran"
}
interrupt 2 INT '==> [2/13] started moto'
interrupt 3 TERM '==> [9/13] cluster mode: started the cluster issuer'

printf '\ndemo checks: all passed\n'
