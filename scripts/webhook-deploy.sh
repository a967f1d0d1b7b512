#!/usr/bin/env bash
# make webhook-deploy IMAGE=...: applies the injection webhook (WEBHOOK_OVERLAY, default
# k8s/webhook/overlays/cert-manager; k8s/webhook/overlays/self-signed needs no cert-manager) with
# the verifier's image IMAGE (what `make image` pushed; it carries gke-aws-webhook too) to the
# current context (or KUBE_CONTEXT), then waits for its rollout.
#
# The image is set by kustomize itself, as scripts/audit-job.sh does: a generated kustomization in
# a temporary directory takes the overlay as its resource and replaces the placeholder
# REGISTRY/gke-aws-verifier through `images:`. `images:` rewrites only image fields, not the
# webhook's `--sidecar-image=` argument, so a `replacements:` entry in the same kustomization copies
# the container's (already rewritten) image into that argument: kustomize runs a kustomization's
# replacements after its images transformer. Nothing in the repository is edited. What is applied
# is the render checked here (no placeholder left).
#
# Exit codes: 0 rolled out; 2 bad input (before any call to the cluster); 1 the cluster is not
# ready for the overlay (cert-manager's CRDs missing) or kubectl failed.
set -euo pipefail
cd "$(dirname "$0")/.."

OVERLAY=${WEBHOOK_OVERLAY:-k8s/webhook/overlays/cert-manager}
NAMESPACE=gke-aws-webhook
IMAGE=${IMAGE:-}
# cert-manager's static install (https://cert-manager.io/docs/installation/kubectl/).
CERT_MANAGER_INSTALL="kubectl apply -f https://github.com/cert-manager/cert-manager/releases/download/v1.16.2/cert-manager.yaml"
# Bad input: exit 2 before any call to the cluster.
# shellcheck source=lib/image.sh
source scripts/lib/image.sh
image_check webhook-deploy "make webhook-deploy"
name=$image_name tag=$image_tag digest=$image_digest
bad_input() { echo "webhook-deploy: $*" >&2; exit 2; }
[[ -d "$OVERLAY" ]] || bad_input "WEBHOOK_OVERLAY=$OVERLAY: no such directory (k8s/webhook/overlays/cert-manager or k8s/webhook/overlays/self-signed)"

kubectl=(kubectl)
[[ -n "${KUBE_CONTEXT:-}" ]] && kubectl+=(--context "$KUBE_CONTEXT")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -n "$digest" ]]; then pin="    digest: $digest"; else pin="    newTag: \"$tag\""; fi
cat >"$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work" "$OVERLAY")
images:
  - name: REGISTRY/gke-aws-verifier
    newName: $name
$pin
replacements:
  - source:
      kind: Deployment
      name: gke-aws-webhook
      fieldPath: spec.template.spec.containers.[name=webhook].image
    targets:
      - select:
          kind: Deployment
          name: gke-aws-webhook
        fieldPaths:
          - spec.template.spec.containers.[name=webhook].args.[=--sidecar-image=REGISTRY/gke-aws-verifier:0.1.0]
        options:
          delimiter: "="
          index: 1
YAML

# A local render (no cluster call): what is applied below, checked first.
kubectl kustomize "$work" >"$work/rendered.yaml" ||
  bad_input "WEBHOOK_OVERLAY=$OVERLAY: kubectl kustomize failed (above); an overlay must keep the base's --sidecar-image=REGISTRY/gke-aws-verifier:0.1.0 argument"
if grep -n 'REGISTRY/' "$work/rendered.yaml" >&2; then
  bad_input "WEBHOOK_OVERLAY=$OVERLAY: the placeholder REGISTRY/ survives the render (above)"
fi

# The cert-manager overlay (any render with cert-manager.io objects) needs cert-manager's CRDs,
# or kubectl apply fails half-way with "no matches for kind Certificate".
if grep -q '^apiVersion: cert-manager\.io/' "$work/rendered.yaml"; then
  if ! err=$("${kubectl[@]}" get crd certificates.cert-manager.io -o name 2>&1 >/dev/null); then
    if grep -q NotFound <<<"$err"; then
      echo "webhook-deploy: cert-manager is not installed in this cluster (no CRD certificates.cert-manager.io)." >&2
      echo "  Install it:  $CERT_MANAGER_INSTALL" >&2
      echo "  (and wait for: kubectl -n cert-manager rollout status deployment/cert-manager-webhook)," >&2
      echo "  or deploy without it: make webhook-deploy IMAGE=$IMAGE WEBHOOK_OVERLAY=k8s/webhook/overlays/self-signed" >&2
    else
      echo "webhook-deploy: could not ask the cluster for cert-manager's CRD: $err" >&2
    fi
    exit 1
  fi
fi

echo "==> kubectl apply of $OVERLAY with image $IMAGE (webhook and its --sidecar-image)"
"${kubectl[@]}" apply -f "$work/rendered.yaml"
"${kubectl[@]}" --namespace "$NAMESPACE" rollout status deployment/gke-aws-webhook --timeout=180s
