#!/usr/bin/env bash
# make audit IMAGE=...: applies the audit CronJob (AUDIT_KUSTOMIZATION, default k8s/examples/audit)
# with the verifier's image IMAGE (what `make image` pushed; it carries gke-aws-audit too) to the
# current context (or KUBE_CONTEXT), runs it once as a Job, prints its report and exits with the
# audit's own exit code (0 clean, 6 findings at or above --fail-on, 2 bad input, 1 unexpected;
# `gke-aws-verifier audit --help`). Its own failures: 2 bad input, 124 when the Job does not finish
# in time, 1 when the pod reports no exit code (as scripts/verify-job.sh).
#
# The image is set by kustomize itself: a generated kustomization in a temporary directory takes
# AUDIT_KUSTOMIZATION as its resource and replaces the placeholder REGISTRY/gke-aws-verifier
# through its `images:` field; nothing in the repository is edited. (kustomize takes a directory
# resource only as a relative path, hence realpath --relative-to.)
set -euo pipefail
cd "$(dirname "$0")/.."

KUSTOMIZATION=${AUDIT_KUSTOMIZATION:-k8s/examples/audit}
NAMESPACE=${AUDIT_NAMESPACE:-gke-aws-webhook}
TIMEOUT_SECONDS=${AUDIT_TIMEOUT_SECONDS:-600}
IMAGE=${IMAGE:-}
# Bad input: exit 2 before any call to the cluster.
# shellcheck source=lib/image.sh
source scripts/lib/image.sh
image_check audit "make audit"
name=$image_name tag=$image_tag digest=$image_digest
bad_input() { echo "audit: $*" >&2; exit 2; }
[[ -d "$KUSTOMIZATION" ]] || bad_input "AUDIT_KUSTOMIZATION=$KUSTOMIZATION: no such directory"

kubectl=(kubectl)
[[ -n "${KUBE_CONTEXT:-}" ]] && kubectl+=(--context "$KUBE_CONTEXT")
job="gke-aws-audit-manual-$(date +%s)"
work=$(mktemp -d)
cleanup() {
  [[ -n "${created:-}" ]] && "${kubectl[@]}" --namespace "$NAMESPACE" delete job "$job" --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

if [[ -n "$digest" ]]; then pin="    digest: $digest"; else pin="    newTag: \"$tag\""; fi
cat >"$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work" "$KUSTOMIZATION")
images:
  - name: REGISTRY/gke-aws-verifier
    newName: $name
$pin
YAML

echo "==> kubectl apply -k $KUSTOMIZATION with image $IMAGE (the audit's CronJob and read-only RBAC in $NAMESPACE)"
"${kubectl[@]}" apply -k "$work"
echo "==> kubectl create job $job --from=cronjob/gke-aws-audit"
"${kubectl[@]}" --namespace "$NAMESPACE" create job "$job" --from=cronjob/gke-aws-audit
created=1

deadline=$((SECONDS + TIMEOUT_SECONDS))
while :; do
  state=$("${kubectl[@]}" --namespace "$NAMESPACE" get job "$job" -o jsonpath='{.status.succeeded}/{.status.failed}')
  [[ "$state" == 1/* || "$state" == */1 ]] && break
  if ((SECONDS > deadline)); then
    echo "audit: the Job did not finish within ${TIMEOUT_SECONDS}s" >&2
    exit 124
  fi
  sleep "${AUDIT_POLL_SECONDS:-2}"
done
"${kubectl[@]}" --namespace "$NAMESPACE" logs "job/$job" --container audit
code=$("${kubectl[@]}" --namespace "$NAMESPACE" get pods --selector "job-name=$job" \
  -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
echo "==> audit exit code ${code:-unknown}"
exit "${code:-1}"
