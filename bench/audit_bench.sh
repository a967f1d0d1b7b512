#!/usr/bin/env bash
# make bench-audit: the release gke-aws-audit against the Kubernetes API stand-in holding
# AUDIT_PODS pods (default 200,000) of which AUDIT_OPTED opted in (default 10,000),
# AUDIT_KSAS KSAs (default 100,000) and AUDIT_WORKLOADS workloads (default 20,000), made page by
# page: wall time and peak RSS (GNU time) of AUDIT_RUNS runs (default 5), median and max,
# against the goals (under 10 s, under 64 MB). Reports, does not assert; writes
# bench/audit_results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PODS=${AUDIT_PODS:-200000}
OPTED=${AUDIT_OPTED:-10000}
KSAS=${AUDIT_KSAS:-100000}
WORKLOADS=${AUDIT_WORKLOADS:-20000}
RUNS=${AUDIT_RUNS:-5}
target=${CARGO_TARGET_DIR:-target}
audit="$target/release/gke-aws-audit"
[[ -x "$audit" ]] || { echo "bench-audit: $audit missing: make release-audit" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-audit: GNU time missing: apt-get install time" >&2; exit 1; }

stand_in="$target/release-test/examples/kube-stand-in"
[[ -x "$stand_in" ]] || { echo "bench-audit: the stand-in is missing: make release-test" >&2; exit 1; }
work=$(mktemp -d)
"$stand_in" "$work" bench "$PODS" "$OPTED" "$KSAS" "$WORKLOADS" >"$work/stand-in.out" &
stand_in=$!
trap 'kill "$stand_in" 2>/dev/null || true; wait "$stand_in" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 600); do grep -q '^ready' "$work/stand-in.out" && break; sleep 0.1; done
grep -q '^ready' "$work/stand-in.out" || { echo "bench-audit: the stand-in did not start" >&2; exit 1; }

walls=() rss=()
for i in $(seq "$RUNS"); do
  # Exit 6 (findings) is expected: every 100th opted-in pod missed injection.
  KUBECONFIG="$work/kubeconfig" /usr/bin/time -f '%e %M' -o "$work/time.$i" \
    "$audit" --format json >"$work/report.$i.json" || [[ $? == 6 ]]
  # GNU time says "Command exited with non-zero status 6" first: the figures are the last line.
  read -r wall kb < <(tail -n 1 "$work/time.$i")
  walls+=("$wall") rss+=("$kb")
done
python3 - "$PODS" "$OPTED" "$KSAS" "$WORKLOADS" "$work/report.1.json" "${walls[*]}" "${rss[*]}" <<'PY' | tee bench/audit_results.md
import json, statistics, sys
pods, opted, ksas, workloads = (int(a) for a in sys.argv[1:5])
report, walls, rss = sys.argv[5], sys.argv[6].split(), sys.argv[7].split()
walls = [float(w) for w in walls]; mb = [int(k) / 1024 for k in rss]
findings = [f for c in json.load(open(report))["clusters"] for f in c["findings"]]
missed = sum(1 for f in findings if f["code"] == "NotInjected")
cannot = sum(1 for f in findings if f["code"] == "CannotRead")
wall, peak = statistics.median(walls), max(mb)
print(f"# gke-aws-audit: {pods:,} pods ({opted:,} opted in), {ksas:,} KSAs, {workloads:,} workloads and their namespaces on the API stand-in ({len(walls)} runs)\n")
print("`make bench-audit` (bench/audit_bench.sh): the shipping build (target/release/gke-aws-audit)")
print("against audit/examples/kube-stand-in.rs from target/release-test, which makes every page's")
print("objects when it is asked for; wall time and peak RSS from GNU time.\n")
print("| What | Figure | Goal | |")
print("|---|---|---|---|")
print(f"| Wall time, median (max) | {wall:.2f} s ({max(walls):.2f} s) | < 10 s | {'PASS' if wall < 10 else 'MISS'} |")
print(f"| Peak RSS, max of the runs | {peak:.1f} MB | < 64 MB | {'PASS' if peak < 64 else 'MISS'} |")
print(f"| NotInjected per run (every 100th opted-in pod) | {missed} | {opted // 100} | |")
print(f"| CannotRead per run (a list cut at a cap) | {cannot} | 0 | |")
PY
