"""The alerts and the dashboard against a real Prometheus (Debian's `prometheus`), scraping the
real webhook binary and a real Pushgateway (Debian's `prometheus-pushgateway`, honor_labels as
the components scrape it) fed by real runs: a failing and a passing `gke-aws-verifier verify
--pushgateway` (moto as S3 and STS, the GKE metadata emulator as Google) and an audit of the
Kubernetes API stand-in. Prometheus loads the rules file the components ship, with each `for:`
set to 0s (the expressions byte for byte the shipped ones) and a 1 s evaluation interval, so an
alert fires on the first evaluation that sees its series; the test polls Prometheus's HTTP API
with a bounded deadline, never sleeping as synchronisation.

Proves: GkeAwsSmokeRunFailed fires for the failing run's role and stage and not for the passing
run; GkeAwsWebhookCertificateExpiring fires for a webhook serving a certificate that expires in
3 days (its expiry exported by the webhook); GkeAwsWebhookKsaCacheNotSynced stays silent for a
synced webhook; every dashboard panel's query parses and returns a series.

Binaries come from target/release-test (make release-test); a missing tool or binary fails.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "k8s/monitoring"))
import generate  # noqa: E402

BIN = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release-test"
RULES_FILE = REPO / generate.OUTPUTS["rules"]
DASHBOARD = REPO / generate.OUTPUTS["dashboard"]
# Every wait is bounded by this.
DEADLINE_SECONDS = 60
ROLE_PASSING = "arn:aws:iam::123456789012:role/team-reader"
ROLE_FAILING = "arn:aws:iam::123456789012:role/team-writer"
BUCKET = "team-data"
MISSING_BUCKET = "team-data-gone"
GSA = "reader@demo-project.iam.gserviceaccount.com"


def tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found on PATH: {hint}"
    return path


def binary(name: str) -> Path:
    path = BIN / name
    assert path.exists(), f"{path} is missing: build it first (make release-test)"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what: str, check, deadline: float = DEADLINE_SECONDS):
    """check() until it returns something truthy; fails with `what` after the deadline."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            last = check()
        except OSError as error:  # not listening yet
            last = error
        else:
            if last:
                return last
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {deadline}s (last: {last!r})")


def get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class Processes:
    """The peers, each with its log in the test's folder; all killed at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, argv: list, env: dict | None = None, ready: str | None = None) -> Path:
        log = self.folder / f"{name}.log"
        out = log.open("wb")
        self.running.append(subprocess.Popen([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT,
                                             env=env, stdin=subprocess.DEVNULL))
        if ready:
            process = self.running[-1]

            def said() -> bool:
                assert process.poll() is None, f"{name} ended: {log.read_text(errors='replace')}"
                return ready in log.read_text(errors="replace")
            poll(f"{name} says {ready!r}", said)
        return log

    def stop(self):
        for process in self.running:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    processes = Processes(folder)
    try:
        yield build_world(folder, processes)
    finally:
        processes.stop()


def clean_env(**extra) -> dict:
    """No AWS or Kubernetes setup of the machine's may leak into the runs."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
    return {**keep, **{k: str(v) for k, v in extra.items()}}


def build_world(folder: Path, p: Processes) -> dict:
    prometheus = tool("prometheus", "apt-get install prometheus (.ci/run does)")
    pushgateway = tool("prometheus-pushgateway", "apt-get install prometheus-pushgateway (.ci/run does)")
    moto = tool("moto_server", "make venv installs it")
    openssl = tool("openssl", "apt-get install openssl")
    verifier, emulator, webhook = binary("gke-aws-verifier"), binary("gke-metadata-emulator"), binary("gke-aws-webhook")
    binary("gke-aws-audit")
    stand_in = binary("examples/kube-stand-in")

    # The audit's Kubernetes API stand-in (a cluster with one pod the webhook missed).
    cluster = folder / "cluster"
    cluster.mkdir()
    p.start("stand-in", [stand_in, cluster, "demo"], ready="ready http://")
    kubeconfig = cluster / "kubeconfig"
    # The webhook's: the KSA team/reader (and one generated), listed and watched, by the same
    # Kubernetes API stand-in the webhook's benchmark runs (webhook/examples/ksa-stand-in.rs).
    webhook_api = folder / "webhook-api"
    webhook_api.mkdir()
    p.start("ksa-stand-in", [binary("examples/ksa-stand-in"), webhook_api, "generated", 1, 1], ready="ready http://")
    webhook_kubeconfig = webhook_api / "kubeconfig"

    # The webhook, serving a certificate that expires in 3 days (under the 7 days of the alert).
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "3", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    https_port, webhook_metrics = free_port(), free_port()
    p.start("webhook", [webhook, "--listen", f"127.0.0.1:{https_port}", "--metrics-listen",
                        f"127.0.0.1:{webhook_metrics}", "--sidecar-image", "registry.example/gke-aws-verifier:0.1.0",
                        "--tls-cert-file", cert, "--tls-key-file", key, "--namespace", "gke-aws-webhook"],
            env=clean_env(KUBECONFIG=webhook_kubeconfig, HOME=folder))
    poll("the webhook is ready (its KSA cache synced)",
         lambda: (get(f"http://127.0.0.1:{webhook_metrics}/readyz") or b"").startswith(b"ready; KSA cache synced"))
    admit_a_few(https_port, cert)

    # The Pushgateway, then the runs that feed it.
    gateway_port = free_port()
    p.start("pushgateway", [pushgateway, f"--web.listen-address=127.0.0.1:{gateway_port}"])
    gateway = f"http://127.0.0.1:{gateway_port}"
    poll("the Pushgateway is ready", lambda: get(f"{gateway}/-/ready") is not None)
    moto_port = free_port()
    p.start("moto", [moto, "-H", "127.0.0.1", "-p", moto_port])
    aws = f"http://127.0.0.1:{moto_port}"
    poll("moto answers", lambda: get(f"{aws}/moto-api/") is not None)
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="reports/2026-12.csv", Body=b"a,b\n")
    metadata_port = free_port()
    p.start("metadata-emulator", [emulator, "--listen", f"127.0.0.1:{metadata_port}", "--gsa-email", GSA,
                                  "--unique-id", "112233445566778899001", "--project-id", "demo-project"],
            ready="listening on")
    (folder / "aws-config").write_text("")
    run_env = clean_env(HOME=folder, AWS_ENDPOINT_URL=aws, GCE_METADATA_HOST=f"127.0.0.1:{metadata_port}",
                        AWS_CONFIG_FILE=folder / "aws-config", AWS_SHARED_CREDENTIALS_FILE=folder / "aws-config",
                        AWS_EC2_METADATA_DISABLED="true")
    runs = {}
    for name, role, bucket in [("passing", ROLE_PASSING, BUCKET), ("failing", ROLE_FAILING, MISSING_BUCKET)]:
        runs[name] = subprocess.run([verifier, "verify", "--bucket", bucket, "--role-arn", role, "--region",
                                     "us-east-1", "--pushgateway", gateway], env=run_env, capture_output=True,
                                    text=True, timeout=120)
    assert runs["passing"].returncode == 0, runs["passing"].stdout + runs["passing"].stderr
    assert runs["failing"].returncode != 0, runs["failing"].stdout + runs["failing"].stderr
    # The audit of the stand-in (its demo cluster has one pod the webhook missed: an error).
    audit = subprocess.run([verifier, "audit", "--pushgateway", gateway], env=clean_env(KUBECONFIG=kubeconfig,
                           HOME=folder), capture_output=True, text=True, timeout=120)
    # 6: findings (the binary's exit-code table).
    assert audit.returncode == 6, audit.stdout + audit.stderr

    # Prometheus: the shipped rules with `for: 0s`, 1 s intervals.
    rules = yaml.safe_load(RULES_FILE.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(folder / "rules.yaml")],
        "scrape_configs": [
            {"job_name": "gke-aws-webhook", "static_configs": [{"targets": [f"127.0.0.1:{webhook_metrics}"]}]},
            # As the components scrape it: the pushed job/role/bucket labels kept.
            {"job_name": "pushgateway", "honor_labels": True,
             "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}]},
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus_port = free_port()
    p.start("prometheus", [prometheus, f"--config.file={folder / 'prometheus.yml'}",
                           f"--storage.tsdb.path={folder / 'tsdb'}",
                           f"--web.listen-address=127.0.0.1:{prometheus_port}"])
    api = f"http://127.0.0.1:{prometheus_port}/api/v1"
    poll("Prometheus is ready", lambda: get(f"http://127.0.0.1:{prometheus_port}/-/ready") is not None)
    return {"api": api, "rules": rules, "runs": runs}


def admit_a_few(port: int, cert: Path):
    """A few AdmissionReviews over HTTPS, as the API server sends them, so the admission
    counters and the latency histogram have samples."""
    import ssl
    context = ssl.create_default_context(cafile=str(cert))
    # Two not opted in (skipped), one opted in with the stand-in's KSA (injected).
    for name, labels in [("a", {}), ("b", {}), ("c", {"gke-aws-verifier/inject": "true"})]:
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": f"uid-{name}", "namespace": "team", "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                       "spec": {"serviceAccountName": "reader", "containers": [{"name": "app", "image": "app:1"}]}}}}
        request = urllib.request.Request(f"https://127.0.0.1:{port}/mutate", data=json.dumps(review).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            answer = json.loads(response.read())["response"]
        assert answer["allowed"] is True, answer
        assert ("patch" in answer) == bool(labels), answer


def query(api: str, expr: str) -> dict:
    body = json.loads(get(f"{api}/query?" + urllib.parse.urlencode({"query": expr})))
    assert body["status"] == "success", body
    return body["data"]


def firing(api: str) -> list[dict]:
    alerts = json.loads(get(f"{api}/alerts"))["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing"]


def test_prometheus_loaded_every_shipped_rule_with_no_wait(world):
    shipped = yaml.safe_load(RULES_FILE.read_text())
    loaded = json.loads(get(f"{world['api']}/rules"))["data"]["groups"]
    # The API lists the groups by name.
    ours_by_name = sorted(shipped["groups"], key=lambda g: g["name"])
    assert [g["name"] for g in loaded] == [g["name"] for g in ours_by_name]
    for group, ours in zip(loaded, ours_by_name):
        assert [r["name"] for r in group["rules"]] == [r["alert"] for r in ours["rules"]]
        for rule in group["rules"]:
            assert rule["health"] != "err", rule
            assert rule["duration"] == 0, rule


def test_a_failing_verify_run_fires_by_role_and_stage_and_the_passing_one_does_not(world):
    def failed_runs():
        return [a for a in firing(world["api"]) if a["labels"]["alertname"] == "GkeAwsSmokeRunFailed"]
    alerts = poll("GkeAwsSmokeRunFailed firing", failed_runs)
    roles = {a["labels"]["role"] for a in alerts}
    assert roles == {"team-writer"}, alerts
    stages = {a["labels"]["stage"] for a in alerts}
    assert "s3" in stages, alerts
    for alert in alerts:
        assert alert["labels"]["severity"] == "warning"
        assert alert["annotations"]["runbook_url"].startswith("https://"), alert


def test_the_webhooks_certificate_expiring_in_3_days_fires_and_its_synced_cache_does_not(world):
    def expiring():
        return [a for a in firing(world["api"]) if a["labels"]["alertname"] == "GkeAwsWebhookCertificateExpiring"]
    (alert,) = poll("GkeAwsWebhookCertificateExpiring firing", expiring)
    assert alert["labels"]["job"] == "gke-aws-webhook", alert
    left = float(query(world["api"],
                       "gke_aws_webhook_serving_certificate_expiry_timestamp_seconds - time()")["result"][0]["value"][1])
    assert 2 * 86400 < left <= 3 * 86400, left
    synced = query(world["api"], "gke_aws_webhook_ksa_cache_synced")["result"]
    assert [s["value"][1] for s in synced] == ["1"], synced
    names = {a["labels"]["alertname"] for a in firing(world["api"])}
    assert "GkeAwsWebhookKsaCacheNotSynced" not in names, names


def test_every_dashboard_panel_query_returns_a_series(world):
    board = json.loads(DASHBOARD.read_text())
    queries = {f"{p['title']} {t['refId']}": t["expr"] for p in board["panels"] if p["type"] != "row"
               for t in p["targets"]}
    assert queries

    def all_answer():
        empty = [where for where, expr in queries.items() if not query(world["api"], expr)["result"]]
        return not empty or None
    # rate() needs two scrapes: poll until every query has its series.
    poll("every dashboard query returns a series", all_answer)


def test_the_audits_error_finding_fires_by_code(world):
    def audit_errors():
        return [a for a in firing(world["api"]) if a["labels"]["alertname"] == "GkeAwsAuditErrorFindings"]
    alerts = poll("GkeAwsAuditErrorFindings firing", audit_errors)
    # The stand-in's demo cluster: one pod the webhook missed.
    assert {a["labels"]["code"] for a in alerts} == {"NotInjected"}, alerts
