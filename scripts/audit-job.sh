#!/usr/bin/env bash
# make audit: applies the audit CronJob (AUDIT_KUSTOMIZATION, default k8s/examples/audit) to the
# current context (or KUBE_CONTEXT), runs it once as a Job, prints its report and exits with the
# audit's own exit code (0 clean, 1 findings at or above --fail-on, 2 bad input).
set -euo pipefail
cd "$(dirname "$0")/.."

KUSTOMIZATION=${AUDIT_KUSTOMIZATION:-k8s/examples/audit}
NAMESPACE=${AUDIT_NAMESPACE:-gke-aws-webhook}
TIMEOUT_SECONDS=${AUDIT_TIMEOUT_SECONDS:-600}
kubectl=(kubectl)
[[ -n "${KUBE_CONTEXT:-}" ]] && kubectl+=(--context "$KUBE_CONTEXT")
job="gke-aws-audit-manual-$(date +%s)"

echo "==> kubectl apply -k $KUSTOMIZATION (the audit's CronJob and read-only RBAC in $NAMESPACE)"
"${kubectl[@]}" apply -k "$KUSTOMIZATION"
echo "==> kubectl create job $job --from=cronjob/gke-aws-audit"
"${kubectl[@]}" --namespace "$NAMESPACE" create job "$job" --from=cronjob/gke-aws-audit
trap '"${kubectl[@]}" --namespace "$NAMESPACE" delete job "$job" --wait=false >/dev/null 2>&1 || true' EXIT

deadline=$((SECONDS + TIMEOUT_SECONDS))
while :; do
  state=$("${kubectl[@]}" --namespace "$NAMESPACE" get job "$job" -o jsonpath='{.status.succeeded}/{.status.failed}')
  [[ "$state" == 1/* || "$state" == */1 ]] && break
  if ((SECONDS > deadline)); then
    echo "audit: the Job did not finish within ${TIMEOUT_SECONDS}s" >&2
    exit 3
  fi
  sleep 2
done
"${kubectl[@]}" --namespace "$NAMESPACE" logs "job/$job" --container audit
code=$("${kubectl[@]}" --namespace "$NAMESPACE" get pods --selector "job-name=$job" \
  -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
echo "==> audit exit code ${code:-unknown}"
exit "${code:-3}"
