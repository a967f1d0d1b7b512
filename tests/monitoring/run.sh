#!/usr/bin/env bash
# The monitoring checks (make test-monitoring, from the repository root with the project's
# .venv/bin on PATH). A missing tool is a failure, not a skip. Steps:
#   1. the rendered rules, ClusterRules, PrometheusRule and dashboard are k8s/monitoring/
#      generate.py's output of k8s/monitoring/source.yaml (--check)
#   2. promtool check rules: the plain rules file parses, and so does every rule in it
#   3. promtool test rules: tests/monitoring/rules.test.yaml, every alert firing and silent
#   4. pytest tests/monitoring: inputs and their checks, defaults against the manifests, house
#      style and runbook sections, metric names against their exporters, the dashboard's queries
#      (promtool), the custom resources against the published CRDs (crd_schema.py), the scrapes;
#      test_live.py: a real Prometheus scraping the real webhook (target/release-test, make
#      release-test) and a Pushgateway fed by real verify and audit runs, the shipped rules
#      firing, every dashboard query answered
set -euo pipefail
cd "$(dirname "$0")/../.."

RULES=k8s/monitoring/gke-aws-verifier.rules.yaml
passed=0 failed=0 failures=()
step() { echo; echo "==> $*"; }
run() {
  local name=$1; shift
  echo "+ $*"
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); failures+=("$name"); echo "FAILED: $name" >&2; fi
}

step "tools"
missing=0
declare -A hint=([promtool]="Debian: apt-get install prometheus" [prometheus]="Debian: apt-get install prometheus"
  [prometheus-pushgateway]="Debian: apt-get install prometheus-pushgateway" [openssl]="Debian: apt-get install openssl"
  [moto_server]="make venv installs it" [kubectl]="it renders the components" [python3]="")
for tool in promtool prometheus prometheus-pushgateway openssl moto_server kubectl python3; do
  if path=$(command -v "$tool"); then echo "ok: $tool at $path"; else echo "FAILED: $tool not found on PATH (${hint[$tool]})" >&2; missing=1; fi
done
if ! python3 -c 'import pytest, yaml, jsonschema, celpy, kubernetes_validate, boto3' 2>/dev/null; then
  echo "FAILED: pytest, PyYAML, jsonschema, cel-python, kubernetes-validate or boto3 missing from $(command -v python3) (make venv installs them)" >&2
  missing=1
fi
[[ "$missing" == 0 ]] || { echo "monitoring: tools missing"; exit 1; }

step "rendered files current (k8s/monitoring/generate.py --check)"
run "rendered files current" python3 k8s/monitoring/generate.py --check

step "promtool check rules"
run "promtool check rules $RULES" promtool check rules "$RULES"

step "promtool test rules"
run "promtool test rules tests/monitoring/rules.test.yaml" promtool test rules tests/monitoring/rules.test.yaml

step "pytest tests/monitoring"
run "monitoring tests" python3 -m pytest -q -p no:cacheprovider tests/monitoring

echo
if [[ "$failed" != 0 ]]; then
  printf 'failed: %s\n' "${failures[@]}" >&2
fi
echo "monitoring: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
