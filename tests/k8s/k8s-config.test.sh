#!/usr/bin/env bash
# Tests of scripts/k8s-config.sh with the fixture tests/k8s/fixtures/workloads.json, shaped like
# the Terraform root's `workloads` output: the overlays it writes, that they render with every
# value filled in, that the committed example overlay is exactly its output, and that invalid
# input fails naming the field.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v kubectl >/dev/null || { echo "FAIL: kubectl not found (needed for kubectl kustomize)" >&2; exit 1; }

fixture=tests/k8s/fixtures/workloads.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
check() {
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "  ok   $name"; else failed=$((failed + 1)); echo "  FAIL $name" >&2; fi
}
has() { grep -qE -- "$2" <<<"$1"; }
lacks() { ! grep -qE -- "$2" <<<"$1"; }
# gen OUT [ARGS...]: runs the script into OUT; sets $status and $err.
gen() {
  local out=$1; shift
  set +e
  err=$(OUT_DIR="$out" scripts/k8s-config.sh "$@" 2>&1 >/dev/null)
  status=$?
  set -e
}

echo "k8s-config.sh: the fixture"
gen "$tmp/a" "$fixture"
check "exits 0" test "$status" = 0
check "writes one overlay per workload" test "$(ls "$tmp/a" | tr '\n' ' ')" = "example reports "
# Every file, so one added to or missing from the example shows too; only the path to the base
# differs (it is relative to where the overlay was written).
check "the committed k8s/overlays/example is exactly what the script writes" \
  diff -r <(cd "$tmp/a/example" && for f in *; do echo "== $f"; sed 's#^  - [^ ]*/k8s/base$#  - ../../base#' "$f"; done) \
  <(cd k8s/overlays/example && for f in *; do echo "== $f"; cat "$f"; done)
r=$(kubectl kustomize "$tmp/a/reports")
check "renders" test -n "$r"
check "no Terraform placeholder is left" lacks "$r" '\b(GSA_EMAIL|ROLE_ARN|REGION|BUCKET)\b'
check "the KSA has Terraform's exact name and namespace" \
  has "$(grep -A12 '^kind: ServiceAccount' <<<"$r")" '^  name: reports-reader$'
check "the KSA maps to the GSA" has "$r" 'iam.gke.io/gcp-service-account: reports-reader@example-project.iam.gserviceaccount.com$'
check "the KSA names the role" has "$r" 'amazonaws.com/role-arn: arn:aws:iam::123456789012:role/reports-reader$'
check "the pods run as that KSA" test "$(grep -c 'serviceAccountName: reports-reader$' <<<"$r")" = 2
check "the settings reach the ConfigMap" has "$(grep -B8 '^kind: ConfigMap' <<<"$r")" 'VERIFY_BUCKET: example-reports'
check "a prefix-limited role is verified under its first prefix" has "$(grep -B8 '^kind: ConfigMap' <<<"$r")" 'VERIFY_PREFIX: daily/'
check "Terraform's aws_region becomes AWS_REGION" has "$(grep -B8 '^kind: ConfigMap' <<<"$r")" 'AWS_REGION: us-east-1'
check "the namespace is Terraform's" test "$(grep '^  namespace: ' <<<"$r" | sort -u)" = "  namespace: gke-aws-verifier"
check "workloads sharing a namespace get distinct names" has "$r" '^  name: gke-aws-verifier-smoke-reports$'
check "the local-config values are not deployed" lacks "$r" '^  name: workload$'

echo "k8s-config.sh: input forms"
gen "$tmp/b" - < <(python3 -c 'import json,sys; print(json.dumps({"workloads": {"sensitive": False, "type": [], "value": json.load(open(sys.argv[1]))}}))' "$fixture")
check "reads the whole terraform output -json object from stdin" test "$status:$(ls "$tmp/b" | wc -l)" = "0:2"
mkdir -p "$tmp/bin"
printf '#!/bin/sh\necho "$*" >"%s/terraform.args"\ncat "%s"\n' "$tmp" "$PWD/$fixture" >"$tmp/bin/terraform"
chmod +x "$tmp/bin/terraform"
set +e
err=$(PATH="$tmp/bin:$PATH" OUT_DIR="$tmp/c" TF_DIR=infra scripts/k8s-config.sh 2>&1 >/dev/null); status=$?
set -e
check "without an argument, asks terraform" test "$status:$(cat "$tmp/terraform.args" 2>/dev/null)" = "0:-chdir=infra output -json workloads"
IMAGE=europe-docker.pkg.dev/p/r/gke-aws-verifier:0.1.0 gen "$tmp/d" "$fixture"
check "IMAGE with a tag pins it" has "$(kubectl kustomize "$tmp/d/example")" 'image: europe-docker.pkg.dev/p/r/gke-aws-verifier:0.1.0$'
IMAGE=europe-docker.pkg.dev/p/r/gke-aws-verifier@sha256:$(printf '%064d' 7) gen "$tmp/d" "$fixture"
check "IMAGE with a digest pins it" has "$(kubectl kustomize "$tmp/d/example")" "image: europe-docker.pkg.dev/p/r/gke-aws-verifier@sha256:0{63}7$"
IMAGE=europe-docker.pkg.dev/p/r/gke-aws-verifier:latest gen "$tmp/d" "$fixture"
check "IMAGE :latest is refused" test "$status:$(has "$err" 'latest' && echo named)" = "1:named"
COMPONENTS=pushgateway gen "$tmp/d" "$fixture"
r=$(kubectl kustomize "$tmp/d/reports")
check "COMPONENTS adds a component, in the workload's namespace" \
  has "$(grep -A12 '^kind: NetworkPolicy' <<<"$r")" '^  name: gke-aws-verifier-pushgateway-reports$'
COMPONENTS=no-such gen "$tmp/d" "$fixture"
check "COMPONENTS naming no component is refused" test "$status:$(has "$err" "no component 'no-such'" && echo named)" = "2:named"
mkdir -p "$tmp/d/gone" && cp "$tmp/d/example/kustomization.yaml" "$tmp/d/gone/"
gen "$tmp/d" "$fixture"
check "an overlay whose workload is gone is reported, not deleted" test "$(has "$err" 'gone/ is generated but no workload' && echo y)$(test -d "$tmp/d/gone" && echo y)" = yy

echo "k8s-config.sh: invalid input fails, naming the field"
# bad NAME PYTHON-EXPRESSION-ON-w EXPECTED-MESSAGE: w is the fixture's "example" workload.
bad() {
  local name=$1 edit=$2 want=$3
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); w=d['example']; $edit; print(json.dumps(d))" "$fixture" >"$tmp/bad.json"
  gen "$tmp/e" "$tmp/bad.json"
  check "$name" test "$status:$(has "$err" "$want" && echo named)" = "1:named"
}
bad "a workload without buckets" "w['s3_buckets'] = []" "workloads\['example'\]\.bucket: missing"
bad "a role ARN that is not one" "w['role_arn'] = 'role/reader'" "role_arn = 'role/reader': expected arn:aws:iam::123456789012:role/NAME"
bad "a GSA that is not a service account e-mail" "w['gsa_email'] = 'me@gmail.com'" 'gsa_email'
bad "a newline smuggled into a value" "w['s3_buckets'] = ['ok\nAWS_ROLE_ARN=evil']" 'bucket'
bad "a newline smuggled into a prefix" "w['s3_prefixes'] = ['daily/\nGCE_METADATA_HOST=attacker.example']" 'prefix'
bad "a trailing newline after a value" "w['role_arn'] += '\n'" 'role_arn'
bad "a namespace that is not a DNS label" "w['namespace'] = 'Team_A'" 'namespace'
bad "a workload name too long for the CronJob" "d['a-workload-name-far-too-long-for-it'] = d.pop('example')" 'at most 29 characters'
bad "an empty map" "d.clear()" 'non-empty map'
printf 'not json' >"$tmp/bad.json"; gen "$tmp/e" "$tmp/bad.json"
check "input that is not JSON" test "$status:$(has "$err" 'not JSON' && echo named)" = "1:named"
check "nothing is written from invalid input" test ! -e "$tmp/e"

echo "k8s-config.sh: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
