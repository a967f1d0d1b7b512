#!/usr/bin/env bash
# Tests of scripts/webhook-deploy.sh (make webhook-deploy) against a kubectl stand-in written below
# (no cluster runs here; `kubectl kustomize` is the real one, so what would be applied is the real
# render): IMAGE missing, the placeholder, unpinned, latest or malformed, or an overlay that does not
# exist: exit 2 naming the variable and an example, and kubectl never called; the cert-manager
# overlay on a cluster without cert-manager's CRDs: exit 1 with the install command, nothing
# applied; otherwise the render applied carries IMAGE in both the container's image and its
# --sidecar-image argument, no placeholder, and the rollout is awaited; the self-signed overlay
# without asking for cert-manager; and `make webhook-deploy`.
set -euo pipefail
cd "$(dirname "$0")/../.."

REAL_KUBECTL=$(command -v kubectl) || { echo "FAIL: kubectl not found (needed for kubectl kustomize)" >&2; exit 1; }
export REAL_KUBECTL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
cat >"$tmp/bin/kubectl" <<'STANDIN'
#!/usr/bin/env bash
# Appends each call but `kustomize` (local, no cluster) to $STANDIN_LOG; `apply -f FILE` keeps
# FILE as $STANDIN_LOG.applied; cert-manager's CRD exists when STANDIN_CERT_MANAGER=1.
set -euo pipefail
words=()
args=("$@")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --context | --namespace | -n | -o) shift 2 ;;
    *) words+=("$1"); shift ;;
  esac
done
[[ "${words[0]}" == kustomize ]] && exec "$REAL_KUBECTL" "${words[@]}"
echo "${args[*]}" >>"$STANDIN_LOG"
case "${words[0]}:${words[1]:-}" in
  apply:-f) cp "${words[2]}" "$STANDIN_LOG.applied"; echo "applied (stand-in)" ;;
  get:crd)
    if [[ "${STANDIN_CERT_MANAGER:-}" == 1 ]]; then echo "customresourcedefinition.apiextensions.k8s.io/${words[2]}"; else
      echo "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io \"${words[2]}\" not found" >&2
      exit 1
    fi ;;
  rollout:status) echo "deployment \"gke-aws-webhook\" successfully rolled out" ;;
  *) echo "stand-in: unexpected kubectl ${args[*]}" >&2; exit 99 ;;
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

# run [ENV=VALUE...] [-- COMMAND...]: runs scripts/webhook-deploy.sh (or COMMAND); sets $status,
# $out, $err, $log (the cluster calls), $applied (what was applied, empty if nothing).
run() {
  local envs=() command=(scripts/webhook-deploy.sh)
  while [[ $# -gt 0 ]]; do
    if [[ "$1" == -- ]]; then shift; command=("$@"); break; fi
    envs+=("$1"); shift
  done
  log="$tmp/log.$RANDOM"
  : >"$log"
  set +e
  env -u IMAGE -u WEBHOOK_OVERLAY -u KUBE_CONTEXT STANDIN_LOG="$log" "${envs[@]}" "${command[@]}" >"$tmp/out" 2>"$tmp/err"
  status=$?
  set -e
  out=$(cat "$tmp/out") err=$(cat "$tmp/err") applied=$(cat "$log.applied" 2>/dev/null || true)
}

digest=sha256:$(printf '%064d' 7)
example='e\.g\. make webhook-deploy IMAGE=europe-docker\.pkg\.dev/PROJECT/REPOSITORY/gke-aws-verifier@sha256:DIGEST'

echo "webhook-deploy.sh: bad IMAGE, exit 2 before any call to the cluster"
for case in "missing:" "placeholder:REGISTRY/gke-aws-verifier:0.1.0" "unpinned:registry.example/gke-aws-verifier" \
  "latest:registry.example/gke-aws-verifier:latest" "spaces:registry.example/a b:1"; do
  run "IMAGE=${case#*:}"
  check "${case%%:*}: exits 2" test "$status" = 2
  check "${case%%:*}: names IMAGE" has "$err" '^webhook-deploy: IMAGE'
  [[ "${case%%:*}" == latest ]] || check "${case%%:*}: gives an example" has "$err" "$example"
  check "${case%%:*}: calls no kubectl" test ! -s "$log"
done
run "IMAGE=registry.example/gke-aws-verifier:0.2.0" WEBHOOK_OVERLAY=k8s/webhook/overlays/nope
check "unknown overlay: exits 2" test "$status" = 2
check "unknown overlay: names WEBHOOK_OVERLAY" has "$err" '^webhook-deploy: WEBHOOK_OVERLAY=k8s/webhook/overlays/nope: no such directory'
check "unknown overlay: calls no kubectl" test ! -s "$log"

echo "webhook-deploy.sh: the cert-manager overlay on a cluster without cert-manager"
run "IMAGE=europe-docker.pkg.dev/proj/repo/gke-aws-verifier@$digest" KUBE_CONTEXT=prod
check "exits 1" test "$status" = 1
check "says cert-manager is missing" has "$err" 'cert-manager is not installed in this cluster \(no CRD certificates\.cert-manager\.io\)'
check "gives the install command" \
  has "$err" 'Install it: +kubectl apply -f https://github\.com/cert-manager/cert-manager/releases/download/v[0-9.]+/cert-manager\.yaml$'
check "names the overlay without cert-manager" has "$err" 'WEBHOOK_OVERLAY=k8s/webhook/overlays/self-signed'
check "asks for the CRD, in the context, and nothing else" \
  test "$(cat "$log")" = "--context prod get crd certificates.cert-manager.io -o name"
check "applies nothing" test -z "$applied"

echo "webhook-deploy.sh: the cert-manager overlay, a digest"
before=$(git status --porcelain --untracked-files=all -- k8s; find k8s -newer "$tmp/bin/kubectl" -print)
run "IMAGE=europe-docker.pkg.dev/proj/repo/gke-aws-verifier@$digest" KUBE_CONTEXT=prod STANDIN_CERT_MANAGER=1
check "exits 0" test "$status" = 0
check "the webhook container runs the image by digest" \
  has "$applied" "^ +image: europe-docker.pkg.dev/proj/repo/gke-aws-verifier@$digest$"
check "its --sidecar-image is the same image" \
  has "$applied" "^ +- --sidecar-image=europe-docker.pkg.dev/proj/repo/gke-aws-verifier@$digest$"
check "no placeholder is applied" lacks "$applied" 'REGISTRY/'
check "the cert-manager Certificate is applied" has "$applied" '^kind: Certificate$'
check "every call names the context" test "$(grep -vc -- '^--context prod ' "$log")" = 0
check "awaits the rollout" has "$(cat "$log")" '^--context prod --namespace gke-aws-webhook rollout status deployment/gke-aws-webhook --timeout=180s$'
check "writes nothing under k8s/" \
  test "$before" = "$(git status --porcelain --untracked-files=all -- k8s; find k8s -newer "$tmp/bin/kubectl" -print)"

echo "webhook-deploy.sh: a tag"
run "IMAGE=registry.example:5000/team/gke-aws-verifier:0.2.0" STANDIN_CERT_MANAGER=1
check "exits 0" test "$status" = 0
check "image and --sidecar-image are the tagged image" \
  test "$(grep -cE '(image: |--sidecar-image=)registry.example:5000/team/gke-aws-verifier:0.2.0$' <<<"$applied")" = 2

echo "webhook-deploy.sh: the self-signed overlay needs no cert-manager"
run "IMAGE=registry.example/gke-aws-verifier@$digest" WEBHOOK_OVERLAY=k8s/webhook/overlays/self-signed
check "exits 0" test "$status" = 0
check "does not ask for cert-manager's CRD" lacks "$(cat "$log")" 'get crd'
check "applies the self-signed mode with the image in both places" \
  test "$(grep -cE "(image: |--sidecar-image=)registry.example/gke-aws-verifier@$digest$|--self-signed-secret=gke-aws-webhook-tls$" <<<"$applied")" = 3
check "applies no cert-manager object" lacks "$applied" '^apiVersion: cert-manager\.io/'

echo "make webhook-deploy"
run -- make --no-print-directory webhook-deploy
check "without IMAGE: fails" test "$status" = 2
check "without IMAGE: names IMAGE and an example" has "$err" "^webhook-deploy: IMAGE: missing; pass the image \`make image\` pushed, $example"
check "without IMAGE: calls no kubectl" test ! -s "$log"
run -- make --no-print-directory webhook-deploy "IMAGE=registry.example/gke-aws-verifier@$digest"
check "with IMAGE, no cert-manager: fails" test "$status" = 2
check "with IMAGE, no cert-manager: gives the install command" has "$err" 'Install it: +kubectl apply -f https://'
run -- make --no-print-directory webhook-deploy "IMAGE=registry.example/gke-aws-verifier@$digest" STANDIN_CERT_MANAGER=1
check "with IMAGE: exits 0" test "$status" = 0
check "with IMAGE: applies that image to the webhook and its sidecar" \
  test "$(grep -cE "(image: |--sidecar-image=)registry.example/gke-aws-verifier@$digest$" <<<"$applied")" = 2

echo "webhook-deploy.sh: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
