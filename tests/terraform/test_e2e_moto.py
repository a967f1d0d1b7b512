"""End to end: apply modules/aws-workload-role in both identity modes (GSA mode, and the
cluster-issuer pair aws-gke-oidc-provider + identity = "cluster") to moto with IAM enforcement on, assume the
roles with a (fake) Google ID token, and prove what the roles can and cannot do in S3.

moto checks signatures and evaluates identity policies once INITIAL_NO_AUTH_ACTION_COUNT
calls have passed. It does not evaluate trust policies for web identity, nor the
s3:prefix condition (it ignores StringLike), so those are asserted at plan level in
modules/aws-workload-role/tests/plan.tftest.hcl; here we prove the S3 permission side.

Needs on PATH: moto_server, terraform (with TF_CLI_CONFIG_FILE pointing at a mirror or
the registry). Run: python tests/terraform/test_e2e_moto.py
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

MODULES = Path(__file__).resolve().parents[2] / "terraform" / "modules"
UNIQUE_ID = "112233445566778899001"
# moto accepts any string as a web identity token; a JWT-shaped one keeps it honest.
FAKE_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJzdHMuYW1hem9uYXdzLmNvbSJ9.c2ln"
# Calls moto lets through unauthenticated: exactly the three that make the admin below.
BOOTSTRAP_CALLS = 3

CONFIG = """
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "{access_key}"
  secret_key                  = "{secret_key}"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
}}

module "reader" {{
  source                           = "{modules}/aws-workload-role"
  role_name                        = "e2e-reader"
  google_service_account_unique_id = "{unique_id}"
  s3_bucket_arns                   = ["arn:aws:s3:::reports"]
  s3_prefixes                      = ["daily/"]
  access                           = "read"
}}

module "lister" {{
  source                           = "{modules}/aws-workload-role"
  role_name                        = "e2e-lister"
  google_service_account_unique_id = "{unique_id}"
  s3_bucket_arns                   = ["arn:aws:s3:::reports"]
  access                           = "list"
}}

# Cluster-issuer mode: the same S3 permissions (one shared module), another trust.
module "cluster_issuer" {{
  source       = "{modules}/aws-gke-oidc-provider"
  project_id   = "my-project-123"
  location     = "europe-west1"
  cluster_name = "apps"
}}

module "cluster_reader" {{
  source                      = "{modules}/aws-workload-role"
  identity                    = "cluster"
  role_name                   = "e2e-cluster-reader"
  oidc_provider_arn           = module.cluster_issuer.arn
  issuer_host_path            = module.cluster_issuer.issuer_host_path
  kubernetes_service_accounts = [{{ namespace = "payments", name = "ledger" }}]
  s3_bucket_arns              = ["arn:aws:s3:::reports"]
  s3_prefixes                 = ["daily/"]
}}

output "reader_role_arn" {{ value = module.reader.role_arn }}
output "cluster_reader_role_arn" {{ value = module.cluster_reader.role_arn }}
output "lister_role_arn" {{ value = module.lister.role_arn }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"e2e: {msg}", file=sys.stderr, flush=True)


class Moto:
    """moto_server on a free loopback port; with enforce, IAM enforcement after BOOTSTRAP_CALLS calls."""

    def __init__(self, workdir: Path, enforce: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "moto.log"
        env = dict(os.environ)
        if enforce:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(BOOTSTRAP_CALLS)
        self.log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            ["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 30
        while True:  # readiness: poll the HTTP endpoint (the moto-api does not count as a call)
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server not ready after 30 s")
                time.sleep(0.1)
        log(f"moto_server ready on {self.url}")

    def allow_unauthenticated(self, calls: int) -> None:
        """Let the next `calls` calls through unsigned; moto answers unsigned STS with a 500 otherwise."""
        # text/plain: with urllib's default form content type Flask swallows the body.
        req = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=str(calls).encode(),
                                     headers={"Content-Type": "text/plain"}, method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    def client(self, service: str, **creds):
        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}), **creds,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()


def error_code(call) -> str:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "no error"


class FederatedRoleOnMoto(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="tf-e2e-")
        work = Path(cls.tmp.name)
        cls.moto = Moto(work)
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.addClassCleanup(cls.moto.stop)

        # The BOOTSTRAP_CALLS unauthenticated calls: an admin user and its key.
        fake = dict(aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam = cls.moto.client("iam", **fake)
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        cls.admin = dict(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        cls.bootstrap_creds = fake

        s3 = cls.moto.client("s3", **cls.admin)
        for bucket in ("reports", "other"):
            s3.create_bucket(Bucket=bucket)
        for bucket, key_name in (("reports", "daily/a.txt"), ("reports", "secret/b.txt"), ("other", "x.txt")):
            s3.put_object(Bucket=bucket, Key=key_name, Body=b"data")

        # A relative source: an absolute path would make each module its own package, and
        # their "../aws-s3-access-policy" calls would escape it.
        (work / "main.tf").write_text(CONFIG.format(
            modules=os.path.relpath(MODULES, work), unique_id=UNIQUE_ID,
            access_key=cls.admin["aws_access_key_id"], secret_key=cls.admin["aws_secret_access_key"]))
        env = dict(os.environ, AWS_ENDPOINT_URL=cls.moto.url, TF_IN_AUTOMATION="1")
        for args in (["init", "-backend=false", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            log(f"terraform {' '.join(args)}")
            run = subprocess.run(["terraform", *args, "-no-color"], cwd=work, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"terraform {args[0]} failed:\n{run.stdout}\n{run.stderr}\nmoto log:\n{cls.moto.log_path.read_text()[-3000:]}")
        outputs = json.loads(subprocess.run(
            ["terraform", "output", "-json"], cwd=work, env=env, capture_output=True, text=True, check=True).stdout)

        cls.reader = cls.assume(outputs["reader_role_arn"]["value"])
        cls.lister = cls.assume(outputs["lister_role_arn"]["value"])
        cls.cluster_reader = cls.assume(outputs["cluster_reader_role_arn"]["value"])

    @classmethod
    def assume(cls, role_arn: str) -> dict:
        cls.moto.allow_unauthenticated(1)  # AssumeRoleWithWebIdentity is unsigned, as in real AWS
        creds = cls.moto.client("sts", **cls.bootstrap_creds).assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="e2e", WebIdentityToken=FAKE_ID_TOKEN)["Credentials"]
        log(f"assumed {role_arn}")
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    def s3(self, creds):
        return self.moto.client("s3", **creds)

    # --- what IAM stored, read back (the provider keeps its own JSON in state) ---

    def stored_policy(self, role: str, name: str) -> dict:
        doc = self.moto.client("iam", **self.admin).get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        return json.loads(doc) if isinstance(doc, str) else doc

    def test_reader_inline_policy_is_exactly_list_and_get_under_the_prefix(self):
        self.assertEqual(self.stored_policy("e2e-reader", "s3-read"), {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListBuckets", "Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": "arn:aws:s3:::reports", "Condition": {"StringLike": {"s3:prefix": "daily/*"}}},
                {"Sid": "GetObjects", "Effect": "Allow", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::reports/daily/*"},
            ],
        })

    def test_lister_inline_policy_is_exactly_list(self):
        self.assertEqual(self.stored_policy("e2e-lister", "s3-list"), {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListBuckets", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::reports"},
            ],
        })

    def test_cluster_reader_inline_policy_is_the_shared_read_policy(self):
        self.assertEqual(self.stored_policy("e2e-cluster-reader", "s3-read"),
                         self.stored_policy("e2e-reader", "s3-read"))

    def test_roles_have_no_other_inline_or_attached_policy(self):
        iam = self.moto.client("iam", **self.admin)
        for role, policy in (("e2e-reader", "s3-read"), ("e2e-lister", "s3-list"), ("e2e-cluster-reader", "s3-read")):
            self.assertEqual(iam.list_role_policies(RoleName=role)["PolicyNames"], [policy])
            self.assertEqual(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], [])

    # --- enforcement is really on ---

    def test_enforcement_rejects_unknown_keys(self):
        fake = dict(aws_access_key_id="AKIANOTAREALKEY00000", aws_secret_access_key="x")
        self.assertEqual(error_code(lambda: self.s3(fake).list_buckets()), "InvalidAccessKeyId")

    def test_the_role_session_is_the_assumed_role(self):
        arn = self.moto.client("sts", **self.reader).get_caller_identity()["Arn"]
        self.assertRegex(arn, r":assumed-role/e2e-reader/e2e$")

    # --- read access ---

    def test_reader_can_list_its_bucket_prefix(self):
        keys = [o["Key"] for o in self.s3(self.reader).list_objects_v2(Bucket="reports", Prefix="daily/")["Contents"]]
        self.assertEqual(keys, ["daily/a.txt"])

    def test_reader_can_get_an_object_under_its_prefix(self):
        self.assertEqual(self.s3(self.reader).get_object(Bucket="reports", Key="daily/a.txt")["Body"].read(), b"data")

    def test_reader_cannot_get_an_object_outside_its_prefix(self):
        self.assertEqual(error_code(lambda: self.s3(self.reader).get_object(Bucket="reports", Key="secret/b.txt")), "AccessDenied")

    def test_reader_cannot_list_another_bucket(self):
        self.assertEqual(error_code(lambda: self.s3(self.reader).list_objects_v2(Bucket="other")), "AccessDenied")

    def test_reader_cannot_write(self):
        self.assertEqual(error_code(lambda: self.s3(self.reader).put_object(Bucket="reports", Key="daily/new.txt", Body=b"x")), "AccessDenied")

    def test_reader_cannot_list_all_buckets(self):
        self.assertEqual(error_code(lambda: self.s3(self.reader).list_buckets()), "AccessDenied")

    # --- cluster-issuer mode: same permissions ---

    def test_cluster_reader_can_get_under_its_prefix_only(self):
        s3 = self.s3(self.cluster_reader)
        self.assertEqual(s3.get_object(Bucket="reports", Key="daily/a.txt")["Body"].read(), b"data")
        self.assertEqual(error_code(lambda: s3.get_object(Bucket="reports", Key="secret/b.txt")), "AccessDenied")
        self.assertEqual(error_code(lambda: s3.put_object(Bucket="reports", Key="daily/n.txt", Body=b"x")), "AccessDenied")
        self.assertEqual(error_code(lambda: s3.list_objects_v2(Bucket="other")), "AccessDenied")

    # --- list access ---

    def test_lister_can_list_its_bucket(self):
        keys = [o["Key"] for o in self.s3(self.lister).list_objects_v2(Bucket="reports")["Contents"]]
        self.assertEqual(keys, ["daily/a.txt", "secret/b.txt"])

    def test_lister_cannot_get_objects(self):
        self.assertEqual(error_code(lambda: self.s3(self.lister).get_object(Bucket="reports", Key="daily/a.txt")), "AccessDenied")

    def test_lister_cannot_list_another_bucket(self):
        self.assertEqual(error_code(lambda: self.s3(self.lister).list_objects_v2(Bucket="other")), "AccessDenied")

    def test_lister_cannot_write(self):
        self.assertEqual(error_code(lambda: self.s3(self.lister).put_object(Bucket="reports", Key="x.txt", Body=b"x")), "AccessDenied")

    def test_lister_cannot_list_all_buckets(self):
        self.assertEqual(error_code(lambda: self.s3(self.lister).list_buckets()), "AccessDenied")


if __name__ == "__main__":
    unittest.main(verbosity=2)
