#!/usr/bin/env bash
# make bench-audit: the release gke-aws-audit against the Kubernetes API stand-in holding
# AUDIT_PODS pods (default 10,000) and AUDIT_KSAS KSAs (default 2,000): wall time and peak RSS
# (GNU time) of AUDIT_RUNS runs (default 5), median and max, against the goals (under 5 s,
# under 64 MB). Reports, does not assert; writes bench/audit_results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PODS=${AUDIT_PODS:-10000}
KSAS=${AUDIT_KSAS:-2000}
RUNS=${AUDIT_RUNS:-5}
target=${CARGO_TARGET_DIR:-target}
audit="$target/release/gke-aws-audit"
[[ -x "$audit" ]] || { echo "bench-audit: $audit missing: make release-audit" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-audit: GNU time missing: apt-get install time" >&2; exit 1; }

stand_in="$target/release-test/examples/kube-stand-in"
[[ -x "$stand_in" ]] || { echo "bench-audit: the stand-in is missing: make release-test" >&2; exit 1; }
work=$(mktemp -d)
"$stand_in" "$work" bench "$PODS" "$KSAS" >"$work/stand-in.out" &
stand_in=$!
trap 'kill "$stand_in" 2>/dev/null || true; wait "$stand_in" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 600); do grep -q '^ready' "$work/stand-in.out" && break; sleep 0.1; done
grep -q '^ready' "$work/stand-in.out" || { echo "bench-audit: the stand-in did not start" >&2; exit 1; }

walls=() rss=()
for i in $(seq "$RUNS"); do
  # Exit 6 (findings) is expected: every 100th pod missed injection.
  KUBECONFIG="$work/kubeconfig" /usr/bin/time -f '%e %M' -o "$work/time.$i" \
    "$audit" --format json >"$work/report.$i.json" || [[ $? == 6 ]]
  # GNU time says "Command exited with non-zero status 6" first: the figures are the last line.
  read -r wall kb < <(tail -n 1 "$work/time.$i")
  walls+=("$wall") rss+=("$kb")
done
python3 - "$PODS" "$KSAS" "$work/report.1.json" "${walls[*]}" "${rss[*]}" <<'PY' | tee bench/audit_results.md
import json, statistics, sys
pods, ksas, report, walls, rss = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(), sys.argv[5].split()
walls = [float(w) for w in walls]; mb = [int(k) / 1024 for k in rss]
findings = sum(len(c["findings"]) for c in json.load(open(report))["clusters"])
wall, peak = statistics.median(walls), max(mb)
print(f"# gke-aws-audit: {int(pods):,} pods, {int(ksas):,} KSAs on the API stand-in ({len(walls)} runs)\n")
print("| What | Figure | Goal | |")
print("|---|---|---|---|")
print(f"| Wall time, median (max) | {wall:.2f} s ({max(walls):.2f} s) | < 5 s | {'PASS' if wall < 5 else 'MISS'} |")
print(f"| Peak RSS, max of the runs | {peak:.1f} MB | < 64 MB | {'PASS' if peak < 64 else 'MISS'} |")
print(f"| Findings per run (every 100th pod not injected) | {findings} | {int(pods) // 100} | |")
PY
