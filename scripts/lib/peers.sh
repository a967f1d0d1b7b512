# shellcheck shell=bash
# Local peers on free loopback ports (moto, the metadata emulator) and Terraform's provider
# source, shared by scripts/demo.sh, bench/run.sh and tests/terraform/run.sh.
# Source it; it only defines functions and PEER_PIDS.

PEER_PIDS=()

# peer_start LOG CMD...: starts CMD in the background with stdout and stderr in LOG.
peer_start() {
  local log=$1
  shift
  # 3 and 4 may hold a caller's saved stdout/stderr: the peer must not keep them open.
  "$@" >"$log" 2>&1 3>&- 4>&- &
  PEER_PIDS+=("$!")
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
