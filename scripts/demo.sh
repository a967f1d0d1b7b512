#!/usr/bin/env bash
# make demo: the whole keyless chain on one machine, on emulators, in both identity modes.
# GSA mode: the GKE metadata emulator mints the Google ID token, moto plays AWS (IAM, STS,
# S3), Terraform creates the role with modules/aws-workload-role, then the verifier and the
# AWS CLI (through credential_process) prove access, and one realistic failure is diagnosed.
# Cluster mode: gke-cluster-issuer plays the cluster's OIDC issuer and the kubelet's projected
# token, Terraform registers the issuer and a role trusting the KSA
# (modules/aws-gke-oidc-provider, aws-workload-role in cluster mode), the verifier proves access from
# the token file, and a missing OIDC provider is diagnosed. moto's STS checks no token, so
# STS calls go through aws-sts-gate, which refuses as AWS does from what moto's IAM holds.
# Needs on PATH: moto_server and aws (make venv), python3, terraform, cargo, curl.
# DEMO_PIDFILE=FILE: write the PIDs of the processes started here (for tests).
# scripts/demo.sh --plan: print what the demo does and how long it takes, and exit (`make demo`
# prints it before building; DEMO_PLAN_SHOWN=1 then keeps the demo from printing it twice).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
# Where cargo put the binaries the demo runs (CARGO_TARGET_DIR if set, as cargo itself reads
# it): the release-test profile, optimised as shipped but built without link-time optimisation.
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release-test
GSA_EMAIL=verifier@demo-project.iam.gserviceaccount.com
UNIQUE_ID=112233445566778899001
REGION=us-east-1
STEPS=13

# What `make demo` does and the time to expect (bench/README.md#make-demo-from-a-fresh-clone
# has the measured figures behind these).
plan() {
  cat <<'PLAN'
==> make demo: the keyless chain GKE -> AWS STS -> S3 on this machine, on emulators (no cluster, no AWS account)
    1. Python tools into .venv (moto, boto3, the aws CLI: requirements-demo.txt)   under a minute, first run only
    2. one optimised cargo build (profile release-test) of what it runs: the       the bulk of a first run: minutes
       verifier, the audit, the metadata emulator, cluster issuer and STS gate,    on 2 cores from a cold cargo
       the Kubernetes API stand-in                                                 cache; seconds once built
    3. the demo, 13 steps: moto, the STS gate and metadata emulator, terraform     about a minute
       apply of a role on moto, verify, the aws CLI through credential_process,
       two roles, two expected failures explained, cluster mode, the audit
    Every server listens on 127.0.0.1 and is stopped at the end; the demo's files go to a temp dir, removed too.
PLAN
}
if [[ ${1:-} == --plan ]]; then plan; exit 0; fi
[[ -n ${DEMO_PLAN_SHOWN:-} ]] || plan

step() { printf '\n==> [%s/%s] %s\n' "$1" "$STEPS" "$2"; }
fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }

# --- teardown: runs on success, on a failed step and on Ctrl-C / SIGTERM -------------
WORK=
# The user's stdout/stderr: a signal may run the trap while a step's output is redirected.
exec 3>&1 4>&2
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  exec 1>&3 2>&4
  local stopped=${#PEER_PIDS[@]}
  peers_stop
  [[ -n "$WORK" ]] && rm -rf "$WORK"
  printf '==> teardown: stopped %s process(es), removed the temp dir\n' "$stopped"
  if [[ $rc -ne 0 ]]; then printf 'FAIL: demo did not complete (exit %s)\n' "$rc" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every peer started (scripts/lib/peers.sh) is recorded in DEMO_PIDFILE, for the tests.
PEERS_PIDFILE=${DEMO_PIDFILE:-}
start() { peer_start "$@"; }

# --- the steps -------------------------------------------------------------------------
check_setup() {
  step 1 "checking tools and the binaries"
  local tool
  for tool in moto_server aws python3; do
    command -v "$tool" >/dev/null || fail "$tool not on PATH: run 'make venv' (or 'make demo', which does)"
  done
  for tool in terraform cargo curl; do command -v "$tool" >/dev/null || fail "$tool not on PATH"; done
  # `make demo` rebuilds first (target demo-build); run directly, build only what is missing.
  local binary
  for binary in gke-aws-verifier gke-metadata-emulator gke-cluster-issuer aws-sts-gate gke-aws-audit examples/kube-stand-in \
    examples/render; do
    [[ -x $BIN/$binary ]] && continue
    make -C "$ROOT" --no-print-directory demo-build || fail "the build failed (make demo-build)"
    break
  done
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gke-aws-demo.XXXXXX")
  # Nothing from the user's own AWS setup may leak in: the chain must prove itself.
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
    AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_S3 "${!VERIFY_@}" \
    HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy SSL_CERT_FILE
  export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/credentials
  : >"$AWS_CONFIG_FILE"; : >"$AWS_SHARED_CREDENTIALS_FILE"
  terraform_cli_config "$WORK/cli.tfrc"
  export TF_CLI_CONFIG_FILE=$WORK/cli.tfrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
  echo "    tools ok, binaries in $BIN, temp dir $WORK"
}

start_moto() {
  # moto's STS reads no token: every STS call goes through the gate (scripts/lib/peers.sh).
  peers_start_aws "$WORK" "$BIN"
  step 2 "started moto (IAM, STS, S3) on 127.0.0.1:$MOTO_PORT, pid $MOTO_PID, and aws-sts-gate in front of its STS on 127.0.0.1:$GATE_PORT, pid $GATE_PID"
}

start_emulator() {
  peers_start_metadata "$WORK/emulator.log" "$BIN" "$GSA_EMAIL" "$UNIQUE_ID" demo-project
  export GCE_METADATA_HOST=127.0.0.1:$METADATA_PORT
  step 3 "started the GKE metadata emulator on 127.0.0.1:$METADATA_PORT, pid $METADATA_PID (GSA $GSA_EMAIL)"
}

apply_terraform() {
  step 4 "terraform apply terraform/examples/demo (role from modules/aws-workload-role, 2 buckets) on moto"
  # A copy in the temp dir: .terraform, lock file and state stay out of the repository.
  local dir=$WORK/tf/examples/demo
  mkdir -p "$dir"
  cp terraform/examples/demo/*.tf "$dir/"
  copy_modules
  # Fake keys for terraform's process only; moto accepts any.
  tf() { AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test terraform -chdir="$dir" "$@"; }
  tf init -input=false -no-color >"$WORK/tf.log" 2>&1 || { indent <"$WORK/tf.log"; fail "terraform init"; }
  tf apply -auto-approve -input=false -no-color -var "aws_endpoint=$AWS_ENDPOINT_URL" \
    -var "google_service_account_unique_id=$UNIQUE_ID" >>"$WORK/tf.log" 2>&1 \
    || { indent <"$WORK/tf.log"; fail "terraform apply"; }
  grep -E '^Apply complete' "$WORK/tf.log" | indent
  ROLE_ARN=$(tf output -raw role_arn)
  BUCKET=$(tf output -raw bucket)
  OTHER_BUCKET=$(tf output -raw other_bucket)
  OTHER_ROLE_ARN=$(tf output -raw other_role_arn)
  OBJECTS=$(tf output -raw object_count)
  echo "    role $ROLE_ARN may read s3://$BUCKET ($OBJECTS objects), not s3://$OTHER_BUCKET"
}

# The modules, as they are in the repository, beside the configurations that use them.
copy_modules() {
  [[ -d $WORK/tf/modules ]] && return
  mkdir -p "$WORK/tf/modules"
  cp -r terraform/modules/. "$WORK/tf/modules/"
  find "$WORK/tf/modules" -name tests -type d -prune -exec rm -rf {} +
}

run_verifier() {
  step 5 "gke-aws-verifier verify --bucket $BUCKET: ID token -> STS -> S3"
  # The report (stdout) carries the stage timings; the logs (stderr) only matter on failure.
  local rc=0
  "$BIN/gke-aws-verifier" verify --bucket "$BUCKET" --role-arn "$ROLE_ARN" --region "$REGION" \
    --expected-gsa "$GSA_EMAIL" >"$WORK/verify.out" 2>"$WORK/verify.log" || rc=$?
  indent <"$WORK/verify.out"
  ((rc == 0)) || { indent <"$WORK/verify.log"; fail "verify did not prove access (exit $rc)"; }
  grep -qF "AssumeRoleWithWebIdentity allowed by the trust policy role_arn=\"$ROLE_ARN\"" "$WORK/gate.log" \
    || fail "the STS gate did not check the token against $ROLE_ARN's trust policy"
  echo "    aws-sts-gate: the token met the role's trust policy (accounts.google.com:aud, :sub, :oaud)"
}

run_aws_cli() {
  step 6 "aws CLI with credential_process = gke-aws-verifier credential-process"
  cat >"$AWS_CONFIG_FILE" <<CFG
[profile demo]
region = $REGION
credential_process = $BIN/gke-aws-verifier credential-process --role-arn $ROLE_ARN --region $REGION --cache-dir $WORK/cache
s3 =
    addressing_style = path
CFG
  echo "    \$ aws --profile demo sts get-caller-identity --query Arn"
  aws --profile demo sts get-caller-identity --query Arn --output text | indent
  echo "    \$ aws --profile demo s3 ls s3://$BUCKET/ --recursive"
  aws --profile demo s3 ls "s3://$BUCKET/" --recursive >"$WORK/ls.txt" || fail "aws s3 ls failed"
  indent <"$WORK/ls.txt"
  CLI_OBJECTS=$(wc -l <"$WORK/ls.txt")
  [[ $CLI_OBJECTS -eq $OBJECTS ]] || fail "aws s3 ls listed $CLI_OBJECTS objects, expected $OBJECTS"
}

# A pod with two roles, rendered by the webhook's own code (examples/render) from its KSA: the
# KSA names the default role and a named role (gke-aws-verifier/role.other), the pod binds its
# container exporter to `other` (gke-aws-verifier/profile.exporter) and leaves app on the
# default role. The pod's folders stand in for its volumes: the token's, and the config file
# the webhook writes into the pod's annotation (its downwardAPI volume's file).
run_two_roles() {
  step 7 "a pod with two roles, rendered by the webhook from its KSA: verify --all-profiles, each container's own role"
  local pod=$WORK/pod rc=0
  mkdir -p "$pod/token" "$pod/config"
  cat >"$pod/ksa.json" <<JSON
{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reports", "namespace": "demo", "annotations": {
  "amazonaws.com/role-arn": "$ROLE_ARN", "amazonaws.com/region": "$REGION",
  "iam.gke.io/gcp-service-account": "$GSA_EMAIL", "gke-aws-verifier/role.other": "$OTHER_ROLE_ARN"}}}
JSON
  cat >"$pod/pod.json" <<JSON
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo-pod", "namespace": "demo",
  "labels": {"gke-aws-verifier/inject": "true"}, "annotations": {"gke-aws-verifier/profile.exporter": "other"}},
 "spec": {"serviceAccountName": "reports", "containers": [{"name": "app", "image": "app:1"}, {"name": "exporter", "image": "exporter:1"}]}}
JSON
  echo "    \$ render --pod pod.json --service-account ksa.json   # the webhook's decision and patch, offline"
  "$BIN/examples/render" --pod "$pod/pod.json" --service-account "$pod/ksa.json" >"$pod/admitted.json" \
    2>"$WORK/render.log" || { indent <"$WORK/render.log"; fail "the webhook's render refused the two-role pod"; }
  # The config annotation as its downwardAPI file, each container's env as `export` lines, the
  # pod's folders in place of its mounts.
  python3 - "$pod" <<'PY' || fail "cannot read the rendered pod"
import json, shlex, sys
pod = sys.argv[1]
admitted = json.load(open(f"{pod}/admitted.json"))
def mapped(value):
    return (value.replace("/var/run/secrets/gke-aws-config", f"{pod}/config")
                 .replace("/var/run/secrets/gke-aws", f"{pod}/token"))
open(f"{pod}/config/config", "w").write(mapped(admitted["metadata"]["annotations"]["gke-aws-verifier/aws-config"]))
for c in admitted["spec"]["containers"]:
    with open(f"{pod}/{c['name']}.env", "w") as env:
        for var in c.get("env", []):
            env.write(f"export {var['name']}={shlex.quote(mapped(var['value']))}\n")
PY
  indent <"$pod/config/config"
  for container in app exporter; do
    echo "    env of $container: $(sed -e 's/^export //' -e 's/=.*//' "$pod/$container.env" | tr '\n' ' ')"
  done
  grep -q '^export AWS_PROFILE=other$' "$pod/exporter.env" || fail "the exporter is not bound to profile other"
  grep -q '^export AWS_ROLE_ARN=' "$pod/app.env" || fail "app lost the default role's AWS_ROLE_ARN"
  # The token both roles trust, kept as the pod's init container keeps it.
  "$BIN/gke-aws-verifier" token-file --once --path "$pod/token/token" 2>"$WORK/token-file.log" \
    || { indent <"$WORK/token-file.log"; fail "token-file --once did not write the pod's token"; }
  echo "    \$ gke-aws-verifier verify --all-profiles --profile-bucket default=$BUCKET --profile-bucket other=$OTHER_BUCKET"
  AWS_CONFIG_FILE=$pod/config/config "$BIN/gke-aws-verifier" verify --all-profiles \
    --profile-bucket "default=$BUCKET" --profile-bucket "other=$OTHER_BUCKET" \
    >"$WORK/all-profiles.out" 2>"$WORK/all-profiles.log" || rc=$?
  indent <"$WORK/all-profiles.out"
  ((rc == 0)) || { indent <"$WORK/all-profiles.log"; fail "verify --all-profiles did not prove both roles (exit $rc)"; }
  grep -qF "AssumeRoleWithWebIdentity allowed by the trust policy role_arn=\"$OTHER_ROLE_ARN\"" "$WORK/gate.log" \
    || fail "the STS gate did not check the token against $OTHER_ROLE_ARN's trust policy"
  # The aws CLI with nothing but each container's env: app's default chain is the default role,
  # the exporter's is `other`; app reaches `other` by naming it.
  in_container() { (source "$pod/$1.env"; shift; aws "$@"); }
  local app_arn exporter_arn named_arn
  app_arn=$(in_container app sts get-caller-identity --query Arn --output text) || fail "aws in app failed"
  exporter_arn=$(in_container exporter sts get-caller-identity --query Arn --output text) || fail "aws in exporter failed"
  named_arn=$(in_container app --profile other sts get-caller-identity --query Arn --output text) || fail "aws --profile other in app failed"
  echo "    app (default role):      $app_arn"
  echo "    exporter (bound to other): $exporter_arn"
  echo "    app with --profile other: $named_arn"
  [[ $app_arn == */${ROLE_ARN##*/}/demo-pod && $exporter_arn == */${OTHER_ROLE_ARN##*/}/demo-pod && $named_arn == */${OTHER_ROLE_ARN##*/}/* ]] \
    || fail "the containers did not get their roles"
  echo "    \$ aws s3 ls s3://$OTHER_BUCKET/ --recursive   # in the exporter's env, no flag"
  in_container exporter s3 ls "s3://$OTHER_BUCKET/" --recursive >"$WORK/ls-exporter.txt" \
    || fail "the exporter could not list s3://$OTHER_BUCKET"
  indent <"$WORK/ls-exporter.txt"
  # Each role reads only its own bucket. The demo's moto enforces no IAM (aws-sts-gate reads
  # its IAM unsigned), so: credentials for the named role through credential-process
  # --profile first, then IAM enforcement on while the aws CLI uses them from the cache.
  cat >"$pod/user-config" <<CFG
[profile other-cached]
credential_process = $BIN/gke-aws-verifier credential-process --profile other --config-file $pod/config/config --cache-dir $WORK/cache
s3 =
    addressing_style = path
CFG
  echo "    \$ aws --profile other-cached s3 ls s3://$OTHER_BUCKET/   # credential-process --profile other"
  AWS_CONFIG_FILE=$pod/user-config aws --profile other-cached s3 ls "s3://$OTHER_BUCKET/" --recursive \
    >"$WORK/ls-other.txt" || fail "aws s3 ls through credential-process --profile other failed"
  indent <"$WORK/ls-other.txt"
  curl -fsS -X POST -H "Content-Type: text/plain" --data 0 "$AWS_ENDPOINT_URL/moto-api/reset-auth" >/dev/null || fail "cannot turn on moto's IAM enforcement"
  echo "    moto's IAM enforcement on; \$ aws --profile other-cached s3 ls s3://$BUCKET/   # the default role's bucket"
  rc=0
  AWS_CONFIG_FILE=$pod/user-config aws --profile other-cached s3 ls "s3://$BUCKET/" \
    >"$WORK/ls-refused.txt" 2>&1 || rc=$?
  indent <"$WORK/ls-refused.txt"
  AWS_CONFIG_FILE=$pod/user-config aws --profile other-cached s3 ls "s3://$OTHER_BUCKET/" --recursive \
    >"$WORK/ls-other-enforced.txt" 2>&1 || { indent <"$WORK/ls-other-enforced.txt"; fail "profile other lost its own bucket under IAM enforcement"; }
  curl -fsS -X POST -H "Content-Type: text/plain" --data inf "$AWS_ENDPOINT_URL/moto-api/reset-auth" >/dev/null || fail "cannot turn off moto's IAM enforcement"
  if [[ $rc -eq 0 ]] || ! grep -q AccessDenied "$WORK/ls-refused.txt"; then
    fail "expected AccessDenied for profile other on s3://$BUCKET, got exit $rc"
  fi
  echo "    EXPECTED: AccessDenied: profile other reads s3://$OTHER_BUCKET only, even under IAM enforcement; enforcement off again"
}

# A first-day mistake: the pod's Kubernetes service account lacks the GSA annotation.
show_expected_failure() {
  step 8 "EXPECTED FAILURE: the KSA is not annotated with the GSA (emulator fault)"
  set_faults '{"ksa_not_annotated": true}'
  local rc=0
  "$BIN/gke-aws-verifier" verify --bucket "$BUCKET" --role-arn "$ROLE_ARN" --region "$REGION" \
    >"$WORK/fail.txt" 2>"$WORK/verify.log" || rc=$?
  indent <"$WORK/fail.txt"
  set_faults '{}'
  # A demo whose expected failure does not fail is a failed demo.
  [[ $rc -eq 3 ]] || { indent <"$WORK/verify.log"; fail "expected exit 3 (Google identity stage), got $rc"; }
  grep -q 'kubectl annotate serviceaccount' "$WORK/fail.txt" || fail "expected the kubectl annotate hint"
  echo "    EXPECTED: exit 3 (Google identity stage), with the kubectl annotate fix; fault reset"
  show_recreated_gsa
}

# The classic invisible one: the GSA deleted and recreated under the same e-mail has a new
# unique id, and STS answers only AccessDenied. `explain` names the condition and both ids.
show_recreated_gsa() {
  local new_id=112233445566778899002 rc=0
  echo "    EXPECTED FAILURE: the GSA recreated under the same e-mail (a metadata server minting for unique id $new_id)"
  peers_start_metadata "$WORK/emulator-recreated.log" "$BIN" "$GSA_EMAIL" "$new_id" demo-project
  RECREATED_PORT=$METADATA_PORT
  GCE_METADATA_HOST=127.0.0.1:$RECREATED_PORT "$BIN/gke-aws-verifier" verify --format json --bucket "$BUCKET" \
    --role-arn "$ROLE_ARN" --region "$REGION" >"$WORK/recreated.json" 2>"$WORK/verify.log" || rc=$?
  [[ $rc -eq 4 ]] || { indent <"$WORK/verify.log"; fail "expected exit 4 (STS stage) for the recreated GSA, got $rc"; }
  # The platform engineer's own credentials read the role's trust policy (moto takes any keys).
  echo "    \$ gke-aws-verifier explain --report recreated.json   # STS said only AccessDenied"
  rc=0
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$BIN/gke-aws-verifier" explain --report "$WORK/recreated.json" \
    >"$WORK/explain.txt" 2>"$WORK/explain.log" || rc=$?
  indent <"$WORK/explain.txt"
  [[ $rc -eq 4 ]] || { indent <"$WORK/explain.log"; fail "expected explain to exit 4 (STS would refuse), got $rc"; }
  grep -qE "^  statement 0 \(Allow[^)]*\): StringEquals accounts.google.com:aud: expected $UNIQUE_ID, the token's azp is $new_id" \
    "$WORK/explain.txt" || fail "expected explain to name accounts.google.com:aud with both unique ids first"
  grep -q 'make apply' "$WORK/explain.txt" || fail "expected explain's fix to re-apply the workload"
  echo "    EXPECTED: exit 4 (STS stage); explain names accounts.google.com:aud, both unique ids and the re-apply"
}

# --- cluster mode -----------------------------------------------------------------------
CLUSTER_NS=gke-aws
CLUSTER_KSA=verifier
ISSUER_PATH=v1/projects/demo-project/locations/europe-west1/clusters/demo-cluster

start_cluster_peers() {
  # The issuer is served as on GKE (container.googleapis.com, no port: IAM refuses ports)
  # through its own CONNECT proxy; only the verifier is pointed at that proxy.
  start "$WORK/issuer.log" "$BIN/gke-cluster-issuer" --listen 127.0.0.1:0 \
    --project-id demo-project --location europe-west1 --cluster demo-cluster \
    --public-host container.googleapis.com --ca-file "$WORK/issuer-ca.pem" \
    --token-file "$WORK/token" --namespace "$CLUSTER_NS" --ksa "$CLUSTER_KSA" --token-lifetime 1h
  ISSUER_PORT=$(peer_port "$WORK/issuer.log" gke-cluster-issuer "listening on ")
  ISSUER_URL=https://container.googleapis.com/$ISSUER_PATH
  grep -qF "issuer $ISSUER_URL" "$WORK/issuer.log" || fail "the issuer does not announce $ISSUER_URL"
  step 9 "cluster mode: started the cluster issuer on 127.0.0.1:$ISSUER_PORT, pid ${PEER_PIDS[-1]}"
  echo "    issuer $ISSUER_URL (HTTPS through its proxy on 127.0.0.1:$ISSUER_PORT)"
  echo "    projected token for system:serviceaccount:$CLUSTER_NS:$CLUSTER_KSA in $WORK/token (refreshed at 80% of 1h)"
}

apply_cluster_terraform() {
  step 10 "terraform apply terraform/examples/demo again, with cluster_issuer_url: modules/aws-gke-oidc-provider + aws-workload-role (identity = cluster) on moto"
  # The same configuration and state as step 4: it adds the cluster issuer's OIDC provider and
  # a role on the same bucket that trusts the KSA.
  local dir=$WORK/tf/examples/demo
  tf() { AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test terraform -chdir="$dir" "$@"; }
  tf apply -auto-approve -input=false -no-color -var "aws_endpoint=$AWS_ENDPOINT_URL" \
    -var "google_service_account_unique_id=$UNIQUE_ID" -var "cluster_issuer_url=$ISSUER_URL" \
    -var "cluster_ksa={ namespace = \"$CLUSTER_NS\", name = \"$CLUSTER_KSA\" }" \
    >"$WORK/tf-cluster.log" 2>&1 || { indent <"$WORK/tf-cluster.log"; fail "terraform apply (cluster mode)"; }
  grep -E '^Apply complete' "$WORK/tf-cluster.log" | indent
  CLUSTER_ROLE_ARN=$(tf output -raw cluster_role_arn)
  PROVIDER_ARN=$(tf output -raw oidc_provider_arn)
  echo "    OIDC provider $PROVIDER_ARN"
  echo "    role $CLUSTER_ROLE_ARN trusts system:serviceaccount:$CLUSTER_NS:$CLUSTER_KSA, may read s3://$BUCKET"
}

# verify in cluster mode: the token file, the issuer over HTTPS (its CA, its proxy), STS
# through the gate, S3 on moto.
cluster_verify() {
  HTTPS_PROXY=http://127.0.0.1:$ISSUER_PORT NO_PROXY=127.0.0.1 SSL_CERT_FILE=$WORK/issuer-ca.pem \
    "$BIN/gke-aws-verifier" verify --token-file "$WORK/token" --bucket "$BUCKET" \
    --role-arn "$CLUSTER_ROLE_ARN" --region "$REGION" "$@"
}

run_cluster_verifier() {
  step 11 "gke-aws-verifier verify --token-file: KSA token -> issuer check -> STS -> S3"
  local rc=0
  cluster_verify >"$WORK/verify-cluster.out" 2>"$WORK/verify-cluster.log" || rc=$?
  indent <"$WORK/verify-cluster.out"
  ((rc == 0)) || { indent <"$WORK/verify-cluster.log"; fail "verify --token-file did not prove access (exit $rc)"; }
  # The issuer check really went to the issuer (through its proxy), as AWS's would.
  local stats
  stats=$(curl -fsS --cacert "$WORK/issuer-ca.pem" "https://127.0.0.1:$ISSUER_PORT/emulator/v1/stats") \
    || fail "cannot read the issuer's stats"
  [[ $stats =~ \"discovery_requests\":([1-9][0-9]*) && $stats =~ \"jwks_requests\":([1-9][0-9]*) ]] \
    || fail "the verifier did not fetch the issuer's discovery document and keys: $stats"
  echo "    issuer consulted: $stats"
  # No helper at all: the AWS CLI reads the projected token itself (web_identity_token_file).
  cat >>"$AWS_CONFIG_FILE" <<CFG

[profile demo-cluster]
region = $REGION
role_arn = $CLUSTER_ROLE_ARN
web_identity_token_file = $WORK/token
s3 =
    addressing_style = path
CFG
  echo "    \$ aws --profile demo-cluster s3 ls s3://$BUCKET/ --recursive   # web_identity_token_file, no helper"
  aws --profile demo-cluster s3 ls "s3://$BUCKET/" --recursive \
    >"$WORK/ls-cluster.txt" || fail "aws s3 ls with the projected token failed"
  indent <"$WORK/ls-cluster.txt"
  [[ $(wc -l <"$WORK/ls-cluster.txt") -eq $OBJECTS ]] || fail "aws s3 ls listed $(wc -l <"$WORK/ls-cluster.txt") objects, expected $OBJECTS"
}

# A first-day mistake of this mode: the cluster's issuer is not registered in the account
# (here: its OIDC provider deleted), so STS refuses every token the cluster signs.
show_cluster_failure() {
  step 12 "EXPECTED FAILURE: no OIDC provider for the cluster's issuer (provider deleted)"
  echo "    \$ aws iam delete-open-id-connect-provider --open-id-connect-provider-arn $PROVIDER_ARN"
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=$REGION \
    aws iam delete-open-id-connect-provider --open-id-connect-provider-arn "$PROVIDER_ARN" \
    || fail "cannot delete the OIDC provider in moto"
  local rc=0
  cluster_verify >"$WORK/fail-cluster.txt" 2>"$WORK/verify-cluster.log" || rc=$?
  indent <"$WORK/fail-cluster.txt"
  [[ $rc -eq 4 ]] || { indent <"$WORK/verify-cluster.log"; fail "expected exit 4 (STS stage), got $rc"; }
  grep -qF "No OpenIDConnect provider found in your account for $ISSUER_URL" "$WORK/fail-cluster.txt" \
    || fail "expected STS's 'No OpenIDConnect provider found' for $ISSUER_URL"
  echo "    EXPECTED: exit 4 (STS stage), no OIDC provider for $ISSUER_URL, with the fix"
}

set_faults() {
  curl -fsS -X PUT -H 'Content-Type: application/json' --data "$1" \
    "http://$GCE_METADATA_HOST/emulator/v1/faults" >/dev/null || fail "cannot set emulator faults $1"
}

run_audit() {
  step 13 "gke-aws-verifier audit against a Kubernetes API stand-in: a pod the webhook missed, the recreated GSA"
  mkdir -p "$WORK/cluster"
  start "$WORK/stand-in.log" "$BIN/examples/kube-stand-in" "$WORK/cluster" demo "$ROLE_ARN" "$GSA_EMAIL"
  peer_port "$WORK/stand-in.log" "the Kubernetes API stand-in" "ready http://" >/dev/null || exit 1
  local rc=0
  KUBECONFIG=$WORK/cluster/kubeconfig "$BIN/gke-aws-verifier" audit >"$WORK/audit.txt" 2>&1 || rc=$?
  indent <"$WORK/audit.txt"
  [[ $rc == 6 ]] || fail "expected audit to exit 6 (findings), got $rc"
  grep -q "NotInjected .*Pod/payments/reports-5c9d-q8w4n .*Deployment/payments/reports" "$WORK/audit.txt" \
    || fail "expected one NotInjected pod, owned by Deployment payments/reports"
  grep -qF "fix: kubectl rollout restart deployment/reports --namespace payments" "$WORK/audit.txt" \
    || fail "expected the fix: kubectl rollout restart deployment/reports"
  echo "    EXPECTED: exit 6 (findings), one NotInjected pod of Deployment payments/reports, with its fix"
  # The GSA recreated in step 8, found from the live side: Google's answer (the emulator
  # beside the recreated GSA's metadata server serves serviceAccounts.get) against IAM's trust.
  echo "    \$ gke-aws-verifier audit --gcp --aws --namespace gke-aws   # the KSA whose GSA was recreated"
  rc=0
  KUBECONFIG=$WORK/cluster/kubeconfig GCE_METADATA_HOST=127.0.0.1:$RECREATED_PORT \
    AUDIT_GCP_IAM_ENDPOINT=http://127.0.0.1:$RECREATED_PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_EC2_METADATA_DISABLED=true "$BIN/gke-aws-verifier" audit --gcp --aws --namespace gke-aws >"$WORK/audit-gcp.txt" 2>&1 || rc=$?
  indent <"$WORK/audit-gcp.txt"
  [[ $rc == 6 ]] || fail "expected audit --gcp --aws to exit 6 (the recreated GSA), got $rc"
  grep -q "GsaRecreated .*ServiceAccount/gke-aws/verifier" "$WORK/audit-gcp.txt" \
    || fail "expected GsaRecreated for the KSA gke-aws/verifier"
  grep -qF "has unique id 112233445566778899002 now (Google), but the trust of $ROLE_ARN pins $UNIQUE_ID" "$WORK/audit-gcp.txt" \
    || fail "expected GsaRecreated to name both unique ids"
  echo "    EXPECTED: exit 6 (findings), GsaRecreated for gke-aws/verifier with both unique ids and the re-apply"
}

summary() {
  printf '\nPASS: keyless chain proven on emulators in %ss\n' "$SECONDS"
  echo "  - GKE metadata emulator minted an ID token for $GSA_EMAIL (audience sts.amazonaws.com)"
  echo "  - STS AssumeRoleWithWebIdentity (trust policy checked by the gate) -> $ROLE_ARN (modules/aws-workload-role)"
  echo "  - S3 ListObjectsV2 on s3://$BUCKET: $OBJECTS objects"
  echo "  - credential_process served the AWS CLI: aws s3 ls listed $CLI_OBJECTS objects"
  echo "  - a pod with two roles, rendered by the webhook from its KSA: verify --all-profiles proved the default"
  echo "    role on s3://$BUCKET and the named role other on s3://$OTHER_BUCKET with one token; the container"
  echo "    bound to other got it, app kept the default role; other is refused s3://$BUCKET (AccessDenied)"
  echo "  - expected failure diagnosed: unannotated KSA -> exit 3 with the kubectl fix"
  echo "  - expected failure explained: recreated GSA -> exit 4; explain names accounts.google.com:aud and both unique ids"
  echo "  - cluster mode: projected KSA token from $ISSUER_URL"
  echo "    -> STS (OIDC provider, audience and trust policy checked) -> $CLUSTER_ROLE_ARN -> S3"
  echo "  - the AWS CLI read the same token file natively (web_identity_token_file): $OBJECTS objects"
  echo "  - expected failure diagnosed: no OIDC provider for the issuer -> exit 4 with the fix"
  echo "  - audit: one NotInjected pod found on the API stand-in, fix: kubectl rollout restart deployment/reports"
  echo "  - audit --gcp --aws: the recreated GSA found live as GsaRecreated (Google's unique id against the role's trust)"
}

SECONDS=0
check_setup
start_moto
start_emulator
apply_terraform
run_verifier
run_aws_cli
run_two_roles
show_expected_failure
start_cluster_peers
apply_cluster_terraform
run_cluster_verifier
show_cluster_failure
run_audit
summary
