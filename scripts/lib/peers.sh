# shellcheck shell=bash
# Local peers on free loopback ports (moto, the metadata emulator) and Terraform's provider
# source, shared by scripts/demo.sh, tests/docs/run.sh, bench/run.sh and tests/terraform/run.sh.
# Source it; it only defines functions and PEER_PIDS.
# PEERS_PIDFILE=FILE: peer_start also appends each PID there (for tests that check cleanup).

PEER_PIDS=()

# peer_start LOG CMD...: starts CMD in the background with stdout and stderr in LOG.
peer_start() {
  local log=$1
  shift
  # The log exists before the background job opens it: peer_port may read it first.
  : >"$log"
  # 3 and 4 may hold a caller's saved stdout/stderr: the peer must not keep them open.
  "$@" >>"$log" 2>&1 3>&- 4>&- &
  PEER_PIDS+=("$!")
  if [[ -n ${PEERS_PIDFILE:-} ]]; then echo "$!" >>"$PEERS_PIDFILE"; fi
}

# peers_start_aws DIR BIN: moto (IAM, STS, S3) and aws-sts-gate (BIN/aws-sts-gate) in front of
# its STS. moto's STS reads no token: every STS call goes through the gate, which refuses as AWS
# would (OIDC provider, audience, expiry, the role's trust policy) from moto's IAM. Logs in
# DIR/moto.log and DIR/gate.log; exports AWS_ENDPOINT_URL (moto) and AWS_ENDPOINT_URL_STS (the
# gate); sets MOTO_PORT, MOTO_PID, GATE_PORT, GATE_PID.
peers_start_aws() {
  local dir=$1 bin=$2
  peer_start "$dir/moto.log" moto_server -H 127.0.0.1 -p 0
  MOTO_PID=${PEER_PIDS[-1]}
  MOTO_PORT=$(peer_port "$dir/moto.log" moto_server "Running on http://") || return 1
  export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
  peer_start "$dir/gate.log" "$bin/aws-sts-gate" --upstream "$AWS_ENDPOINT_URL" --listen 127.0.0.1:0
  GATE_PID=${PEER_PIDS[-1]}
  GATE_PORT=$(peer_port "$dir/gate.log" aws-sts-gate "listening on ") || return 1
  export AWS_ENDPOINT_URL_STS=http://127.0.0.1:$GATE_PORT
}

# peers_start_metadata LOG BIN GSA_EMAIL UNIQUE_ID PROJECT: the GKE metadata emulator
# (BIN/gke-metadata-emulator) minting ID tokens for that GSA; sets METADATA_PORT, METADATA_PID.
peers_start_metadata() {
  local log=$1 bin=$2
  peer_start "$log" "$bin/gke-metadata-emulator" --listen 127.0.0.1:0 \
    --gsa-email "$3" --unique-id "$4" --project-id "$5"
  METADATA_PID=${PEER_PIDS[-1]}
  METADATA_PORT=$(peer_port "$log" gke-metadata-emulator "listening on ") || return 1
}

# peer_port LOG WHAT PREFIX: prints PORT once LOG has a line "PREFIX127.0.0.1:PORT" (moto:
# "Running on http://", the emulator: "listening on "). Bounded to 30 s; fails at once if
# the peer started last has exited.
peer_port() {
  local log=$1 what=$2 pid=${PEER_PIDS[-1]} re="${3}127\.0\.0\.1:([0-9]+)"
  for _ in $(seq 300); do
    if [[ $(<"$log") =~ $re ]]; then
      echo "${BASH_REMATCH[1]}"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      sed 's/^/    /' "$log" >&2
      echo "FAIL: $what exited before it was ready" >&2
      return 1
    fi
    sleep 0.1
  done
  sed 's/^/    /' "$log" >&2
  echo "FAIL: $what did not report its port within 30 s" >&2
  return 1
}

# peers_stop: SIGTERM to every peer, SIGKILL to any still there after 5 s, and reap them.
peers_stop() {
  local pid
  for pid in "${PEER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PEER_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PEER_PIDS=()
}

# terraform_cli_config FILE: providers from the offline mirror when there is one
# (TF_PROVIDER_MIRROR, default /opt/tf-plugins), else from the registry.
terraform_cli_config() {
  local file=$1 mirror=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}
  if [[ -d $mirror ]]; then
    printf 'provider_installation {\n  filesystem_mirror {\n    path    = "%s"\n    include = ["registry.terraform.io/*/*"]\n  }\n}\n' \
      "$mirror" >"$file"
  else
    printf 'provider_installation {\n  direct {}\n}\n' >"$file"
  fi
}
