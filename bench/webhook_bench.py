#!/usr/bin/env python3
"""The injection webhook's benchmark (`make bench-webhook`): admission latency and admissions
per second with wrk (a C load generator, Debian's `wrk`) at 16 keep-alive connections, the
webhook's peak RSS with 10,000 KSAs in its cache, and the injected sidecar's steady RSS.
Reports; does not assert (exit 0 whatever the figures, 1 if it cannot run).

Peers, all on 127.0.0.1 free ports, stopped on exit: a Kubernetes API stand-in serving the KSAs
(list in pages, watch, get: what kube-rs asks), the release webhook with a self-signed serving
certificate, and the metadata emulator for the sidecar.
Env: WEBHOOK_BENCH_KSAS (10000), WEBHOOK_BENCH_CONNECTIONS (16), WEBHOOK_BENCH_SECONDS (10),
WEBHOOK_BENCH_BIN_DIR (target/release).
"""

import datetime
import http.client
import json
import os
import random
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parent.parent
# WEBHOOK_BENCH_BIN_DIR: another build of the three binaries (e.g. target/debug for a dry run).
RELEASE = Path(os.environ.get("WEBHOOK_BENCH_BIN_DIR", REPO / "target" / "release"))
# The metadata emulator is a peer, not what is measured: the release-test build serves.
PEERS = Path(os.environ.get("WEBHOOK_BENCH_PEER_DIR", REPO / "target" / "release-test"))
KSAS = int(os.environ.get("WEBHOOK_BENCH_KSAS", "10000"))
CONNECTIONS = int(os.environ.get("WEBHOOK_BENCH_CONNECTIONS", "16"))
SECONDS = int(os.environ.get("WEBHOOK_BENCH_SECONDS", "10"))
WRK_SCRIPT = REPO / "bench" / "webhook_wrk.lua"
NAMESPACE = "team"
ARN = "arn:aws:iam::123456789012:role/team-reader"
WAIT_S = 60  # bound on every wait for a peer


def service_account(i):
    name = f"ksa-{i}"
    annotations = {
        "amazonaws.com/role-arn": ARN,
        "iam.gke.io/gcp-service-account": f"{name}@proj.iam.gserviceaccount.com",
        # What `kubectl apply` leaves on every KSA; the webhook's cache drops it.
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"team": "reports", "tier": "batch"}}}
        ) * 4,
    }
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{i}", "resourceVersion": str(i + 1),
                         "labels": {"team": "reports"}, "annotations": annotations},
            "secrets": [{"name": f"{name}-token"}]}


ACCOUNTS = {}


class KubeApi(BaseHTTPRequestHandler):
    """List (limit/continue pages), watch (held open, no events) and get of ServiceAccounts."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if parts == ["version"]:  # read once at start: native sidecars on every kubelet
            return self.send_json(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
        if parts == ["api", "v1", "serviceaccounts"] and query.get("watch") in ("true", "1"):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            while not STOP.wait(1.0):  # an idle watch until the bench ends
                pass
            return
        if parts == ["api", "v1", "serviceaccounts"]:
            names = sorted(ACCOUNTS)
            start = int(query.get("continue") or 0)
            limit = int(query.get("limit") or len(names))
            page = names[start:start + limit]
            more = start + limit < len(names)
            body = {"apiVersion": "v1", "kind": "ServiceAccountList",
                    "metadata": {"resourceVersion": str(KSAS + 1), "continue": str(start + limit) if more else ""},
                    "items": [ACCOUNTS[n] for n in page]}
            return self.send_json(200, body)
        if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "serviceaccounts":
            sa = ACCOUNTS.get(parts[5]) if parts[3] == NAMESPACE else None
            if sa:
                return self.send_json(200, sa)
            return self.send_json(404, {"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
        self.send_json(404, {"kind": "Status", "code": 404})


STOP = threading.Event()


def serving_cert(work):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = work / "tls.crt", work / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


def wait_for_line(proc, pattern, what):
    deadline = time.monotonic() + WAIT_S
    for line in proc.stderr:
        match = re.search(pattern, line)
        if match:
            # Keep draining stderr so the child never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return match
        if time.monotonic() > deadline:
            break
    raise SystemExit(f"webhook bench: {what} did not start (exit {proc.poll()})")


def get(addr, path):
    conn = http.client.HTTPConnection(addr, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def status_kib(pid, field):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def review(i):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "reports-", "namespace": NAMESPACE, "labels": {"gke-aws-verifier/inject": "true"}},
           "spec": {"serviceAccountName": f"ksa-{i % KSAS}",
                    "containers": [{"name": "app", "image": "app:1", "env": [{"name": "LOG", "value": "info"}]}]}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": f"uid-{i}", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                   "resource": {"group": "", "version": "v1", "resource": "pods"},
                                   "namespace": NAMESPACE, "operation": "CREATE", "userInfo": {"username": "bench"},
                                   "object": pod, "dryRun": False}}).encode()


def client(addr, context, count, latencies, errors):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    bodies = [review(random.randrange(KSAS)) for _ in range(count)]
    for body in bodies:
        start = time.perf_counter()
        conn.request("POST", "/mutate", body, {"content-type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
        latencies.append(time.perf_counter() - start)
        if response.status != 200 or b'"patch"' not in answer:
            errors.append(answer[:200])
    conn.close()


def run_wrk(https, work):
    """wrk at CONNECTIONS keep-alive connections for SECONDS: (p50 s, p99 s, requests/s, errors)."""
    body = work / "review.json"
    body.write_bytes(review(1))
    threads = str(min(CONNECTIONS, os.cpu_count() or 1))
    out = subprocess.run(["wrk", "-t", threads, "-c", str(CONNECTIONS), "-d", f"{SECONDS}s", "--latency", "-s", str(WRK_SCRIPT),
                          f"https://{https}/mutate"], env={**os.environ, "WEBHOOK_REVIEW": str(body)},
                         capture_output=True, text=True, timeout=SECONDS + 60, check=True).stdout
    def latency(label):
        value, unit = re.search(rf"^\s+{label}%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return {"p50": latency("50"), "p99": latency("99"), "rps": rps, "total": total, "errors": errors, "raw": out}


def histogram_p99(metrics):
    """The smallest bucket bound holding 99% of the server-side latencies."""
    buckets = [(float(b), int(n)) for b, n in re.findall(r'admission_duration_seconds_bucket\{le="([0-9.]+)"\} (\d+)', metrics)]
    total = int(re.search(r"admission_duration_seconds_count (\d+)", metrics).group(1))
    return next((b for b, n in buckets if n >= 0.99 * total), float("inf")), total


def sidecar_rss(work):
    """Steady RSS of `gke-aws-verifier token-file` (the sidecar's command) against the emulator."""
    emulator = subprocess.Popen([str(PEERS / "gke-metadata-emulator"), "--listen", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        for line in emulator.stdout:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = m.group(1)
                break
        threading.Thread(target=lambda: [None for _ in emulator.stdout], daemon=True).start()
        token = work / "token"
        env = {"GCE_METADATA_HOST": f"127.0.0.1:{port}", "PATH": os.environ.get("PATH", "")}
        sidecar = subprocess.Popen([str(RELEASE / "gke-aws-verifier"), "token-file", "--path", str(token), "--file-mode", "0644",
                                    "--log-format", "json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + WAIT_S
            while not token.exists():
                if time.monotonic() > deadline or sidecar.poll() is not None:
                    raise SystemExit("webhook bench: the sidecar wrote no token")
                time.sleep(0.05)
            time.sleep(2)  # steady state: first token written, waiting for the refresh
            return status_kib(sidecar.pid, "VmRSS") / 1024, status_kib(sidecar.pid, "VmHWM") / 1024
        finally:
            sidecar.terminate()
            sidecar.wait(timeout=10)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def main():
    for path in (RELEASE / "gke-aws-webhook", RELEASE / "gke-aws-verifier", PEERS / "gke-metadata-emulator"):
        if not path.exists():
            raise SystemExit(f"webhook bench: {path} is missing; run make release release-webhook release-test")
    for i in range(KSAS):
        ACCOUNTS[f"ksa-{i}"] = service_account(i)
    api = ThreadingHTTPServer(("127.0.0.1", 0), KubeApi)
    api.daemon_threads = True
    threading.Thread(target=api.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="gke-aws-webhook-bench.") as tmp:
        work = Path(tmp)
        cert, key = serving_cert(work)
        (work / "kubeconfig").write_text(
            f"apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: http://127.0.0.1:{api.server_port}\n"
            "users:\n- name: b\n  user: {}\ncontexts:\n- name: b\n  context:\n    cluster: b\n    user: b\ncurrent-context: b\n")
        started = time.monotonic()
        webhook = subprocess.Popen(
            [str(RELEASE / "gke-aws-webhook"), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
             "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--sidecar-image", "registry.example/gke-aws-verifier:0.1.0",
             "--default-region", "us-east-1"],
            env={"KUBECONFIG": str(work / "kubeconfig"), "HOME": tmp}, stderr=subprocess.PIPE, text=True)
        try:
            # Info level, as deployed: one log line per admission is part of the cost.
            serving = wait_for_line(webhook, r"serving listen=(\S+) metrics=(\S+)", "the webhook")
            https, metrics = serving.group(1), serving.group(2)
            deadline = time.monotonic() + WAIT_S
            while get(metrics, "/readyz")[0] != 200:
                if time.monotonic() > deadline:
                    raise SystemExit("webhook bench: the webhook's KSA cache did not sync")
                time.sleep(0.05)
            ready_s = time.monotonic() - started
            cache_size = re.search(r"ksa_cache_size (\d+)", get(metrics, "/metrics")[1]).group(1)
            rss_synced = status_kib(webhook.pid, "VmRSS") / 1024
            context = ssl.create_default_context(cafile=str(cert))
            # Warm-up (connections, allocator) and a check that the answer is a patch.
            errors = []
            client(https, context, 50, [], errors)
            if errors:
                raise SystemExit(f"webhook bench: the warm-up review was not injected: {errors[0]!r}")
            wrk = run_wrk(https, work)
            server_p99, served = histogram_p99(get(metrics, "/metrics")[1])
            peak = status_kib(webhook.pid, "VmHWM") / 1024
        finally:
            webhook.terminate()
            webhook.wait(timeout=10)
            STOP.set()
        sidecar_steady, sidecar_peak = sidecar_rss(work)
    ms = lambda s: f"{s * 1000:.2f} ms"
    print(f"""
## gke-aws-webhook: wrk, {CONNECTIONS} keep-alive connections for {SECONDS} s, {cache_size} KSAs in the cache ({os.cpu_count()} CPUs)

| Figure | Value | Goal |
|---|---|---|
| admission latency p50 (wrk, TLS keep-alive) | {ms(wrk["p50"])} | |
| admission latency p99 (wrk) | {ms(wrk["p99"])} | < 10 ms |
| admission latency p99 (server side, histogram bucket) | <= {server_p99 * 1000:g} ms | < 10 ms |
| admissions per second | {wrk["rps"]:.0f} | |
| errors (non-2xx, socket) | {wrk["errors"]} | 0 |
| time to ready (list of {cache_size} KSAs, pages of 8) | {ready_s:.2f} s | |
| webhook RSS after sync | {rss_synced:.1f} MiB | |
| webhook peak RSS (VmHWM, after the load) | {peak:.1f} MiB | < 40 MB |
| sidecar (token-file) steady RSS | {sidecar_steady:.1f} MiB (peak {sidecar_peak:.1f} MiB) | < 8 MB |

wrk's requests: {wrk["total"]}; server-side admissions counted: {served}. wrk runs on the same
2 CPUs as the webhook, so both figures include its share of them.""")
    print("\nwrk's own report:\n\n```\n" + wrk["raw"].strip() + "\n```")


if __name__ == "__main__":
    main()
