#!/usr/bin/env bash
# Proves the chain in the cluster once (behind `make verify`): renders the overlay, applies its
# standing resources (Namespace, KSA, ConfigMap, NetworkPolicy; not the CronJob), creates the
# verify Job under a unique name, waits until it is Complete or Failed (whichever comes first)
# or the timeout passes, prints the verifier's report (its pod's log), deletes the Job.
#
# Exit status: 0 access proven; the verifier's own exit code when it failed (2 bad input or
# configuration, 3 Google identity, 4 STS, 5 S3, 1 unexpected); 1 when the Job failed without a
# verifier exit code (deadline exceeded, image pull, ...); 124 on timeout; 2 on a bad setting here.
#
# Environment:
#   OVERLAY       kustomization to run (default k8s/overlays/example; `make k8s-config` writes them)
#   KUBE_CONTEXT  kubectl context (default: the current one)
#   NAMESPACE     override the overlay's namespace (default: the overlay's)
#   TIMEOUT       seconds to wait for the Job (default 240; the Job's own deadline is 180)
#   APPLY         1 (default): apply the standing resources first; 0: they are deployed otherwise
#   KEEP_JOB      1: leave the Job and its pod for inspection (its TTL removes it after 30 minutes)
#   KUBECTL       kubectl binary (default kubectl)
set -euo pipefail

OVERLAY=${OVERLAY:-k8s/overlays/example}
KUBE_CONTEXT=${KUBE_CONTEXT:-}
NAMESPACE=${NAMESPACE:-}
TIMEOUT=${TIMEOUT:-240}
APPLY=${APPLY:-1}
KEEP_JOB=${KEEP_JOB:-0}
KUBECTL=${KUBECTL:-kubectl}

say() { echo "verify: $*" >&2; }
die() { say "$2"; exit "$1"; }

[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die 2 "TIMEOUT must be a whole number of seconds, not '$TIMEOUT'"
[[ -f "$OVERLAY/kustomization.yaml" ]] || die 2 "no kustomization at OVERLAY=$OVERLAY (run make k8s-config, or set OVERLAY)"
command -v "$KUBECTL" >/dev/null || die 2 "$KUBECTL not found on PATH"

kc=("$KUBECTL")
[[ -n "$KUBE_CONTEXT" ]] && kc+=(--context "$KUBE_CONTEXT")

# A name nobody else uses: time to the second plus randomness (Job names end up in a 63-character label).
job="gke-aws-verifier-verify-$(date -u +%Y%m%d%H%M%S)-$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 5 || true)"
work=$(mktemp -d)
ns=""
created=0
waiters=()

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local status=$?
  for pid in "${waiters[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "$created" == 1 ]]; then
    if [[ "$KEEP_JOB" == 1 ]]; then
      say "kept job/$job in namespace $ns (KEEP_JOB=1)"
    else
      say "deleting job/$job"
      "${kc[@]}" -n "$ns" delete job "$job" --ignore-not-found --wait=false >/dev/null ||
        say "could not delete job/$job; its ttlSecondsAfterFinished removes it"
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Render the overlay with the Job renamed: a throwaway kustomization on top of it.
overlay_rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$OVERLAY" "$work")
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  [[ -n "$NAMESPACE" ]] && echo "namespace: $NAMESPACE"
  echo "resources:"
  echo "  - $overlay_rel"
  echo "patches:"
  echo "  - target:"
  echo "      kind: Job"
  echo "      labelSelector: app.kubernetes.io/component=verify"
  echo "    patch: |-"
  echo "      - op: replace"
  echo "        path: /metadata/name"
  echo "        value: $job"
} >"$work/kustomization.yaml"
say "rendering $OVERLAY"
"${kc[@]}" kustomize "$work" >"$work/rendered.yaml"
ns=$(awk -v job="$job" '
  /^---/ { is_job = 0; named = 0; n = "" }
  /^kind: Job$/ { is_job = 1 }
  /^  name: / { if ($2 == job) named = 1 }
  /^  namespace: / { n = $2 }
  is_job && named && n != "" { print n; exit }
' "$work/rendered.yaml")
[[ -n "$ns" ]] || die 2 "the render of $OVERLAY has no namespaced Job labelled app.kubernetes.io/component=verify"

if [[ "$APPLY" == 1 ]]; then
  say "applying the standing resources of $OVERLAY (not the CronJob) to namespace $ns"
  "${kc[@]}" apply -f "$work/rendered.yaml" -l 'app.kubernetes.io/component notin (verify,smoke)' >&2
fi

say "creating job/$job in namespace $ns"
"${kc[@]}" create -f "$work/rendered.yaml" -l app.kubernetes.io/component=verify >&2
created=1

# Wait for either condition: waiting for Complete alone would sit out the whole timeout on a
# failed Job. Both waits run at once; the first to succeed decides.
say "waiting up to ${TIMEOUT}s for job/$job to complete or fail"
"${kc[@]}" -n "$ns" wait --for=condition=complete "job/$job" --timeout="${TIMEOUT}s" >/dev/null 2>"$work/wait-complete.err" &
complete_pid=$!
"${kc[@]}" -n "$ns" wait --for=condition=failed "job/$job" --timeout="${TIMEOUT}s" >/dev/null 2>"$work/wait-failed.err" &
failed_pid=$!
waiters=("$complete_pid" "$failed_pid")
outcome=""
complete_done="" failed_done=""
while [[ -z "$outcome" ]]; do
  if [[ -z "$complete_done" ]] && ! kill -0 "$complete_pid" 2>/dev/null; then
    if wait "$complete_pid"; then outcome=complete; else complete_done=1; fi
  fi
  if [[ -z "$outcome" && -z "$failed_done" ]] && ! kill -0 "$failed_pid" 2>/dev/null; then
    if wait "$failed_pid"; then outcome=failed; else failed_done=1; fi
  fi
  # Both gave up without their condition: timed out (or kubectl could not watch).
  [[ -z "$outcome" && -n "$complete_done" && -n "$failed_done" ]] && outcome=timeout
  [[ -n "$outcome" ]] || sleep 1
done
for pid in "${waiters[@]}"; do kill "$pid" 2>/dev/null || true; done
waiters=()

# The last pod's name and the verifier's exit code ("" while it runs or if it never started).
last=$("${kc[@]}" -n "$ns" get pods -l "job-name=$job" --sort-by=.metadata.creationTimestamp \
  -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.containerStatuses[?(@.name=="verifier")].state.terminated.exitCode}{"\n"}{end}' |
  tail -n 1) || last=""
pod=${last%% *}
code=${last#* }
[[ "$last" == *" "* ]] || code=""

if [[ -n "$pod" ]]; then
  say "report of pod/$pod:"
  "${kc[@]}" -n "$ns" logs "pod/$pod" -c verifier || say "no log from pod/$pod"
else
  say "the Job started no pod"
fi

case "$outcome" in
  complete)
    say "job/$job complete: access proven"
    exit 0
    ;;
  failed)
    reason=$("${kc[@]}" -n "$ns" get job "$job" \
      -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message}' || true)
    say "job/$job failed (${reason:-no reason given})"
    if [[ "$code" =~ ^[0-9]+$ && "$code" != 0 ]]; then
      say "verifier exit code $code (2 bad input, 3 Google identity, 4 STS, 5 S3, 1 unexpected)"
      exit "$code"
    fi
    exit 1
    ;;
  *)
    say "timed out after ${TIMEOUT}s waiting for job/$job: $(tail -n 1 "$work/wait-complete.err" 2>/dev/null)"
    "${kc[@]}" -n "$ns" get pods -l "job-name=$job" -o wide >&2 || true
    exit 124
    ;;
esac
