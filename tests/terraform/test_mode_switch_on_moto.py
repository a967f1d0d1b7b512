"""Switching a workload's identity mode, and state from before the one role module, on moto.

The root configuration (google modules replaced by stand-ins, terraform.tfvars.example as
is) is applied once; then:
- the workload reports-reader (a default role and the named role "exports") switches from
  GSA mode to cluster mode in ONE apply: no error (no CreateRole of a name that still
  exists), the same role ARNs, trust policies that pin its KSA; then back to GSA mode, the
  same again. After each apply a plan is empty;
- state laid out as before (a cluster-mode role at module.aws_cluster_role[NAME]) plans as a
  move to module.aws_role[NAME] with nothing created, replaced or destroyed.

Needs on PATH: moto_server, terraform (TF_CLI_CONFIG_FILE pointing at a mirror or the
registry). Run: python tests/terraform/test_mode_switch_on_moto.py
"""

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from test_e2e_moto import Moto  # noqa: E402
from test_root_on_moto import ISSUER, moto_env, root_with_google_stubs, stub_unique_id, terraform  # noqa: E402

HOST = ISSUER.removeprefix("https://")
ROLES = ("gke-reports-reader", "gke-reports-reader.exports")
GSA_LINE = '    ksa            = "reports-reader"\n'


class ModeSwitchOnMoto(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="tf-switch-")
        cls.addClassCleanup(cls.tmp.cleanup)
        work = Path(cls.tmp.name)
        cls.moto = Moto(work, enforce=False)
        cls.addClassCleanup(cls.moto.stop)
        cls.root = root_with_google_stubs(work)
        cls.env = moto_env(cls.moto)
        cls.tfvars = cls.root / "terraform.tfvars"
        cls.gsa_tfvars = cls.tfvars.read_text()
        if cls.gsa_tfvars.count(GSA_LINE) != 1:
            raise AssertionError("terraform.tfvars.example changed: update GSA_LINE in this test")
        terraform(cls.root, cls.env, "init", "-backend=false", "-input=false")
        terraform(cls.root, cls.env, "apply", "-auto-approve", "-input=false")
        cls.iam = boto3.client("iam", endpoint_url=cls.moto.url, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")

    def role(self, name: str) -> dict:
        return self.iam.get_role(RoleName=name)["Role"]

    def assert_plan_is_empty(self):
        plan = subprocess.run(["terraform", "plan", "-detailed-exitcode", "-input=false", "-no-color"],
                              cwd=self.root, env=self.env, capture_output=True, text=True)
        self.assertEqual(plan.returncode, 0, f"the apply did not converge:\n{plan.stdout}\n{plan.stderr}")

    def test_switch_to_cluster_mode_and_back_in_one_apply_each(self):
        arns = {name: self.role(name)["Arn"] for name in ROLES}

        self.tfvars.write_text(self.gsa_tfvars.replace(GSA_LINE, GSA_LINE + '    identity       = "cluster"\n'))
        terraform(self.root, self.env, "apply", "-auto-approve", "-input=false")
        for name in ROLES:
            role = self.role(name)
            self.assertEqual(role["Arn"], arns[name], name)
            self.assertEqual(role["AssumeRolePolicyDocument"]["Statement"], [{
                "Sid": "KubernetesServiceAccounts", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{HOST}"},
                "Condition": {"StringEquals": {f"{HOST}:sub": "system:serviceaccount:reports:reports-reader",
                                               f"{HOST}:aud": "sts.amazonaws.com"}},
            }], name)
        self.assert_plan_is_empty()

        self.tfvars.write_text(self.gsa_tfvars)
        terraform(self.root, self.env, "apply", "-auto-approve", "-input=false")
        unique_id = stub_unique_id("reports-reader")
        for name in ROLES:
            role = self.role(name)
            self.assertEqual(role["Arn"], arns[name], name)
            self.assertEqual(role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"], {"StringEquals": {
                "accounts.google.com:aud": unique_id, "accounts.google.com:sub": unique_id,
                "accounts.google.com:oaud": "sts.amazonaws.com"}}, name)
        self.assert_plan_is_empty()

    def test_state_from_the_two_role_modules_moves_without_replacing_anything(self):
        # The layout before the one role module: cluster-mode roles lived in their own module call.
        old, new = 'module.aws_cluster_role["ledger-exporter"]', 'module.aws_role["ledger-exporter"]'
        terraform(self.root, self.env, "state", "mv", new, old)
        arn = self.role("gke-ledger-exporter")["Arn"]
        terraform(self.root, self.env, "plan", "-input=false", "-out=moved.tfplan")
        show = terraform(self.root, self.env, "show", "-json", "moved.tfplan")
        changes = json.loads(show.stdout)["resource_changes"]
        moved = {c["address"]: c["previous_address"] for c in changes if c.get("previous_address")}
        self.assertEqual(moved, {
            f"{new}.aws_iam_role.this[0]": f"{old}.aws_iam_role.this[0]",
            f"{new}.aws_iam_role_policy.s3[0]": f"{old}.aws_iam_role_policy.s3[0]",
        })
        self.assertEqual([(c["address"], c["change"]["actions"]) for c in changes if c["change"]["actions"] != ["no-op"]],
                         [], "a moved role must be neither created, replaced, updated nor destroyed")
        terraform(self.root, self.env, "apply", "-input=false", "moved.tfplan")
        self.assertEqual(self.role("gke-ledger-exporter")["Arn"], arn)
        self.assert_plan_is_empty()


if __name__ == "__main__":
    unittest.main(verbosity=2)
