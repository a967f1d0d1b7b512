"""The AWS provider floor: aws_iam_openid_connect_provider's thumbprint_list is optional only
from hashicorp/aws 5.81.0, and modules/aws-gke-oidc-provider leaves it unset. Every
configuration that creates the provider (itself or through a local module) must say so in
its required_providers, so that `terraform init` never locks an older 5.x that cannot plan it.

Run: python tests/terraform/test_provider_floor.py
"""

import re
import sys
import unittest
from pathlib import Path

import hcl2

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
FLOOR = (5, 81)


def first(value):
    """python-hcl2 wraps attribute values (and blocks) in one-element lists."""
    return value[0] if isinstance(value, list) and value else value


def configurations() -> list[Path]:
    return sorted({tf.parent for tf in TERRAFORM.rglob("*.tf") if ".terraform" not in tf.parts})


def parsed(config: Path) -> list[dict]:
    return [hcl2.loads(tf.read_text()) for tf in sorted(config.glob("*.tf"))]


def creates_oidc_provider(config: Path, seen: frozenset = frozenset()) -> bool:
    """Whether CONFIG, or a local module it calls, declares aws_iam_openid_connect_provider."""
    for body in parsed(config):
        for resource in body.get("resource", []):
            if "aws_iam_openid_connect_provider" in resource:
                return True
        for call in body.get("module", []):
            for spec in call.values():
                source = first(spec.get("source", ""))
                if source.startswith("."):
                    child = (config / source).resolve()
                    if child not in seen and creates_oidc_provider(child, seen | {child}):
                        return True
    return False


def aws_lower_bound(config: Path) -> tuple[int, int] | None:
    for body in parsed(config):
        for block in body.get("terraform", []):
            for providers in block.get("required_providers", []):
                aws = first(providers.get("aws"))
                if aws:
                    found = re.search(r">=\s*([0-9]+)\.([0-9]+)", first(aws.get("version", "")))
                    return (int(found[1]), int(found[2])) if found else None
    return None


class ProviderFloor(unittest.TestCase):
    def test_every_configuration_with_an_oidc_provider_requires_5_81(self):
        checked = [c for c in configurations() if creates_oidc_provider(c)]
        self.assertIn(TERRAFORM, checked)
        self.assertIn(TERRAFORM / "modules" / "aws-gke-oidc-provider", checked)
        for config in checked:
            bound = aws_lower_bound(config)
            self.assertIsNotNone(bound, f"{config}: no hashicorp/aws lower bound")
            self.assertGreaterEqual(bound, FLOOR, f"{config}: hashicorp/aws >= {bound[0]}.{bound[1]}, needs >= 5.81")


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
