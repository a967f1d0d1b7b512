"""Tests of scripts/k8s_config.py (`make k8s-config`) with tests/k8s/fixtures/workloads.json, shaped
like the Terraform root's `workloads` output: what each overlay renders (with the real
`kubectl kustomize`) in both namespace modes and both identity modes, that the committed
overlays are exactly its output, and that invalid input fails naming the field."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests/k8s/fixtures/workloads.json"
SCRIPT = REPO / "scripts/k8s-config.sh"
IMAGE = "europe-docker.pkg.dev/example-project/gke-aws-verifier/gke-aws-verifier:0.1.0"
KUBECTL = shutil.which("kubectl")


def gen(out: Path, *args: str, stdin: str | None = None, **env: str):
    """Runs the script (through its make-facing wrapper) into OUT; returns the finished process."""
    full = {**os.environ, "OUT_DIR": str(out), "IMAGE": IMAGE, "DEDICATED": "example", **env}
    return subprocess.run([str(SCRIPT), *args], input=stdin, env=full, capture_output=True, text=True,
                          timeout=60)


def render(overlay: Path) -> list[dict]:
    assert KUBECTL, "kubectl not found: it renders the overlays (kubectl kustomize)"
    out = subprocess.run([KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def one(objs: list[dict], kind: str) -> dict:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def pod_specs(objs: list[dict]) -> dict[str, dict]:
    return {"Job": one(objs, "Job")["spec"]["template"]["spec"],
            "CronJob": one(objs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]}


def with_workload(tmp_path: Path, edit) -> Path:
    data = json.loads(FIXTURE.read_text())
    edit(data)
    path = tmp_path / "workloads.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def overlays(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("overlays")
    done = gen(out, str(FIXTURE))
    assert done.returncode == 0, done.stderr
    return out


def test_writes_one_overlay_per_workload(overlays):
    assert sorted(p.name for p in overlays.iterdir()) == ["example", "example-cluster", "reports"]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_committed_overlays_are_exactly_its_output(overlays):
    for name in ["example", "example-cluster", "reports"]:
        written, committed = overlays / name, REPO / "k8s/overlays" / name
        assert files_under(written) == files_under(committed), name
        for rel in files_under(written):
            f = written / rel
            # Only the path to k8s/ differs: it is relative to where the overlay was written.
            text = f.read_text().replace(os.path.relpath(REPO / "k8s", f.parent),
                                         os.path.relpath(REPO / "k8s", (committed / rel).parent))
            assert text == (committed / rel).read_text(), f"k8s/overlays/{name}/{rel}"


def test_application_mode_creates_only_the_verifiers_own_objects(overlays):
    objs = render(overlays / "reports")
    assert sorted(o["kind"] for o in objs) == ["ConfigMap", "CronJob", "Job", "NetworkPolicy"]
    for o in objs:
        assert o["metadata"]["namespace"] == "payments"
        assert o["metadata"]["name"].startswith("gke-aws-verifier-"), o["metadata"]["name"]
        assert o["metadata"]["labels"]["app.kubernetes.io/name"] == "gke-aws-verifier"
    # Not the application's namespace, not its KSA: nothing of them is in the applied set.
    assert not [o for o in objs if o["kind"] in ("Namespace", "ServiceAccount")]
    assert "reports-reader" not in [o["metadata"]["name"] for o in objs]


def test_application_mode_policy_selects_only_the_verifiers_pods(overlays):
    objs = render(overlays / "reports")
    policy = one(objs, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "gke-aws-verifier"}}
    for spec_of in (one(objs, "Job")["spec"]["template"], one(objs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]):
        assert spec_of["metadata"]["labels"]["app.kubernetes.io/name"] == "gke-aws-verifier"


def test_application_mode_runs_as_the_applications_ksa(overlays):
    objs = render(overlays / "reports")
    for kind, spec in pod_specs(objs).items():
        assert spec["serviceAccountName"] == "reports-reader", kind
        assert spec["nodeSelector"] == {"iam.gke.io/gke-metadata-server-enabled": "true"}, kind
    kustomization = (overlays / "reports/kustomization.yaml").read_text()
    # The overlay says what the scripts do to the KSA, as the command to run by hand: the
    # verifier's own annotations, then what the application's pods read (the webhook).
    assert ("kubectl annotate --overwrite serviceaccount reports-reader --namespace payments \\\n"
            "#     amazonaws.com/role-arn=arn:aws:iam::123456789012:role/reports-reader \\\n"
            "#     iam.gke.io/gcp-service-account=reports-reader@example-project.iam.gserviceaccount.com \\\n"
            "#     amazonaws.com/audience=sts.amazonaws.com \\\n"
            "#     gke-aws-verifier/region.exports=eu-west-1 \\\n"
            "#     gke-aws-verifier/role.exports=arn:aws:iam::123456789012:role/reports-reader.exports\n") in kustomization
    assert not (overlays / "reports/serviceaccount_patch.yaml").exists()


def test_application_mode_renders_what_make_verify_sets_beyond_role_and_mode(tmp_path):
    """The audience and named roles reach `make verify` as data of the render (an annotation of
    the verifier's ConfigMap, which verify-job.sh reads with kubectl), never from comments."""
    def edit(d):
        d["reports"]["audience"] = "aws.example.com"
        d["reports"]["roles"]["log_shipper"] = {"role_arn": "arn:aws:iam::123456789012:role/reports-reader.log_shipper"}
    done = gen(tmp_path / "o", str(with_workload(tmp_path, edit)))
    assert done.returncode == 0, done.stderr
    config = one(render(tmp_path / "o/reports"), "ConfigMap")
    assert config["metadata"]["annotations"]["gke-aws-verifier/ksa-annotations"].split(" ") == [
        "amazonaws.com/audience=aws.example.com",
        "gke-aws-verifier/region.exports=eu-west-1",
        "gke-aws-verifier/region.log_shipper=us-east-1",  # no region of its own: the workload's
        "gke-aws-verifier/role.exports=arn:aws:iam::123456789012:role/reports-reader.exports",
        "gke-aws-verifier/role.log_shipper=arn:aws:iam::123456789012:role/reports-reader.log_shipper",
    ]
    assert config["data"]["VERIFY_AUDIENCE"] == "aws.example.com"
    cluster = one(render(tmp_path / "o/example-cluster"), "ConfigMap")["metadata"]["annotations"]
    assert cluster["gke-aws-verifier/ksa-annotations"].split(" ") == [
        "amazonaws.com/audience=sts.amazonaws.com", "gke-aws-verifier/region.audit-log=eu-west-2",
        "gke-aws-verifier/role.audit-log=arn:aws:iam::123456789012:role/ledger-reader.audit-log"]
    # Dedicated mode: the owned KSA carries them all itself; nothing to carry.
    example = one(render(tmp_path / "o/example"), "ConfigMap")["metadata"].get("annotations") or {}
    assert "gke-aws-verifier/ksa-annotations" not in example


def test_settings_reach_the_configmap(overlays):
    data = one(render(overlays / "reports"), "ConfigMap")["data"]
    assert data["AWS_ROLE_ARN"] == "arn:aws:iam::123456789012:role/reports-reader"
    assert data["AWS_REGION"] == "us-east-1"  # the workload's own region
    assert data["VERIFY_BUCKET"] == "example-reports"
    assert data["VERIFY_PREFIX"] == "daily/"  # a prefix-limited role is proved under its first prefix
    assert data["VERIFY_ACCESS"] == "list"
    assert data["VERIFY_EXPECTED_GSA"] == "reports-reader@example-project.iam.gserviceaccount.com"
    assert one(render(overlays / "example"), "ConfigMap")["data"]["VERIFY_ACCESS"] == "read"


def scalars(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from scalars(v)
    elif isinstance(node, list):
        for v in node:
            yield from scalars(v)
    else:
        yield node


def test_no_placeholder_survives(overlays):
    for name in ["example", "example-cluster", "reports"]:
        objs = render(overlays / name)
        for value in scalars(objs):
            assert value not in ("GSA_EMAIL", "ROLE_ARN", "REGION", "BUCKET"), (name, value)
            assert not str(value).startswith("REGISTRY/"), (name, value)
        assert f"image: {IMAGE}" in yaml.safe_dump_all(objs, width=1000)


def test_dedicated_mode_owns_a_restricted_namespace_and_the_ksa(overlays):
    objs = render(overlays / "example")
    ns = one(objs, "Namespace")
    assert ns["metadata"]["name"] == "gke-aws-verifier"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    ksa = one(objs, "ServiceAccount")
    assert ksa["metadata"]["name"] == "gke-aws-verifier"  # Terraform's exact name, no suffix
    assert ksa["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "s3-verifier@example-project.iam.gserviceaccount.com",
        "amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/gke-aws-verifier-example",
        "amazonaws.com/audience": "sts.amazonaws.com"}
    assert ksa["automountServiceAccountToken"] is False


def test_workloads_sharing_a_namespace_get_distinct_names(overlays):
    a = {o["metadata"]["name"] for o in render(overlays / "reports")}
    b = {o["metadata"]["name"] for o in render(overlays / "example-cluster")}
    assert not a & b
    assert "gke-aws-verifier-cron-reports" in a


def test_cluster_mode_uses_the_projected_token(overlays):
    objs = render(overlays / "example-cluster")
    for kind, spec in pod_specs(objs).items():
        assert spec["serviceAccountName"] == "ledger", kind
        assert spec["volumes"] == [{"name": "gke-aws-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "sts.amazonaws.com", "expirationSeconds": 3600, "path": "token"}}]}}], kind
        (verifier,) = spec["containers"]
        assert {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": "/var/run/secrets/gke-aws/token"} in verifier["env"]
        assert verifier["volumeMounts"] == [
            {"name": "gke-aws-token", "mountPath": "/var/run/secrets/gke-aws", "readOnly": True}], kind
        # No Google identity: no metadata-server node needed.
        assert "iam.gke.io/gke-metadata-server-enabled" not in (spec.get("nodeSelector") or {}), kind
        assert spec["automountServiceAccountToken"] is False, kind
    data = one(objs, "ConfigMap")["data"]
    assert "VERIFY_EXPECTED_GSA" not in data
    assert data["AWS_REGION"] == "eu-west-2" and data["VERIFY_ACCESS"] == "read"


def test_cluster_mode_audience_reaches_the_token(tmp_path):
    def edit(d):
        d["example-cluster"]["audience"] = "aws.example.com"
    done = gen(tmp_path / "o", str(with_workload(tmp_path, edit)))
    assert done.returncode == 0, done.stderr
    for kind, spec in pod_specs(render(tmp_path / "o/example-cluster")).items():
        assert spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "aws.example.com", kind


def app_render(tmp_path: Path, overlay: Path) -> list[dict]:
    """Renders an application's own kustomization (the cluster-identity example's Job, in the
    workload's namespace) that takes the overlay's app-identity Component."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(REPO / "k8s/examples/cluster-identity/job.yaml", app / "job.yaml")
    rel = os.path.relpath(overlay / "app-identity", app)
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: payments\n"
        f"resources:\n  - job.yaml\ncomponents:\n  - {rel}\n")
    return render(app)


def test_cluster_mode_app_identity_gives_the_applications_pods_role_region_and_audience(tmp_path):
    def edit(d):
        d["example-cluster"]["audience"] = "aws.example.com"
    done = gen(tmp_path / "o", str(with_workload(tmp_path, edit)))
    assert done.returncode == 0, done.stderr
    objs = app_render(tmp_path, tmp_path / "o/example-cluster")
    config = one(objs, "ConfigMap")
    assert config["metadata"]["name"].startswith("aws-web-identity-")
    assert config["data"] == {"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ledger-reader", "AWS_REGION": "eu-west-2"}
    spec = one(objs, "Job")["spec"]["template"]["spec"]
    assert [v for v in spec["volumes"] if v["name"] == "gke-aws-token"] == [{
        "name": "gke-aws-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "aws.example.com", "expirationSeconds": 3600, "path": "token"}}]}}]
    (app,) = spec["containers"]
    refs = {e["name"]: e["valueFrom"]["configMapKeyRef"]["name"]
            for e in app["env"] if "configMapKeyRef" in e.get("valueFrom", {})}
    assert refs == {"AWS_ROLE_ARN": config["metadata"]["name"], "AWS_REGION": config["metadata"]["name"]}


def test_credential_process_takes_the_audience_from_the_aws_config_configmap(tmp_path):
    """As the token-file sidecar from aws-web-identity: the optional key AWS_AUDIENCE of the
    ConfigMap the consumer provides becomes the helper's VERIFY_AUDIENCE, which it inherits from
    the SDK that runs it."""
    app = tmp_path / "app"
    app.mkdir()
    example = REPO / "k8s/examples/credential-process"
    for f in ("job.yaml", "aws-config.ini"):
        shutil.copy(example / f, app / f)
    rel = os.path.relpath(REPO / "k8s/components/credential-process", app)
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: payments\n"
        f"resources:\n  - job.yaml\ncomponents:\n  - {rel}\n"
        "configMapGenerator:\n  - name: aws-config\n    files:\n      - config=aws-config.ini\n"
        "    literals:\n      - AWS_AUDIENCE=aws.example.com\n")
    objs = render(app)
    config = one(objs, "ConfigMap")
    assert config["data"]["AWS_AUDIENCE"] == "aws.example.com"
    (container,) = [c for c in one(objs, "Job")["spec"]["template"]["spec"]["containers"] if c["name"] == "app"]
    (audience,) = [e for e in container["env"] if e["name"] == "VERIFY_AUDIENCE"]
    assert audience["valueFrom"]["configMapKeyRef"] == {
        "name": config["metadata"]["name"], "key": "AWS_AUDIENCE", "optional": True}


def test_the_committed_app_identity_renders_with_the_default_audience(tmp_path):
    spec = one(app_render(tmp_path, REPO / "k8s/overlays/example-cluster"), "Job")["spec"]["template"]["spec"]
    (token,) = [v for v in spec["volumes"] if v["name"] == "gke-aws-token"]
    assert token["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "sts.amazonaws.com"


def test_gsa_mode_has_no_app_identity_and_a_switch_removes_it(tmp_path):
    assert gen(tmp_path, str(FIXTURE)).returncode == 0
    assert not (tmp_path / "reports/app-identity").exists()
    assert (tmp_path / "example-cluster/app-identity/kustomization.yaml").exists()

    def edit(d):
        w = d["example-cluster"]
        w["identity"], w["issuer_url"] = "gsa", None
        w["gsa_email"] = "ledger@example-project.iam.gserviceaccount.com"
    assert gen(tmp_path, str(with_workload(tmp_path, edit))).returncode == 0
    assert not (tmp_path / "example-cluster/app-identity").exists()


def test_named_roles_and_the_audience_reach_the_dedicated_ksa(tmp_path):
    def edit(d):
        d["reports"]["audience"] = "aws.example.com"
        d["reports"]["roles"]["log_shipper"] = {"role_arn": "arn:aws:iam::123456789012:role/reports-reader.log_shipper"}
    done = gen(tmp_path / "o", str(with_workload(tmp_path, edit)), DEDICATED="reports")
    assert done.returncode == 0, done.stderr
    objs = render(tmp_path / "o/reports")
    assert one(objs, "ServiceAccount")["metadata"]["annotations"] == {
        "amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/reports-reader",
        "amazonaws.com/audience": "aws.example.com",
        "iam.gke.io/gcp-service-account": "reports-reader@example-project.iam.gserviceaccount.com",
        "gke-aws-verifier/role.exports": "arn:aws:iam::123456789012:role/reports-reader.exports",
        "gke-aws-verifier/region.exports": "eu-west-1",
        # No region of its own: the workload's.
        "gke-aws-verifier/role.log_shipper": "arn:aws:iam::123456789012:role/reports-reader.log_shipper",
        "gke-aws-verifier/region.log_shipper": "us-east-1",
    }
    assert one(objs, "ConfigMap")["data"]["VERIFY_AUDIENCE"] == "aws.example.com"


def test_outputs_from_before_named_roles_have_none(tmp_path):
    def edit(d):
        for w in d.values():
            del w["roles"]
    done = gen(tmp_path / "o", str(with_workload(tmp_path, edit)), DEDICATED="example-cluster")
    assert done.returncode == 0, done.stderr
    annotations = one(render(tmp_path / "o/example-cluster"), "ServiceAccount")["metadata"]["annotations"]
    assert not [k for k in annotations if k.startswith("gke-aws-verifier/role.")]


def test_cluster_mode_dedicated_ksa_has_no_google_annotation(tmp_path):
    done = gen(tmp_path, str(FIXTURE), DEDICATED="example-cluster")
    assert done.returncode == 0, done.stderr
    ksa = one(render(tmp_path / "example-cluster"), "ServiceAccount")
    assert ksa["metadata"]["annotations"] == {
        "amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ledger-reader",
        "amazonaws.com/audience": "sts.amazonaws.com",
        "gke-aws-verifier/identity": "cluster",
        "gke-aws-verifier/role.audit-log": "arn:aws:iam::123456789012:role/ledger-reader.audit-log",
        "gke-aws-verifier/region.audit-log": "eu-west-2"}


def test_a_workload_no_longer_dedicated_loses_its_ksa_patch(tmp_path):
    assert gen(tmp_path, str(FIXTURE), DEDICATED="all").returncode == 0
    assert (tmp_path / "reports/serviceaccount_patch.yaml").exists()
    assert gen(tmp_path, str(FIXTURE), DEDICATED="").returncode == 0
    assert not (tmp_path / "reports/serviceaccount_patch.yaml").exists()
    assert not [o for o in render(tmp_path / "example") if o["kind"] in ("Namespace", "ServiceAccount")]


def test_missing_identity_means_gsa(tmp_path):
    def edit(d):
        del d["reports"]["identity"], d["reports"]["issuer_url"]
    done = gen(tmp_path / "o", str(with_workload(tmp_path, edit)))
    assert done.returncode == 0, done.stderr
    assert "VERIFY_EXPECTED_GSA=reports-reader@" in (tmp_path / "o/reports/config.env").read_text()


@pytest.mark.parametrize("image, pinned", [
    (IMAGE, f"image: {IMAGE}"),
    ("europe-docker.pkg.dev/p/r/gke-aws-verifier@sha256:" + "0" * 63 + "7",
     "image: europe-docker.pkg.dev/p/r/gke-aws-verifier@sha256:" + "0" * 63 + "7"),
    ("localhost:5000/gke-aws-verifier:1.2.3", "image: localhost:5000/gke-aws-verifier:1.2.3"),
])
def test_image_is_pinned(tmp_path, image, pinned):
    assert gen(tmp_path, str(FIXTURE), IMAGE=image).returncode == 0
    assert pinned in yaml.safe_dump_all(render(tmp_path / "reports"), width=1000)


@pytest.mark.parametrize("image, says", [
    ("", "IMAGE: missing; pass the image `make image` pushed, e.g. make k8s-config IMAGE="),
    ("REGISTRY/gke-aws-verifier:0.1.0", "REGISTRY is the placeholder, not a registry; pass the image"),
    ("europe-docker.pkg.dev/p/r/gke-aws-verifier:latest", "pin a tag or a digest, not latest"),
    ("europe-docker.pkg.dev/p/r/gke-aws-verifier", "expected REPOSITORY:TAG or REPOSITORY@sha256:DIGEST"),
])
def test_image_refused(tmp_path, image, says):
    done = gen(tmp_path / "o", str(FIXTURE), IMAGE=image)
    assert (done.returncode, says in done.stderr) == (2, True), done.stderr
    assert not (tmp_path / "o").exists()


def test_components_are_added(tmp_path):
    assert gen(tmp_path, str(FIXTURE), COMPONENTS="pushgateway autopilot").returncode == 0
    objs = render(tmp_path / "example-cluster")
    assert "gke-aws-verifier-pushgateway-example-cluster" in [o["metadata"]["name"] for o in objs]
    cron = pod_specs(objs)["CronJob"]
    # Components merge: the pushgateway's variable does not replace the cluster mode's.
    assert {e["name"] for e in cron["containers"][0]["env"]} == {"AWS_WEB_IDENTITY_TOKEN_FILE", "VERIFY_PUSHGATEWAY"}
    for kind, spec in pod_specs(render(tmp_path / "reports")).items():
        assert "iam.gke.io/gke-metadata-server-enabled" not in (spec.get("nodeSelector") or {}), kind


@pytest.mark.parametrize("env, says", [
    ({"COMPONENTS": "no-such"}, "COMPONENTS: no component 'no-such' in k8s/components/"),
    ({"DEDICATED": "nobody"}, "DEDICATED: no workload 'nobody' in Terraform's output"),
])
def test_bad_settings_refused(tmp_path, env, says):
    done = gen(tmp_path / "o", str(FIXTURE), **env)
    assert (done.returncode, says in done.stderr) == (2, True), done.stderr
    assert not (tmp_path / "o").exists()


def test_reads_the_whole_terraform_output_from_stdin(tmp_path):
    whole = {"workloads": {"sensitive": False, "type": [], "value": json.loads(FIXTURE.read_text())}}
    done = gen(tmp_path, "-", stdin=json.dumps(whole))
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.iterdir())) == 3


def test_without_an_argument_asks_terraform(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    terraform = bin_dir / "terraform"
    terraform.write_text(f'#!/bin/sh\necho "$*" >"{tmp_path}/terraform.args"\ncat "{FIXTURE}"\n')
    terraform.chmod(0o755)
    done = gen(tmp_path / "o", PATH=f"{bin_dir}:{os.environ['PATH']}", TF_DIR="infra")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "terraform.args").read_text() == "-chdir=infra output -json workloads\n"


def test_an_overlay_whose_workload_is_gone_is_reported_not_deleted(tmp_path):
    assert gen(tmp_path, str(FIXTURE)).returncode == 0
    (tmp_path / "gone").mkdir()
    shutil.copy(tmp_path / "reports/kustomization.yaml", tmp_path / "gone/")
    done = gen(tmp_path, str(FIXTURE))
    assert "gone/ is generated but no workload 'gone'" in done.stderr
    assert (tmp_path / "gone/kustomization.yaml").exists()


@pytest.mark.parametrize("name", ["abcdef", "a" * 30])
def test_workload_names_of_6_to_30_characters(tmp_path, name):
    def edit(d):
        d[name] = d.pop("reports")
    done = gen(tmp_path / "o", str(with_workload(tmp_path, edit)))
    assert done.returncode == 0, done.stderr
    cron = one(render(tmp_path / "o" / name), "CronJob")["metadata"]["name"]
    assert len(cron) <= 52, cron


def w_edit(code: str):
    """An edit of the fixture: `w` is the 'reports' workload, `d` the whole map."""
    def edit(d):
        w = d["reports"]  # noqa: F841 (used by code)
        exec(code, {}, {"d": d, "w": w})
    return edit


@pytest.mark.parametrize("situation, code, says", [
    ("a name too long for the CronJob", "d['a-workload-name-far-too-long-xy'] = d.pop('reports')",
     "must be a DNS label of 6 to 30 characters"),
    ("a name too short", "d['short'] = d.pop('reports')", "must be a DNS label of 6 to 30 characters"),
    ("no buckets", "w['s3_buckets'] = []", "workloads['reports'].s3_buckets: missing"),
    ("a role ARN that is not one", "w['role_arn'] = 'role/reader'",
     "role_arn = 'role/reader': expected arn:aws:iam::123456789012:role/NAME"),
    ("a GSA that is not a service account", "w['gsa_email'] = 'me@gmail.com'", "workloads['reports'].gsa_email"),
    ("a newline smuggled into a bucket", "w['s3_buckets'] = ['ok\\nAWS_ROLE_ARN=evil']", "workloads['reports'].bucket"),
    ("a newline smuggled into a prefix", "w['s3_prefixes'] = ['daily/\\nGCE_METADATA_HOST=evil']",
     "workloads['reports'].prefix"),
    ("a trailing newline", "w['role_arn'] += '\\n'", "workloads['reports'].role_arn"),
    ("a namespace that is not a DNS label", "w['namespace'] = 'Team_A'", "workloads['reports'].namespace"),
    ("an unknown access", "w['access'] = 'write'", "access = 'write': expected read or list"),
    ("no access", "del w['access']", "workloads['reports'].access: missing"),
    ("no region", "del w['aws_region']", "workloads['reports'].region: missing"),
    ("an unknown identity", "w['identity'] = 'aws'", "identity = 'aws': expected gsa or cluster"),
    ("a cluster workload without issuer", "d['example-cluster']['issuer_url'] = None",
     "workloads['example-cluster'].issuer_url: missing"),
    ("a cluster workload with a GSA", "d['example-cluster']['gsa_email'] = w['gsa_email']",
     "gsa_email is set on a 'cluster' workload"),
    ("an issuer that is not https", "d['example-cluster']['issuer_url'] = 'http://x'", "issuer_url = 'http://x'"),
    ("an empty map", "d.clear()", "non-empty map"),
    ("named roles that are not a map", "w['roles'] = ['exports']", "workloads['reports'].roles: expected a map"),
    ("more than 10 named roles", "w['roles'] = dict.fromkeys([f'r{i}' for i in range(11)], w['roles']['exports'])",
     "workloads['reports'].roles: 11 named roles, at most 10"),
    ("a named role with a dot", "w['roles']['ex.ports'] = w['roles'].pop('exports')",
     "workloads['reports'].roles['ex.ports']: a role NAME is 1 to 56 letters"),
    ("a named role called default", "w['roles']['default'] = w['roles'].pop('exports')",
     "roles['default']: a role NAME is 1 to 56 letters, digits, '-' or '_', and not 'default'"),
    ("a named role name of 57 characters", "w['roles']['r' * 57] = w['roles'].pop('exports')", "a role NAME is 1 to 56"),
    ("a named role without ARN", "del w['roles']['exports']['role_arn']",
     "workloads['reports'].roles['exports'].role_arn: missing"),
    ("a named role ARN with a newline", "w['roles']['exports']['role_arn'] += '\\nAWS_PROFILE=x'",
     "workloads['reports'].roles['exports'].role_arn"),
    ("a named role in an availability zone", "w['roles']['exports']['aws_region'] = 'eu-west-1a'",
     "workloads['reports'].roles['exports'].region = 'eu-west-1a'"),
])
def test_invalid_input_fails_naming_the_field(tmp_path, situation, code, says):
    done = gen(tmp_path / "o", str(with_workload(tmp_path, w_edit(code))))
    assert (done.returncode, says in done.stderr) == (2, True), f"{situation}: {done.stderr}"
    assert not (tmp_path / "o").exists(), "nothing is written from invalid input"


def test_input_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    done = gen(tmp_path / "o", str(bad))
    assert (done.returncode, "input is not JSON" in done.stderr) == (2, True), done.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
