"""terraform/examples/demo (what `make demo` applies) on moto, with the cluster-issuer mode on:
both roles exist, trust what they should, and share the bucket. Laid out as scripts/demo.sh
lays it out: the example beside a copy of terraform/modules.

Needs on PATH: moto_server, terraform (TF_CLI_CONFIG_FILE pointing at a mirror or the
registry). Run: python tests/terraform/test_demo_example_on_moto.py
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from test_e2e_moto import Moto, log  # noqa: E402

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
ISSUER = "https://127.0.0.1:8443/v1/projects/demo-project/locations/europe-west1/clusters/demo"
UNIQUE_ID = "112233445566778899001"


class DemoExampleOnMoto(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="tf-demo-")
        cls.addClassCleanup(cls.tmp.cleanup)
        work = Path(cls.tmp.name)
        cls.moto = Moto(work, enforce=False)
        cls.addClassCleanup(cls.moto.stop)

        ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "tests")
        shutil.copytree(TERRAFORM / "modules", work / "tf" / "modules", ignore=ignore)
        demo = work / "tf" / "examples" / "demo"
        shutil.copytree(TERRAFORM / "examples" / "demo", demo, ignore=ignore)

        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", TF_IN_AUTOMATION="1")
        env.pop("AWS_ENDPOINT_URL", None)  # the example sets its endpoints itself
        for args in (["init", "-input=false"],
                     ["apply", "-auto-approve", "-input=false", f"-var=aws_endpoint={cls.moto.url}",
                      f"-var=google_service_account_unique_id={UNIQUE_ID}", f"-var=cluster_issuer_url={ISSUER}"]):
            log(f"terraform {args[0]} (examples/demo)")
            run = subprocess.run(["terraform", *args, "-no-color"], cwd=demo, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"terraform {args[0]} failed:\n{run.stdout}\n{run.stderr}")
        out = subprocess.run(["terraform", "output", "-json"], cwd=demo, env=env, capture_output=True, text=True, check=True)
        cls.outputs = {k: v["value"] for k, v in json.loads(out.stdout).items()}
        cls.iam = boto3.client("iam", endpoint_url=cls.moto.url, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")

    def test_outputs(self):
        self.assertEqual(self.outputs, {
            "role_arn": "arn:aws:iam::123456789012:role/gke-aws-demo-reader",
            "cluster_role_arn": "arn:aws:iam::123456789012:role/gke-aws-demo-cluster-reader",
            "other_role_arn": "arn:aws:iam::123456789012:role/gke-aws-demo-reader.other",
            "cluster_other_role_arn": "arn:aws:iam::123456789012:role/gke-aws-demo-cluster-reader.other",
            "oidc_provider_arn": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER.removeprefix('https://')}",
            "bucket": "gke-aws-demo-reports",
            "other_bucket": "gke-aws-demo-other-team",
            "object_count": 3,
        })

    def test_cluster_role_trusts_the_emulated_issuer_and_the_ksa(self):
        host = ISSUER.removeprefix("https://")
        doc = self.iam.get_role(RoleName="gke-aws-demo-cluster-reader")["Role"]["AssumeRolePolicyDocument"]
        self.assertEqual(doc["Statement"], [{
            "Sid": "KubernetesServiceAccounts", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"},
            "Condition": {"StringEquals": {f"{host}:sub": "system:serviceaccount:reports:reports-reader",
                                           f"{host}:aud": "sts.amazonaws.com"}},
        }])

    def test_both_roles_read_the_same_bucket_with_the_same_policy(self):
        gsa = self.iam.get_role_policy(RoleName="gke-aws-demo-reader", PolicyName="s3-read")["PolicyDocument"]
        cluster = self.iam.get_role_policy(RoleName="gke-aws-demo-cluster-reader", PolicyName="s3-read")["PolicyDocument"]
        self.assertEqual(cluster, gsa)
        self.assertEqual(gsa["Statement"][1]["Resource"], "arn:aws:s3:::gke-aws-demo-reports/*")

    def test_named_roles_trust_the_same_identity_and_read_only_the_other_bucket(self):
        for default, named in (("gke-aws-demo-reader", "gke-aws-demo-reader.other"),
                               ("gke-aws-demo-cluster-reader", "gke-aws-demo-cluster-reader.other")):
            trust = {n: self.iam.get_role(RoleName=n)["Role"]["AssumeRolePolicyDocument"] for n in (default, named)}
            self.assertEqual(trust[named], trust[default], named)
            doc = self.iam.get_role_policy(RoleName=named, PolicyName="s3-read")["PolicyDocument"]
            self.assertEqual([s["Resource"] for s in doc["Statement"]],
                             ["arn:aws:s3:::gke-aws-demo-other-team", "arn:aws:s3:::gke-aws-demo-other-team/*"], named)


if __name__ == "__main__":
    unittest.main(verbosity=2)
