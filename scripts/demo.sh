#!/usr/bin/env bash
# make demo: the whole keyless chain on one machine, on emulators. The GKE metadata
# emulator mints the Google ID token, moto plays AWS (IAM, STS, S3), Terraform creates
# the role with modules/aws-federated-role, then the verifier and the AWS CLI (through
# credential_process) prove access, and one realistic failure is shown and diagnosed.
# Needs on PATH: moto_server and aws (make venv), terraform, cargo, curl.
# DEMO_PIDFILE=FILE: write the PIDs of the processes started here (for tests).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
BIN=$ROOT/target/release
GSA_EMAIL=verifier@demo-project.iam.gserviceaccount.com
UNIQUE_ID=112233445566778899001
REGION=us-east-1
STEPS=7

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

# Starts a peer (scripts/lib/peers.sh) and records its PID for the tests.
start() {
  peer_start "$@"
  if [[ -n "${DEMO_PIDFILE:-}" ]]; then echo "${PEER_PIDS[-1]}" >>"$DEMO_PIDFILE"; fi
}

# --- the steps -------------------------------------------------------------------------
check_setup() {
  step 1 "checking tools and the release binaries"
  local tool
  for tool in moto_server aws; do
    command -v "$tool" >/dev/null || fail "$tool not on PATH: run 'make venv' (or 'make demo', which does)"
  done
  for tool in terraform cargo curl; do command -v "$tool" >/dev/null || fail "$tool not on PATH"; done
  # `make demo` rebuilds first (target release); run directly, build only what is missing.
  if [[ ! -x $BIN/gke-aws-verifier || ! -x $BIN/gke-metadata-emulator ]]; then
    cargo build --release --locked -p gke-aws-verifier -p gke-metadata-emulator \
      || fail "release build failed (cargo build --release --locked)"
  fi
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gke-aws-demo.XXXXXX")
  # Nothing from the user's own AWS setup may leak in: the chain must prove itself.
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
    AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_S3 "${!VERIFY_@}"
  export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/credentials
  : >"$AWS_CONFIG_FILE"; : >"$AWS_SHARED_CREDENTIALS_FILE"
  terraform_cli_config "$WORK/cli.tfrc"
  export TF_CLI_CONFIG_FILE=$WORK/cli.tfrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
  echo "    tools ok, binaries in target/release, temp dir $WORK"
}

start_moto() {
  start "$WORK/moto.log" moto_server -H 127.0.0.1 -p 0
  MOTO_PORT=$(peer_port "$WORK/moto.log" moto_server "Running on http://")
  export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
  step 2 "started moto (IAM, STS, S3) on 127.0.0.1:$MOTO_PORT, pid ${PEER_PIDS[-1]}"
}

start_emulator() {
  start "$WORK/emulator.log" "$BIN/gke-metadata-emulator" --listen 127.0.0.1:0 \
    --gsa-email "$GSA_EMAIL" --unique-id "$UNIQUE_ID" --project-id demo-project
  EMU_PORT=$(peer_port "$WORK/emulator.log" gke-metadata-emulator "listening on ")
  export GCE_METADATA_HOST=127.0.0.1:$EMU_PORT
  step 3 "started the GKE metadata emulator on 127.0.0.1:$EMU_PORT, pid ${PEER_PIDS[-1]} (GSA $GSA_EMAIL)"
}

apply_terraform() {
  step 4 "terraform apply terraform/examples/demo (role from modules/aws-federated-role, 2 buckets) on moto"
  # A copy in the temp dir: .terraform, lock file and state stay out of the repository.
  local dir=$WORK/tf/examples/demo
  mkdir -p "$dir" "$WORK/tf/modules/aws-federated-role"
  cp terraform/examples/demo/*.tf "$dir/"
  cp terraform/modules/aws-federated-role/*.tf "$WORK/tf/modules/aws-federated-role/"
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
  OBJECTS=$(tf output -raw object_count)
  echo "    role $ROLE_ARN may read s3://$BUCKET ($OBJECTS objects), not s3://$OTHER_BUCKET"
}

run_verifier() {
  step 5 "gke-aws-verifier verify --bucket $BUCKET: ID token -> STS -> S3"
  # The report (stdout) carries the stage timings; the logs (stderr) only matter on failure.
  local rc=0
  "$BIN/gke-aws-verifier" verify --bucket "$BUCKET" --role-arn "$ROLE_ARN" --region "$REGION" \
    --expected-gsa "$GSA_EMAIL" >"$WORK/verify.out" 2>"$WORK/verify.log" || rc=$?
  indent <"$WORK/verify.out"
  ((rc == 0)) || { indent <"$WORK/verify.log"; fail "verify did not prove access (exit $rc)"; }
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

# A first-day mistake: the pod's Kubernetes service account lacks the GSA annotation.
# (moto checks no trust policy, and with IAM enforcement on it rejects the unsigned
# AssumeRoleWithWebIdentity, so the emulator is the peer that can really fail here.)
show_expected_failure() {
  step 7 "EXPECTED FAILURE: the KSA is not annotated with the GSA (emulator fault)"
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
}

set_faults() {
  curl -fsS -X PUT -H 'Content-Type: application/json' --data "$1" \
    "http://$GCE_METADATA_HOST/emulator/v1/faults" >/dev/null || fail "cannot set emulator faults $1"
}

summary() {
  printf '\nPASS: keyless chain proven on emulators in %ss\n' "$SECONDS"
  echo "  - GKE metadata emulator minted an ID token for $GSA_EMAIL (audience sts.amazonaws.com)"
  echo "  - STS AssumeRoleWithWebIdentity -> $ROLE_ARN (created by modules/aws-federated-role)"
  echo "  - S3 ListObjectsV2 on s3://$BUCKET: $OBJECTS objects"
  echo "  - credential_process served the AWS CLI: aws s3 ls listed $CLI_OBJECTS objects"
  echo "  - expected failure diagnosed: unannotated KSA -> exit 3 with the kubectl fix"
}

SECONDS=0
check_setup
start_moto
start_emulator
apply_terraform
run_verifier
run_aws_cli
show_expected_failure
summary
