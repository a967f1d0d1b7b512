#!/usr/bin/env python3
"""The injection webhook's benchmark (`make bench-webhook`): time to ready and to a synced KSA
cache, and peak RSS, with 10,000 and 100,000 KSAs (10 to a namespace, under 1 KiB each) and with
the hostile tests' 500 KSAs of 128 KiB; admission latency and admissions per second with wrk (a
C load generator, Debian's `wrk`) at 16 keep-alive connections with 100,000 KSAs in the cache;
review latency while 1,000 connections drip their handshake or headers and 1,500 sit idle after
TLS; the injected sidecar's steady RSS. Reports; does not assert (exit 0 whatever the figures, 1
if it cannot run).

Peers, all on 127.0.0.1 free ports, stopped on exit: the Kubernetes API stand-in
(webhook/examples/ksa-stand-in.rs over testkit::kube_api, from target/release-test: pages made
when asked for, with the API server's continue tokens), the release webhook with a self-signed
serving certificate, and the metadata emulator for the sidecar.
Env: WEBHOOK_BENCH_SIZES (10000,100000), WEBHOOK_BENCH_CONNECTIONS (16), WEBHOOK_BENCH_SECONDS
(10), WEBHOOK_BENCH_BIN_DIR (target/release), WEBHOOK_BENCH_PEER_DIR (target/release-test).
"""

import datetime
import http.client
import json
import os
import random
import re
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parent.parent
# WEBHOOK_BENCH_BIN_DIR: another build of the three binaries (e.g. target/debug for a dry run).
RELEASE = Path(os.environ.get("WEBHOOK_BENCH_BIN_DIR", REPO / "target" / "release"))
# The metadata emulator is a peer, not what is measured: the release-test build serves.
PEERS = Path(os.environ.get("WEBHOOK_BENCH_PEER_DIR", REPO / "target" / "release-test"))
SIZES = [int(n) for n in os.environ.get("WEBHOOK_BENCH_SIZES", "10000,100000").split(",")]
CONNECTIONS = int(os.environ.get("WEBHOOK_BENCH_CONNECTIONS", "16"))
SECONDS = int(os.environ.get("WEBHOOK_BENCH_SECONDS", "10"))
WRK_SCRIPT = REPO / "bench" / "webhook_wrk.lua"
NAMESPACE = "team"
ARN = "arn:aws:iam::123456789012:role/team-reader"
WAIT_S = 60  # bound on every wait for a peer


STOP = threading.Event()


def stand_in(work, args):
    """The KSA stand-in with `args` (generated N PER_NAMESPACE | large COUNT BYTES): (process, url)."""
    proc = subprocess.Popen([str(PEERS / "examples" / "ksa-stand-in"), str(work), *map(str, args)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        raise SystemExit(f"webhook bench: the stand-in did not start (exit {proc.poll()})")
    return proc, line.split()[1]


def start_webhook(work, cert, key):
    return subprocess.Popen(
        [str(RELEASE / "gke-aws-webhook"), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--sidecar-image", "registry.example/gke-aws-verifier:0.1.0",
         "--default-region", "us-east-1"],
        env={"KUBECONFIG": str(work / "kubeconfig"), "HOME": str(work)}, stderr=subprocess.PIPE, text=True)


def readiness(webhook, metrics, started, wait_s):
    """(seconds to the first 200 of /readyz, seconds to a synced cache), polled every 20 ms."""
    ready = synced = None
    deadline = time.monotonic() + wait_s
    while synced is None:
        if time.monotonic() > deadline or webhook.poll() is not None:
            raise SystemExit("webhook bench: the webhook's KSA cache did not sync")
        status, text = get(metrics, "/readyz")
        now = time.monotonic() - started
        if status == 200 and ready is None:
            ready = now
        if status == 200 and "synced" in text:
            synced = now
        time.sleep(0.02)
    return ready, synced


def sync_case(work, cert, key, args, label):
    """Start the stand-in with `args` and a webhook; time to ready and synced, peak RSS."""
    api, _url = stand_in(work, args)
    try:
        started = time.monotonic()
        webhook = start_webhook(work, cert, key)
        try:
            serving = wait_for_line(webhook, r"serving listen=(\S+) metrics=(\S+)", "the webhook")
            metrics = serving.group(2)
            ready, synced = readiness(webhook, metrics, started, 300)
            size = re.search(r"ksa_cache_size (\d+)", get(metrics, "/metrics")[1]).group(1)
            page = re.search(r"ksa_list_page_size (\d+)", get(metrics, "/metrics")[1]).group(1)
            return {"label": label, "ready": ready, "synced": synced, "size": size, "page": page,
                    "peak": status_kib(webhook.pid, "VmHWM") / 1024, "rss": status_kib(webhook.pid, "VmRSS") / 1024}
        finally:
            webhook.terminate()
            webhook.wait(timeout=10)
    finally:
        api.terminate()
        api.wait(timeout=10)


class Attackers:
    """1,000 connections that drip (half a TLS ClientHello a byte at a time, half TLS then headers a
    byte at a time) and 1,500 that finish TLS and say nothing, each reopened when the webhook
    closes it, until stopped."""

    def __init__(self, https, context, drip=1000, idle=1500):
        self.host, port = https.rsplit(":", 1)
        self.port, self.context, self.drip, self.idle = int(port), context, drip, idle
        self.stop = threading.Event()
        self.reopened = 0
        self.threads = [threading.Thread(target=self.run, args=(kind, n), daemon=True)
                        for kind, n in (("hello", drip // 2), ("headers", drip - drip // 2), ("idle", idle))]

    def open(self, kind):
        try:
            raw = socket.create_connection((self.host, self.port), timeout=2)
            if kind == "hello":
                raw.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00]))
                return raw
            tls = self.context.wrap_socket(raw, server_hostname="127.0.0.1")
            if kind == "headers":
                tls.sendall(b"POST /mutate HTTP/1.1\r\n")
            return tls
        except OSError:
            return None

    def run(self, kind, count):
        conns = []
        while not self.stop.is_set():
            while len(conns) < count and not self.stop.is_set():
                conn = self.open(kind)
                if conn is not None:
                    conns.append(conn)
                    self.reopened += 1
            alive = []
            for conn in conns:
                try:
                    if kind != "idle":
                        conn.sendall(b"x")
                    alive.append(conn)
                except OSError:
                    conn.close()
            conns = alive
            self.stop.wait(1.0)
        for conn in conns:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def reviews_under_attack(https, context, count=200):
    """Latencies of `count` reviews on one keep-alive connection (as the API server's pool) and
    of count/4 on new connections, with a 5 s timeout (the webhook configuration's): (keep-alive
    list, new list, failures)."""
    host, port = https.rsplit(":", 1)
    kept, fresh, failures = [], [], 0
    conn = None
    for i in range(count):
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
            start = time.perf_counter()
            conn.request("POST", "/mutate", review(i), {"content-type": "application/json"})
            answer = conn.getresponse().read()
            kept.append(time.perf_counter() - start)
            if b'"patch"' not in answer:
                failures += 1
        except OSError:
            failures += 1
            conn = None
        time.sleep(0.02)
    for i in range(count // 4):
        start = time.perf_counter()
        try:
            c = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
            c.request("POST", "/mutate", review(i), {"content-type": "application/json"})
            if b'"patch"' not in c.getresponse().read():
                failures += 1
            fresh.append(time.perf_counter() - start)
            c.close()
        except OSError:
            failures += 1
    return kept, fresh, failures


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


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
           "spec": {"serviceAccountName": "reader",
                    "containers": [{"name": "app", "image": "app:1", "env": [{"name": "LOG", "value": "info"}]}]}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": f"uid-{i}", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                   "resource": {"group": "", "version": "v1", "resource": "pods"},
                                   "namespace": NAMESPACE, "operation": "CREATE", "userInfo": {"username": "bench"},
                                   "object": pod, "dryRun": False}}).encode()


def client(addr, context, count, latencies, errors):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    bodies = [review(random.randrange(1 << 20)) for _ in range(count)]
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
    for path in (RELEASE / "gke-aws-webhook", RELEASE / "gke-aws-verifier", PEERS / "gke-metadata-emulator",
                 PEERS / "examples" / "ksa-stand-in"):
        if not path.exists():
            raise SystemExit(f"webhook bench: {path} is missing; run make release release-webhook release-test")
    # 2,500 attacking connections and the bench's own need more descriptors than the default 1,024.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="gke-aws-webhook-bench.") as tmp:
        work = Path(tmp)
        cert, key = serving_cert(work)
        syncs = [sync_case(work, cert, key, ["generated", n, 10], f"{n:,} KSAs, 10 to a namespace") for n in SIZES]
        syncs.append(sync_case(work, cert, key, ["large", 500, 128 << 10], "500 KSAs of 128 KiB (the hostile tests')"))
        api, _url = stand_in(work, ["generated", max(SIZES), 10])
        webhook = start_webhook(work, cert, key)
        try:
            # Info level, as deployed: one log line per admission is part of the cost.
            serving = wait_for_line(webhook, r"serving listen=(\S+) metrics=(\S+)", "the webhook")
            https, metrics = serving.group(1), serving.group(2)
            readiness(webhook, metrics, time.monotonic(), 300)
            cache_size = re.search(r"ksa_cache_size (\d+)", get(metrics, "/metrics")[1]).group(1)
            context = ssl.create_default_context(cafile=str(cert))
            # Warm-up (connections, allocator) and a check that the answer is a patch.
            errors = []
            client(https, context, 50, [], errors)
            if errors:
                raise SystemExit(f"webhook bench: the warm-up review was not injected: {errors[0]!r}")
            wrk = run_wrk(https, work)
            server_p99, served = histogram_p99(get(metrics, "/metrics")[1])
            quiet_kept, quiet_fresh, quiet_failures = reviews_under_attack(https, context)
            with Attackers(https, context) as attackers:
                time.sleep(5)  # the attackers' connections opened and dripping
                kept, fresh, failures = reviews_under_attack(https, context)
                reopened = attackers.reopened
            closed = {m.group(1): int(m.group(2)) for m in re.finditer(
                r'connections_closed_total\{reason="(\w+)"\} (\d+)', get(metrics, "/metrics")[1])}
            peak = status_kib(webhook.pid, "VmHWM") / 1024
        finally:
            webhook.terminate()
            webhook.wait(timeout=10)
            api.terminate()
            api.wait(timeout=10)
            STOP.set()
        sidecar_steady, sidecar_peak = sidecar_rss(work)
    ms = lambda s: f"{s * 1000:.2f} ms"
    print(f"""
## gke-aws-webhook: time to ready and memory ({os.cpu_count()} CPUs)

The release webhook against the KSA stand-in: ready is the first 200 of /readyz (the first list
page is in: KSAs not seen yet are read directly), synced the cache holding every KSA; RSS is
VmHWM once synced. The Deployment's memory limit is 128 MiB.

| KSAs | ready | synced | KSAs cached | last page size | peak RSS | RSS synced | Goal |
|---|---|---|---|---|---|---|---|""")
    for c in syncs:
        goal = "synced <= 10 s, < 128 MiB" if "10 to a" in c["label"] else "< 128 MiB"
        print(f"| {c['label']} | {c['ready']:.2f} s | {c['synced']:.2f} s | {c['size']} | {c['page']} | {c['peak']:.1f} MiB | {c['rss']:.1f} MiB | {goal} |")
    print(f"""
## gke-aws-webhook: wrk, {CONNECTIONS} keep-alive connections for {SECONDS} s, {cache_size} KSAs in the cache ({os.cpu_count()} CPUs)

| Figure | Value | Goal |
|---|---|---|
| admission latency p50 (wrk, TLS keep-alive) | {ms(wrk["p50"])} | |
| admission latency p99 (wrk) | {ms(wrk["p99"])} | < 10 ms |
| admission latency p99 (server side, histogram bucket) | <= {server_p99 * 1000:g} ms | < 10 ms |
| admissions per second | {wrk["rps"]:.0f} | |
| errors (non-2xx, socket) | {wrk["errors"]} | 0 |
| webhook peak RSS (VmHWM, after the load and the attack below) | {peak:.1f} MiB | < 128 MiB |
| sidecar (token-file) steady RSS | {sidecar_steady:.1f} MiB (peak {sidecar_peak:.1f} MiB) | < 8 MB |

wrk's requests: {wrk["total"]}; server-side admissions counted: {served}. wrk runs on the same
2 CPUs as the webhook, so both figures include its share of them.

## Reviews while 1,000 connections drip and 1,500 sit idle after TLS

200 reviews one after the other on one keep-alive connection (as the API server's pool sends
them), then 50 on a new connection each, 5 s timeout (the webhook configuration's), Python's
http.client: first quiet, then while Python threads keep 500 connections dripping a TLS
ClientHello, 500 dripping a request's headers (a byte a second) and 1,500 idle after TLS, each
reopened when the webhook closes it ({reopened} opened in all).

| | keep-alive p50 | keep-alive p99 | new connection p50 | new connection p99 | failed or over 5 s |
|---|---|---|---|---|---|
| quiet | {ms(percentile(quiet_kept, 50))} | {ms(percentile(quiet_kept, 99))} | {ms(percentile(quiet_fresh, 50))} | {ms(percentile(quiet_fresh, 99))} | {quiet_failures} |
| under the attack | {ms(percentile(kept, 50))} | {ms(percentile(kept, 99))} | {ms(percentile(fresh, 50))} | {ms(percentile(fresh, 99))} | {failures} |

Connections the webhook closed itself during the run: {", ".join(f"{k} {v}" for k, v in sorted(closed.items()))}.""")
    print("\nwrk's own report:\n\n```\n" + wrk["raw"].strip() + "\n```")


if __name__ == "__main__":
    main()
