"""The root configuration (terraform/), applied to moto with the google modules replaced by
stand-ins (fixtures/google-stubs: the google provider is not in the offline mirror), using
terraform.tfvars.example as is. Proves the wiring the module tests cannot: both identity
modes side by side, one OIDC provider, per-workload regions, and the exact `workloads`
output the Kubernetes side reads, with the role ARNs moto really created.

Needs on PATH: moto_server, terraform (TF_CLI_CONFIG_FILE pointing at a mirror or the
registry). Run: python tests/terraform/test_root_on_moto.py
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from test_e2e_moto import Moto, log  # noqa: E402

HERE = Path(__file__).resolve().parent
TERRAFORM = HERE.parents[1] / "terraform"
STUBS = HERE / "fixtures" / "google-stubs"
ISSUER = "https://container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"


def without_google(text: str, pattern: str, what: str) -> str:
    """Removes one google block; fails loudly if the file no longer has exactly one."""
    new, count = re.subn(pattern, "", text, flags=re.S)
    if count != 1:
        raise AssertionError(f"expected one {what} to remove, found {count}: update this test")
    return new


def stub_unique_id(account_id: str) -> str:
    import hashlib
    return f"{int(hashlib.sha1(account_id.encode()).hexdigest()[:12], 16):021d}"


def root_with_google_stubs(work: Path) -> Path:
    """A copy of terraform/ in WORK with the google modules replaced by stand-ins and
    terraform.tfvars.example as terraform.tfvars; returns its path."""
    root = work / "terraform"
    shutil.copytree(TERRAFORM, root, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "terraform.tfvars"))
    for stub in STUBS.iterdir():
        if stub.is_dir():
            module = root / "modules" / stub.name
            for tf in module.glob("*.tf"):
                if tf.name != "variables.tf":
                    tf.unlink()
            for tf in stub.glob("*.tf"):
                shutil.copy(tf, module / tf.name)
    main = root / "main.tf"
    main.write_text(without_google(main.read_text(), r'provider "google" \{.*?\n\}\n', 'provider "google" block'))
    versions = root / "versions.tf"
    versions.write_text(without_google(versions.read_text(), r'\n    google = \{.*?\n    \}', "google required_provider"))
    shutil.copy(root / "terraform.tfvars.example", root / "terraform.tfvars")
    return root


def verifier_binary() -> Path:
    """The optimised verifier `make release-test` builds (CARGO_TARGET_DIR honoured); missing is a failure."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or HERE.parents[1] / "target")
    binary = target / "release-test" / "gke-aws-verifier"
    if not binary.is_file():
        raise AssertionError(f"{binary} is missing: run make release-test first")
    return binary


def moto_env(moto: Moto) -> dict:
    env = dict(os.environ, AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               TF_IN_AUTOMATION="1")
    env.pop("AWS_PROFILE", None)
    return env


def terraform(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """Runs terraform in ROOT; raises with its output when it fails."""
    log(f"terraform {' '.join(args)} ({root.name})")
    run = subprocess.run(["terraform", *args, "-no-color"], cwd=root, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"terraform {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")
    return run


class RootOnMoto(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="tf-root-")
        cls.addClassCleanup(cls.tmp.cleanup)
        work = Path(cls.tmp.name)
        cls.moto = Moto(work, enforce=False)
        cls.addClassCleanup(cls.moto.stop)
        root = root_with_google_stubs(work)
        env = moto_env(cls.moto)
        terraform(root, env, "init", "-backend=false", "-input=false")
        terraform(root, env, "apply", "-auto-approve", "-input=false")
        out = subprocess.run(["terraform", "output", "-json"], cwd=root, env=env, capture_output=True, text=True, check=True)
        cls.outputs = json.loads(out.stdout)
        show = subprocess.run(["terraform", "show", "-json"], cwd=root, env=env, capture_output=True, text=True, check=True)
        cls.state_json = show.stdout
        cls.state = json.loads(show.stdout)["values"]["root_module"]
        cls.root, cls.env = root, env
        cls.iam = boto3.client("iam", endpoint_url=cls.moto.url, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")

    def test_workloads_output_is_exactly_what_the_kubernetes_side_reads(self):
        reports = "reports-reader@my-project-123.iam.gserviceaccount.com"
        archive = "archive-lister@my-project-123.iam.gserviceaccount.com"
        self.assertEqual(self.outputs["workloads"]["value"], {
            "reports-reader": {
                "identity": "gsa", "namespace": "reports", "ksa": "reports-reader",
                "gsa_email": reports, "gsa_unique_id": stub_unique_id("reports-reader"),
                "ksa_annotation": {"iam.gke.io/gcp-service-account": reports},
                "role_arn": "arn:aws:iam::123456789012:role/gke-reports-reader",
                "audience": "sts.amazonaws.com", "aws_region": "eu-west-1", "access": "read",
                "s3_buckets": ["acme-reports"], "s3_prefixes": ["daily/"], "issuer_url": None,
                "roles": {"exports": {
                    "role_arn": "arn:aws:iam::123456789012:role/gke-reports-reader.exports",
                    "role_name": "gke-reports-reader.exports", "aws_region": "us-east-1", "access": "read",
                    "s3_buckets": ["acme-exports"], "s3_prefixes": ["reports/"],
                }},
            },
            "archive-lister": {
                "identity": "gsa", "namespace": "archive", "ksa": "lister",
                "gsa_email": archive, "gsa_unique_id": stub_unique_id("archive-lister"),
                "ksa_annotation": {"iam.gke.io/gcp-service-account": archive},
                "role_arn": "arn:aws:iam::123456789012:role/gke-archive-lister",
                "audience": "sts.amazonaws.com", "aws_region": "us-east-1", "access": "list",
                "s3_buckets": ["acme-archive", "acme-archive-eu"], "s3_prefixes": [], "issuer_url": None,
                "roles": {},
            },
            "ledger-exporter": {
                "identity": "cluster", "namespace": "payments", "ksa": "ledger",
                "gsa_email": None, "gsa_unique_id": None, "ksa_annotation": {},
                "role_arn": "arn:aws:iam::123456789012:role/gke-ledger-exporter",
                "audience": "sts.amazonaws.com", "aws_region": "eu-west-1", "access": "read",
                "s3_buckets": ["acme-ledger"], "s3_prefixes": [], "issuer_url": ISSUER,
                "roles": {"audit-log": {
                    "role_arn": "arn:aws:iam::123456789012:role/gke-ledger-exporter.audit-log",
                    "role_name": "gke-ledger-exporter.audit-log", "aws_region": "eu-west-1", "access": "list",
                    "s3_buckets": ["acme-audit-log"], "s3_prefixes": [],
                }},
            },
        })

    def test_one_oidc_provider_for_the_cluster_issuer(self):
        providers = self.iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        self.assertEqual([p["Arn"] for p in providers], [self.outputs["oidc_provider_arn"]["value"]])
        self.assertEqual(self.outputs["oidc_provider_arn"]["value"],
                         "arn:aws:iam::123456789012:oidc-provider/" + ISSUER.removeprefix("https://"))

    def test_gsa_role_trusts_its_service_account_and_cluster_role_its_ksa(self):
        gsa = self.iam.get_role(RoleName="gke-reports-reader")["Role"]["AssumeRolePolicyDocument"]
        self.assertEqual(gsa["Statement"][0]["Condition"]["StringEquals"]["accounts.google.com:sub"], stub_unique_id("reports-reader"))
        cluster = self.iam.get_role(RoleName="gke-ledger-exporter")["Role"]["AssumeRolePolicyDocument"]
        host = ISSUER.removeprefix("https://")
        self.assertEqual(cluster["Statement"][0]["Condition"]["StringEquals"],
                         {f"{host}:sub": "system:serviceaccount:payments:ledger", f"{host}:aud": "sts.amazonaws.com"})

    def test_named_roles_trust_the_same_identity_as_the_default_role(self):
        for default, named in (("gke-reports-reader", "gke-reports-reader.exports"),
                               ("gke-ledger-exporter", "gke-ledger-exporter.audit-log")):
            trust = {name: self.iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]["Statement"]
                     for name in (default, named)}
            self.assertEqual(trust[named], trust[default], named)
        doc = self.iam.get_role_policy(RoleName="gke-reports-reader.exports", PolicyName="s3-read")["PolicyDocument"]
        self.assertEqual(doc["Statement"][1]["Resource"], "arn:aws:s3:::acme-exports/reports/*")
        tags = {t["Key"]: t["Value"] for t in self.iam.list_role_tags(RoleName="gke-ledger-exporter.audit-log")["Tags"]}
        self.assertEqual(tags, {"gke-workload": "payments/ledger", "gke-workload-role": "audit-log"})

    def test_kms_key_of_the_cluster_workload_is_decryptable_through_s3_only(self):
        doc = self.iam.get_role_policy(RoleName="gke-ledger-exporter", PolicyName="s3-read")["PolicyDocument"]
        self.assertEqual(doc["Statement"][-1], {
            "Sid": "DecryptViaS3EuWest1", "Effect": "Allow", "Action": "kms:Decrypt",
            "Resource": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        })

    def test_roles_are_tagged_with_their_ksa(self):
        tags = {t["Key"]: t["Value"] for t in self.iam.list_role_tags(RoleName="gke-archive-lister")["Tags"]}
        self.assertEqual(tags, {"gke-workload": "archive/lister"})

    def stub_input(self, module_values: dict, module: str, resource: str):
        for child in module_values.get("child_modules", []):
            if child["address"] == module:
                for r in child.get("resources", []):
                    if r["address"] == f"{module}.{resource}":
                        return r["values"]["input"]
        self.fail(f"{module}.{resource} not in the state or plan")

    def test_gsa_workloads_enable_the_iam_apis(self):
        self.assertEqual(self.stub_input(self.state, "module.project_services", "terraform_data.services"),
                         ["container.googleapis.com", "iam.googleapis.com", "iamcredentials.googleapis.com"])
        self.assertEqual(self.stub_input(self.state, "module.workload_pool[0]", "terraform_data.inputs"),
                         {"create": False, "network": None, "subnetwork": None})

    def test_cluster_only_workloads_need_no_pool_no_gsa_and_no_iam_api(self):
        workloads = {"ledger-exporter": {"namespace": "payments", "ksa": "ledger", "identity": "cluster",
                                         "s3_bucket_arns": ["arn:aws:s3:::acme-ledger"]}}
        plan = subprocess.run(["terraform", "plan", "-input=false", "-no-color", "-out=cluster-only.tfplan",
                               f"-var=workloads={json.dumps(workloads)}"],
                              cwd=self.root, env=self.env, capture_output=True, text=True)
        self.assertEqual(plan.returncode, 0, plan.stdout + plan.stderr)
        show = subprocess.run(["terraform", "show", "-json", "cluster-only.tfplan"], cwd=self.root, env=self.env,
                              capture_output=True, text=True, check=True)
        planned = json.loads(show.stdout)["planned_values"]["root_module"]
        modules = sorted(c["address"] for c in planned.get("child_modules", []))
        self.assertEqual(modules, ["module.aws_role[\"ledger-exporter\"]", "module.cluster_issuer[0]",
                                   "module.project_services"])
        self.assertEqual(self.stub_input(planned, "module.project_services", "terraform_data.services"),
                         ["container.googleapis.com"])

    def explain(self, claims: dict, trust_file: Path, role: str) -> subprocess.CompletedProcess:
        """`gke-aws-verifier explain` offline: claims from a fixture, the trust from Terraform's JSON."""
        fixture = Path(self.tmp.name) / "claims.json"
        fixture.write_text(json.dumps(claims))
        return subprocess.run([str(verifier_binary()), "explain", "--token-claims", str(fixture),
                               "--trust-policy", str(trust_file), "--role-arn",
                               f"arn:aws:iam::123456789012:role/{role}", "--format", "json"],
                              capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=60)

    def test_explain_preflights_the_pods_tokens_from_terraforms_state_and_plan(self):
        """The CI pre-flight: before a change is applied, prove from `terraform show -json` of its
        plan (and of the state) that each mode's pod token will be accepted, and a wrong KSA
        refused. A first plan is another matter: see the test after this one."""
        work = Path(self.tmp.name)
        state = work / "state.json"
        state.write_text(self.state_json)
        terraform(self.root, self.env, "plan", "-input=false", "-out=again.tfplan")
        plan = work / "plan.json"
        plan.write_text(subprocess.run(["terraform", "show", "-json", "again.tfplan"], cwd=self.root, env=self.env,
                                       capture_output=True, text=True, check=True).stdout)
        google_id = stub_unique_id("reports-reader")
        gsa_token = {"iss": "https://accounts.google.com", "aud": "sts.amazonaws.com", "azp": google_id, "sub": google_id}
        ksa_token = {"iss": ISSUER, "aud": "sts.amazonaws.com", "sub": "system:serviceaccount:payments:ledger"}
        for trust in (state, plan):
            for claims, role in ((gsa_token, "gke-reports-reader"), (gsa_token, "gke-reports-reader.exports"),
                                 (ksa_token, "gke-ledger-exporter"), (ksa_token, "gke-ledger-exporter.audit-log")):
                run = self.explain(claims, trust, role)
                self.assertEqual(run.returncode, 0, f"{trust.name} {role}: {run.stdout}{run.stderr}")
                report = json.loads(run.stdout)
                self.assertEqual(report["verdict"], "accept", report)
            # The provider comes from the same JSON: registered, with the audience among its client ids.
            self.assertIn("oidc-provider", self.explain(ksa_token, trust, "gke-ledger-exporter").stdout)
            wrong = dict(ksa_token, sub="system:serviceaccount:payment:ledger")
            run = self.explain(wrong, trust, "gke-ledger-exporter")
            self.assertEqual(run.returncode, 4, run.stdout + run.stderr)
            self.assertIn("system:serviceaccount:payments:ledger", run.stdout)

    def test_explain_says_a_first_plans_trust_policy_is_known_only_at_apply(self):
        """Before the first apply the trust policies wait for the GSA's unique id and the OIDC
        provider's ARN: explain says so (bad input, naming the remedy), never guesses."""
        fresh = root_with_google_stubs(Path(self.tmp.name) / "fresh")
        terraform(fresh, self.env, "init", "-backend=false", "-input=false")
        terraform(fresh, self.env, "plan", "-input=false", "-out=first.tfplan")
        plan = Path(self.tmp.name) / "first-plan.json"
        plan.write_text(subprocess.run(["terraform", "show", "-json", "first.tfplan"], cwd=fresh, env=self.env,
                                       capture_output=True, text=True, check=True).stdout)
        claims = {"iss": ISSUER, "aud": "sts.amazonaws.com", "sub": "system:serviceaccount:payments:ledger"}
        run = self.explain(claims, plan, "gke-ledger-exporter")
        self.assertEqual(run.returncode, 2, run.stdout + run.stderr)
        self.assertIn("not known in this plan", run.stdout + run.stderr)

    def test_workload_pool_output(self):
        self.assertEqual(self.outputs["workload_pool"]["value"], "my-project-123.svc.id.goog")


if __name__ == "__main__":
    unittest.main(verbosity=2)
