"""The alert rules and the dashboard from their one source (k8s/monitoring/source.yaml, rendered
by k8s/monitoring/generate.py), and the components that ship them:
  - the rendered files are the generator's output, and a stale one fails `--check`;
  - inputs change the thresholds, and bad ones are refused naming the input;
  - the defaults agree with the manifests they describe (schedules, timeoutSeconds, renewBefore);
  - every alert has the house style's labels and annotations, its runbook section in
    docs/alerting.md, and promtool unit tests that fire it and keep it silent (run by
    tests/monitoring/run.sh; here, that a changed threshold makes them fail);
  - every metric a rule or panel reads is one the verifier, webhook or audit exports, or is on
    the short list of metrics the webhook does not export yet;
  - the dashboard's queries parse (promtool), and the CRD objects pass strict validation
    against the published CRDs (crd_schema.py), with canaries that must be refused;
  - the scrape objects select the webhook's pods and Service and name their metrics port."""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crd_schema import load_crds, validate

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests/k8s"))
from kustomize_render import render  # noqa: E402

spec = importlib.util.spec_from_file_location("generate", REPO / "k8s/monitoring/generate.py")
generate = importlib.util.module_from_spec(spec)
sys.modules["generate"] = generate  # dataclasses look their module up there
spec.loader.exec_module(generate)

SOURCE = yaml.safe_load(generate.SOURCE.read_text(encoding="utf-8"))
ALERTS = [alert for group in SOURCE["groups"] for alert in group["alerts"]]
RULES_FILE = REPO / generate.OUTPUTS["rules"]
UNIT_TESTS = REPO / "tests/monitoring/rules.test.yaml"
EXAMPLES = ["k8s/examples/monitoring-gmp", "k8s/examples/monitoring-prometheus-operator"]
# Where each family is exported: the file that writes its name.
EXPORTERS = {"gke_aws_verifier_": "verifier/src/verify/pushgateway.rs", "gke_aws_webhook_": "webhook/src/metrics.rs",
             "gke_aws_audit_": "audit/src/metrics.rs"}
KUBE_STATE_METRICS = {"kube_deployment_status_replicas_available"}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: apt-get install prometheus (Debian's package carries it)"
    return path


def run_generate(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(cwd / "k8s/monitoring/generate.py"), *args],
                          capture_output=True, text=True, timeout=60)


# --- the rendered files ---------------------------------------------------------------------------

def test_the_rendered_files_are_the_generators_output():
    out = run_generate("--check")
    assert out.returncode == 0, out.stderr
    rendered = generate.render()
    for key, path in generate.OUTPUTS.items():
        assert (REPO / path).read_text(encoding="utf-8") == rendered[key], path


def test_check_names_a_stale_file(tmp_path):
    # A copy of what the generator reads and writes, with one rendered file edited by hand.
    for path in ["k8s/monitoring/generate.py", "k8s/monitoring/source.yaml",
                 "k8s/webhook/base/mutatingwebhookconfiguration.yaml", *generate.OUTPUTS.values()]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    assert run_generate("--check", cwd=tmp_path).returncode == 0
    stale = tmp_path / generate.OUTPUTS["gmp"]
    stale.write_text(stale.read_text().replace("> 2700", "> 3600"))
    out = run_generate("--check", cwd=tmp_path)
    assert out.returncode == 1
    assert f"stale: {generate.OUTPUTS['gmp']}" in out.stderr
    assert generate.OUTPUTS["rules"] not in out.stderr


def test_the_three_rule_forms_hold_the_same_groups():
    plain = yaml.safe_load(RULES_FILE.read_text())["groups"]
    gmp = yaml.safe_load((REPO / generate.OUTPUTS["gmp"]).read_text())
    operator = yaml.safe_load((REPO / generate.OUTPUTS["prometheus-operator"]).read_text())
    assert gmp["spec"]["groups"] == operator["spec"]["groups"] == plain
    assert gmp["kind"] == "ClusterRules" and operator["kind"] == "PrometheusRule"


# --- inputs ---------------------------------------------------------------------------------------

def test_inputs_change_the_thresholds(tmp_path):
    out = run_generate("--set", "smoke_missed_runs=4", "--set", "webhook_certificate_min_validity=10d",
                       "--set", "runbook_url=https://git.example.com/gke-aws-verifier/docs/alerting.md",
                       "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    rules = {r["alert"]: r for g in yaml.safe_load((tmp_path / RULES_FILE.name).read_text())["groups"]
             for r in g["rules"]}
    smoke = rules["GkeAwsSmokeNotProven"]
    assert "offset 1h" in smoke["expr"] and "> 3600" in smoke["expr"]
    assert "for more than 1h (4 runs of 15m)" in smoke["annotations"]["description"]
    assert "< 864000" in rules["GkeAwsWebhookCertificateExpiring"]["expr"]
    assert smoke["annotations"]["runbook_url"] == \
        "https://git.example.com/gke-aws-verifier/docs/alerting.md#gkeawssmokenotproven"
    # The repository's files keep the defaults.
    assert "> 2700" in RULES_FILE.read_text()


BAD_INPUTS = {
    # arguments: what the message must say
    ("--set", "smoke_interval=15", "--out", "x"): "smoke_interval is a duration such as 15m",
    ("--set", "smoke_missed_runs=three", "--out", "x"): "smoke_missed_runs is a number",
    ("--set", "smoke_missed_runs=0", "--out", "x"): "smoke_missed_runs must be a number above 0",
    ("--set", "smoke_failed_for=10m", "--out", "x"): "smoke_failed_for: smoke_failed_for (10m) must be more than smoke_interval (15m)",
    ("--set", "smoke_interval=30m", "--out", "x"): "smoke_interval: smoke_failed_for (20m) must be more than smoke_interval (30m)",
    ("--set", "webhook_latency_timeout_fraction=1.5", "--out", "x"): "must be more than webhook_latency_threshold_seconds",
    ("--set", "webhook_namespace=Bad_Name", "--out", "x"): "webhook_namespace must be a Kubernetes namespace name",
    ("--set", 'runbook_url=https://x/"y', "--out", "x"): "runbook_url must be an http(s) URL",
    ("--set", "no_such_input=1", "--out", "x"): "--set no_such_input: no such input",
    ("--set", "smoke_interval", "--out", "x"): "write NAME=VALUE",
    ("--set", "smoke_interval=30m"): "add --out DIR",
    ("--check", "--set", "smoke_interval=30m"): "--check compares the repository's files with the defaults",
}


@pytest.mark.parametrize("args", BAD_INPUTS, ids=[" ".join(a) for a in BAD_INPUTS])
def test_bad_inputs_are_refused_naming_them(args, tmp_path):
    out = run_generate(*[str(tmp_path / a) if a == "x" else a for a in args])
    assert out.returncode == 2, out.stdout + out.stderr
    assert BAD_INPUTS[args] in out.stderr
    assert not any(tmp_path.iterdir()), "nothing is written for a bad input"


def test_list_shows_every_input_with_its_meaning():
    out = run_generate("--list")
    assert out.returncode == 0, out.stderr
    for name in SOURCE["inputs"]:
        assert re.search(rf"^{name} = \S+  \(default ", out.stdout, re.M), name
    assert "webhook_timeout_seconds = 5  (default from k8s/webhook/base/mutatingwebhookconfiguration.yaml)" in out.stdout


def cron_interval(schedule: str) -> str:
    """A CronJob schedule's interval, for the two forms used here: */N minutes, or hourly."""
    minute, *rest = schedule.split()
    assert rest == ["*"] * 4, f"{schedule!r}: only minute schedules are read here"
    if minute.startswith("*/"):
        return f"{int(minute[2:])}m"
    assert minute.isdigit(), schedule
    return "1h"


def test_the_defaults_agree_with_the_manifests():
    found = generate.values(SOURCE, {})
    smoke = yaml.safe_load((REPO / "k8s/base/cronjob-smoke.yaml").read_text())
    assert found["smoke_interval"].text == cron_interval(smoke["spec"]["schedule"])
    # A run in flight at the threshold does not page: it starts and ends within smoke_not_proven_for.
    run = smoke["spec"]["startingDeadlineSeconds"] + smoke["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert found["smoke_not_proven_for"].number >= run
    audit = yaml.safe_load((REPO / "k8s/components/audit/cronjob.yaml").read_text())
    assert found["audit_interval"].text == cron_interval(audit["spec"]["schedule"])
    run = audit["spec"]["startingDeadlineSeconds"] + audit["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert found["audit_not_run_for"].number >= run

    objs = render("k8s/webhook/base")
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    assert found["webhook_namespace"].text == deployment["metadata"]["namespace"]
    assert found["webhook_deployment"].text == deployment["metadata"]["name"]
    assert found["webhook_min_ready_replicas"].number <= deployment["spec"]["replicas"]
    (configuration,) = [o for o in objs if o["kind"] == "MutatingWebhookConfiguration"]
    timeout = configuration["webhooks"][0]["timeoutSeconds"]
    assert found["webhook_timeout_seconds"].number == timeout
    assert found["webhook_latency_threshold_seconds"].number < timeout

    # cert-manager renews renewBefore ahead of expiry: a renewal that works never fires the alert.
    certificates = yaml.safe_load_all((REPO / "k8s/webhook/components/cert-manager/certificate.yaml").read_text())
    (serving,) = [c for c in certificates if c["metadata"]["name"] == "gke-aws-webhook-tls"]
    assert found["webhook_certificate_min_validity"].number < generate.parse_duration(serving["spec"]["renewBefore"])


def test_the_latency_threshold_is_derived_from_timeout_seconds(tmp_path):
    # The webhook's timeoutSeconds moves the threshold with it.
    for path in ["k8s/monitoring/generate.py", "k8s/monitoring/source.yaml"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    configuration = (REPO / "k8s/webhook/base/mutatingwebhookconfiguration.yaml").read_text()
    target = tmp_path / "k8s/webhook/base/mutatingwebhookconfiguration.yaml"
    target.parent.mkdir(parents=True)
    target.write_text(configuration.replace("timeoutSeconds: 5", "timeoutSeconds: 10"))
    out = run_generate("--list", cwd=tmp_path)
    assert "webhook_timeout_seconds = 10  (default from" in out.stdout
    assert run_generate("--check", cwd=tmp_path).returncode == 1


# --- the alerts -----------------------------------------------------------------------------------

def rendered_rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]


def test_every_alert_follows_the_house_style():
    names = [r["alert"] for r in rendered_rules()]
    assert len(names) == len(set(names)) == 10, names
    for rule in rendered_rules():
        name = rule["alert"]
        assert re.fullmatch(r"GkeAws([A-Z][a-z0-9]+)+", name), name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert generate.parse_duration(rule["for"]) >= 600, f"{name}: for: rides out one failed run"
        for annotation in ("summary", "description"):
            assert "{{ $labels." in rule["annotations"][annotation], f"{name}: {annotation} names the object"
        assert rule["annotations"]["runbook_url"].endswith(f"/docs/alerting.md#{name.lower()}")


def test_every_failed_run_rides_out_one_run():
    found = generate.values(SOURCE, {})
    assert found["smoke_failed_for"].number > found["smoke_interval"].number
    assert found["audit_findings_for"].number > found["audit_interval"].number


def runbook_sections() -> dict[str, str]:
    text = (REPO / "docs/alerting.md").read_text(encoding="utf-8")
    parts = re.split(r"^### ", text, flags=re.M)[1:]
    return {part.splitlines()[0].strip(): part for part in parts}


@pytest.mark.parametrize("alert", [a["alert"] for a in ALERTS])
def test_every_alert_has_its_runbook_section(alert):
    section = runbook_sections().get(alert)
    assert section, f"docs/alerting.md has no section '### {alert}' (the anchor of its runbook_url)"
    for part in ("**What it means**", "**First command**", "**Fix**"):
        assert part in section, f"{alert}: the runbook section lacks {part}"
    assert re.search(r"```sh\n.+?\n```", section, re.S), f"{alert}: the first command is a ```sh block"


def test_every_alert_is_unit_tested_firing_and_silent():
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    assert yaml.safe_load(UNIT_TESTS.read_text())["rule_files"] == ["../../k8s/monitoring/gke-aws-verifier.rules.yaml"]
    fires, silent = set(), set()
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (fires if case["exp_alerts"] else silent).add(case["alertname"])
    every = {a["alert"] for a in ALERTS}
    assert every <= fires, f"never seen firing: {sorted(every - fires)}"
    assert every <= silent, f"never seen silent: {sorted(every - silent)}"


def test_the_unit_tests_fail_when_a_threshold_moves(tmp_path):
    # The promtool tests can fail: against the rules rendered with 4 missed runs instead of 3,
    # the smoke alert fires later than they expect.
    (tmp_path / "k8s/monitoring").mkdir(parents=True)
    (tmp_path / "tests/monitoring").mkdir(parents=True)
    assert run_generate("--set", "smoke_missed_runs=4", "--out", str(tmp_path / "k8s/monitoring")).returncode == 0
    shutil.copy(UNIT_TESTS, tmp_path / "tests/monitoring")
    out = subprocess.run([promtool(), "test", "rules", str(tmp_path / "tests/monitoring" / UNIT_TESTS.name)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "alertname: GkeAwsSmokeNotProven" in out.stdout + out.stderr


# --- metrics --------------------------------------------------------------------------------------

METRIC = re.compile(r"\b((?:gke_aws_[a-z_]+|kube_[a-z_]+))\b")


def queries() -> dict[str, str]:
    board = json.loads((REPO / generate.OUTPUTS["dashboard"]).read_text())
    found = {f"panel {p['title']!r} {t['refId']}": t["expr"]
             for p in board["panels"] if p["type"] != "row" for t in p["targets"]}
    found.update({f"alert {r['alert']}": r["expr"] for r in rendered_rules()})
    return found


def family(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name) if name.endswith(("_bucket", "_sum", "_count")) else name


def test_every_metric_read_is_exported_or_listed_as_coming():
    for where, expr in queries().items():
        for name in map(family, METRIC.findall(expr)):
            if name in KUBE_STATE_METRICS:
                continue
            prefix = next((p for p in EXPORTERS if name.startswith(p)), None)
            assert prefix, f"{where}: {name} belongs to no exporter"
            exporter = (REPO / EXPORTERS[prefix]).read_text()
            # The verifier writes its names as gke_aws_verifier_{name}.
            short = name[len(prefix):] if prefix == "gke_aws_verifier_" else name
            assert f'"{short}' in exporter, f"{where}: {name} is not written by {EXPORTERS[prefix]}"


def test_the_dashboard_queries_parse(tmp_path):
    # promtool parses a rules file's expressions: each panel's query as a recording rule.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, (where, expr) in enumerate(sorted(queries().items()))
        if where.startswith("panel")]}]}
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # And a broken one would not pass.
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [{"record": "d:q", "expr": "sum(rate(x[5m])"}]}]}))
    assert subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, timeout=60).returncode != 0


def test_the_dashboard_is_a_provisioning_model():
    board = json.loads((REPO / generate.OUTPUTS["dashboard"]).read_text())
    assert board["uid"] == "gke-aws-verifier" and board["schemaVersion"] >= 36
    (variable,) = board["templating"]["list"]
    assert variable == {**variable, "name": "datasource", "type": "datasource", "query": "prometheus"}
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    titles = " ".join(p["title"] for p in panels)
    for what in ("proven", "Admissions", "Denials", "latency", "Findings by code"):
        assert what in titles
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert "$" not in target["expr"], "no Grafana variables: the live test runs every query as is"


# --- the components -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crds():
    return load_crds()


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request) -> list[dict]:
    return render(request.param)


def test_the_fixtures_are_the_published_files():
    listed = dict(re.findall(r"^\| `([^`]+\.yaml)` \|.*\| `([0-9a-f]{64})` \|$",
                             (REPO / "tests/monitoring/crds/SOURCES.md").read_text(), re.M))
    files = sorted(p.name for p in (REPO / "tests/monitoring/crds").glob("*.yaml"))
    assert sorted(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256((REPO / "tests/monitoring/crds" / name).read_bytes()).hexdigest() == digest, name


def test_the_crd_objects_are_valid(example, crds):
    custom = [o for o in example if "." in o["apiVersion"].split("/")[0]]
    assert custom, "the example renders custom resources"
    for obj in custom:
        assert validate(obj, crds) == []


def first(objs: list[dict], kind: str) -> dict:
    return copy.deepcopy(next(o for o in objs if o["kind"] == kind))


CANARIES = {
    # name: (example, kind, change, part of the error)
    "unknown rule field": (0, "ClusterRules", lambda o: o["spec"]["groups"][0]["rules"][0].update(fore="10m"),
                           "'fore' was unexpected"),
    "both record and alert": (0, "ClusterRules", lambda o: o["spec"]["groups"][0]["rules"][0].update(record="a:b"),
                              "Must set exactly one of Record or Alert"),
    "for: not a duration": (0, "ClusterRules", lambda o: o["spec"]["groups"][0]["rules"][0].update({"for": "10 min"}),
                            "is not a 'duration'"),
    "a namespace on ClusterRules": (0, "ClusterRules", lambda o: o["metadata"].update(namespace="x"), "cluster-scoped"),
    "unknown metadata field": (0, "ClusterRules", lambda o: o["metadata"].update(label={}), "'label' was unexpected"),
    "port 0": (0, "PodMonitoring", lambda o: o["spec"]["endpoints"][0].update(port=0), "Port is required"),
    "timeout over interval": (0, "PodMonitoring", lambda o: o["spec"]["endpoints"][0].update(timeout="1m"),
                              "self.timeout <= self.interval"),
    "PodMonitoring without namespace": (0, "PodMonitoring", lambda o: o["metadata"].pop("namespace"), "namespaced"),
    "PrometheusRule for: with a space": (1, "PrometheusRule",
                                         lambda o: o["spec"]["groups"][0]["rules"][0].update({"for": "10 m"}),
                                         "does not match"),
    "unserved version": (1, "PrometheusRule", lambda o: o.update(apiVersion="monitoring.coreos.com/v2"), "not v2"),
    "ServiceMonitor without selector": (1, "ServiceMonitor", lambda o: o["spec"].pop("selector"),
                                        "'selector' is a required property"),
}


@pytest.mark.parametrize("canary", CANARIES)
def test_invalid_objects_are_refused(canary, crds):
    index, kind, change, error = CANARIES[canary]
    obj = first(render(EXAMPLES[index]), kind)
    change(obj)
    errors = validate(obj, crds)
    assert any(error in e for e in errors), errors


def test_the_scrapes_reach_the_webhooks_metrics_port():
    objs = render("k8s/webhook/base")
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    (service,) = [o for o in objs if o["kind"] == "Service"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    gmp = [o for o in render(EXAMPLES[0]) if o["kind"] == "PodMonitoring"]
    (webhook,) = [o for o in gmp if o["metadata"]["name"] == "gke-aws-webhook"]
    assert webhook["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert webhook["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (endpoint,) = webhook["spec"]["endpoints"]
    assert endpoint["port"] in [p["name"] for p in container["ports"]]

    (monitor,) = [o for o in render(EXAMPLES[1]) if o["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert port["targetPort"] == "metrics"


def test_the_pushgateway_scrape_matches_the_pushgateway_component():
    policy = yaml.safe_load((REPO / "k8s/components/pushgateway/networkpolicy.yaml").read_text())
    (to,) = policy["spec"]["egress"][0]["to"]
    (scrape,) = [o for o in render(EXAMPLES[0]) if o["metadata"]["name"] == "prometheus-pushgateway"]
    assert scrape["metadata"]["namespace"] == to["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert scrape["spec"]["selector"]["matchLabels"] == to["podSelector"]["matchLabels"]
    assert scrape["spec"]["endpoints"][0]["port"] == policy["spec"]["egress"][0]["ports"][0]["port"]
