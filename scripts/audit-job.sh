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
hint="pass the image \`make image\` pushed, e.g. make audit IMAGE=europe-docker.pkg.dev/PROJECT/REPOSITORY/gke-aws-verifier@sha256:DIGEST"

# Bad input: exit 2 before any call to the cluster.
bad_input() { echo "audit: $*" >&2; exit 2; }
[[ -n "$IMAGE" ]] || bad_input "IMAGE: missing; $hint"
[[ "$IMAGE" != REGISTRY/* ]] || bad_input "IMAGE=$IMAGE: REGISTRY is the placeholder, not a registry; $hint"
# REPOSITORY[:TAG][@sha256:DIGEST], as scripts/k8s_config.py reads it; a tag or a digest is required.
image_re='^([a-z0-9][^@[:space:]:]*(:[0-9]+/[^@[:space:]:]+)?)(:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(sha256:[0-9a-f]{64}))?$'
[[ "$IMAGE" =~ $image_re ]] || bad_input "IMAGE=$IMAGE: expected REPOSITORY:TAG or REPOSITORY@sha256:DIGEST; $hint"
name=${BASH_REMATCH[1]} tag=${BASH_REMATCH[4]} digest=${BASH_REMATCH[6]}
[[ -n "$tag$digest" ]] || bad_input "IMAGE=$IMAGE: expected REPOSITORY:TAG or REPOSITORY@sha256:DIGEST; $hint"
[[ -n "$digest" || "$tag" != latest ]] || bad_input "IMAGE: pin a tag or a digest, not latest"
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
