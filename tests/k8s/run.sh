#!/usr/bin/env bash
# The Kubernetes delivery checks (called by `make test` from the repository root, with the
# project's .venv/bin on PATH). Each step says what it does; a missing tool is a failure, not a
# skip. Steps:
#   1. kubectl kustomize of every kustomization under k8s/ (found, not listed, so none can rot),
#      and every Component used by at least one of them
#   2. kubernetes-validate --strict of each render, for Kubernetes 1.29 and 1.33
#   3. checkov over k8s/ (rendered kustomizations and plain manifests) and the Dockerfiles
#   4. hadolint of the Dockerfiles
#   5. scripts/verify-job.sh's control flow, against a kubectl stand-in
#   6. pytest: scripts/k8s_config.py against a fixture of Terraform's `workloads` output, and the
#      manifests' own rules (what the base holds, the egress policy per GKE dataplane)
#   7. every ```yaml snippet of README.md, docs/ and k8s/**/README.md (tests/docs/snippets.py)
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_VERSIONS=(1.29.0 1.33.0) # 1.29: the first with native sidecars on by default; 1.33: current
mapfile -t DOCKERFILES < <(git ls-files '*Dockerfile')
((${#DOCKERFILES[@]})) || { echo "FAIL: no Dockerfile found" >&2; exit 1; }

passed=0 failed=0 failures=()
step() { echo; echo "==> $*"; }
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); failures+=("$*"); echo "FAILED: $*" >&2; }
# run NAME COMMAND...: one check; its output is shown as it runs.
run() {
  local name=$1; shift
  echo "+ $*"
  if "$@"; then ok "$name"; else bad "$name"; fi
}

step "tools"
for tool in kubectl kubernetes-validate checkov hadolint python3; do
  if path=$(command -v "$tool"); then ok "$tool at $path"; else bad "$tool not found on PATH (make venv installs the Python ones)"; fi
done
if python3 -c 'import pytest, yaml' 2>/dev/null; then ok "pytest and PyYAML"; else bad "pytest or PyYAML missing from $(command -v python3) (make venv installs them)"; fi
if [[ "$failed" != 0 ]]; then
  echo "k8s: $passed passed, $failed failed"
  exit 1
fi

render_dir=$(mktemp -d)
trap 'rm -rf "$render_dir"' EXIT

step "kubectl kustomize: every kustomization under k8s/"
kustomizations=() components=()
while IFS= read -r file; do
  dir=$(dirname "$file")
  if grep -qE '^kind: *Component *$' "$file"; then components+=("$dir"); else kustomizations+=("$dir"); fi
done < <(find k8s -type f \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization \) | sort)
[[ ${#kustomizations[@]} -gt 0 ]] || bad "no kustomization found under k8s/"
renders=()
for dir in "${kustomizations[@]}"; do
  out="$render_dir/$(tr / _ <<<"$dir").yaml"
  echo "+ kubectl kustomize $dir"
  if kubectl kustomize "$dir" >"$out"; then
    ok "$dir renders ($(grep -c '^kind:' "$out") resources)"
    renders+=("$out")
  else
    bad "$dir does not render"
  fi
  # Generated overlays carry Terraform's values: no UPPER_CASE placeholder may survive.
  if [[ "$dir" == k8s/overlays/* ]] && grep -nE '\b(GSA_EMAIL|ROLE_ARN|REGION|BUCKET)$|REGISTRY/' "$out"; then
    bad "$dir still has placeholders (above)"
  fi
done
# A Component cannot be built alone; it rots unless some kustomization builds it.
for dir in "${components[@]}"; do
  name=$(basename "$dir")
  if grep -rqE "^\s*- .*components/$name/?\s*$" --include=kustomization.yaml k8s; then
    ok "component $dir is built by a kustomization"
  else
    bad "component $dir is used by no kustomization under k8s/, so nothing checks it"
  fi
  if [[ -f "$dir/README.md" ]]; then ok "component $dir has a README"; else bad "component $dir has no README.md"; fi
done

step "kubernetes-validate --strict: each render, Kubernetes ${K8S_VERSIONS[*]}"
for version in "${K8S_VERSIONS[@]}"; do
  for out in "${renders[@]}"; do
    run "$(basename "$out" .yaml) is valid Kubernetes $version" kubernetes-validate --strict --quiet -k "$version" "$out"
  done
done

step "checkov: k8s/ and the Dockerfiles"
# The kustomize framework checks what gets deployed: each kustomization rendered, components and
# patches applied. Skips are annotations on the resources (checkov.io/skipN), each with its reason.
run "checkov kustomize k8s/" checkov --quiet --compact --skip-download --framework kustomize -d k8s
# The kubernetes framework checks the manifest files as written. *_patch.yaml files are partial
# objects (a patch adds containers to a pod the consumer defines), not resources: they are checked
# in their rendered form by the kustomize run above.
run "checkov kubernetes k8s/" checkov --quiet --compact --skip-download --framework kubernetes -d k8s --skip-path '_patch\.yaml$'
dockerfile_args=()
for f in "${DOCKERFILES[@]}"; do dockerfile_args+=(-f "$f"); done
run "checkov dockerfile" checkov --quiet --compact --skip-download --framework dockerfile "${dockerfile_args[@]}"

step "hadolint"
for f in "${DOCKERFILES[@]}"; do
  run "hadolint $f" hadolint "$f"
done

step "scripts/verify-job.sh control flow (kubectl stand-in)"
run "verify-job.sh tests" tests/k8s/verify-job.test.sh

step "pytest: scripts/k8s_config.py with a fixture of Terraform's workloads output; the manifests"
run "k8s_config.py and manifest tests" python3 -m pytest -q -p no:cacheprovider tests/k8s

step "documentation: every yaml snippet (kubernetes-validate --strict, kustomization fields)"
run "yaml snippets in README.md, docs/, k8s/**/README.md" python3 tests/docs/snippets.py

echo
if [[ "$failed" != 0 ]]; then
  printf 'failed: %s\n' "${failures[@]}" >&2
fi
echo "k8s: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
