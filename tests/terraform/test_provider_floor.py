"""The AWS provider floors. Every configuration (root, modules, examples) that uses a feature of
hashicorp/aws, itself or through a local module it calls, must require at least the release that
introduced it in its required_providers, so that `terraform init` never locks an older 5.x that
cannot plan it. Where several apply, the highest wins.

- aws_iam_openid_connect_provider's thumbprint_list is optional only from 5.81.0, and
  modules/aws-gke-oidc-provider leaves it unset.
- aws_iam_policy_document's minified_json attribute exists only from 5.49.0 (#35677), and the
  size checks of modules/aws-workload-role and modules/aws-s3-access-policy read it.

Run: python tests/terraform/test_provider_floor.py
"""

import re
import sys
import unittest
from pathlib import Path

import hcl2

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
OIDC_FLOOR = (5, 81)
MINIFIED_JSON_FLOOR = (5, 49)
MINIFIED_JSON = re.compile(r"\bdata\.aws_iam_policy_document\.[A-Za-z0-9_-]+(\[[^\]]*\])?\.minified_json\b")


def first(value):
    """python-hcl2 wraps attribute values (and blocks) in one-element lists."""
    return value[0] if isinstance(value, list) and value else value


def configurations() -> list[Path]:
    return sorted({tf.parent for tf in TERRAFORM.rglob("*.tf") if ".terraform" not in tf.parts})


def parsed(config: Path) -> list[dict]:
    return [hcl2.loads(tf.read_text()) for tf in sorted(config.glob("*.tf"))]


def local_modules(config: Path) -> list[Path]:
    """The folders of the local modules CONFIG calls (source starting with '.')."""
    found = []
    for body in parsed(config):
        for call in body.get("module", []):
            for spec in call.values():
                source = first(spec.get("source", ""))
                if source.startswith("."):
                    found.append((config / source).resolve())
    return found


def uses(config: Path, direct, seen: frozenset = frozenset()) -> bool:
    """Whether direct(CONFIG), or direct() of a local module it calls (at any depth), holds."""
    if direct(config):
        return True
    return any(
        child not in seen and uses(child, direct, seen | {child}) for child in local_modules(config)
    )


def declares_oidc_provider(config: Path) -> bool:
    return any(
        "aws_iam_openid_connect_provider" in resource
        for body in parsed(config)
        for resource in body.get("resource", [])
    )


def reads_minified_json(config: Path) -> bool:
    """Source text, not the parse: python-hcl2 keeps references as strings anyway, and a
    text match also sees them inside locals, outputs, preconditions and validations."""
    return any(MINIFIED_JSON.search(tf.read_text()) for tf in sorted(config.glob("*.tf")))


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
    def check_floor(self, checked: list[Path], floor: tuple[int, int], why: str):
        for config in checked:
            bound = aws_lower_bound(config)
            self.assertIsNotNone(bound, f"{config}: no hashicorp/aws lower bound ({why})")
            self.assertGreaterEqual(
                bound, floor,
                f"{config}: hashicorp/aws >= {bound[0]}.{bound[1]}, needs >= {floor[0]}.{floor[1]} ({why})",
            )

    def test_every_configuration_with_an_oidc_provider_requires_5_81(self):
        checked = [c for c in configurations() if uses(c, declares_oidc_provider)]
        self.assertIn(TERRAFORM, checked)
        self.assertIn(TERRAFORM / "modules" / "aws-gke-oidc-provider", checked)
        self.check_floor(checked, OIDC_FLOOR, "aws_iam_openid_connect_provider without thumbprint_list")

    def test_every_configuration_reading_minified_json_requires_5_49(self):
        checked = [c for c in configurations() if uses(c, reads_minified_json)]
        # The two modules that read it, and everything that calls them.
        for expected in (
            TERRAFORM,
            TERRAFORM / "modules" / "aws-s3-access-policy",
            TERRAFORM / "modules" / "aws-workload-role",
            TERRAFORM / "examples" / "aws-only",
            TERRAFORM / "examples" / "cluster-issuer",
            TERRAFORM / "examples" / "demo",
        ):
            self.assertIn(expected, checked)
        self.check_floor(checked, MINIFIED_JSON_FLOOR, "aws_iam_policy_document.minified_json")

    def test_the_minified_json_pattern(self):
        self.assertTrue(MINIFIED_JSON.search("length(data.aws_iam_policy_document.trust.minified_json)"))
        self.assertTrue(MINIFIED_JSON.search("data.aws_iam_policy_document.this[0].minified_json"))
        self.assertFalse(MINIFIED_JSON.search("data.aws_iam_policy_document.this.json"))
        self.assertFalse(MINIFIED_JSON.search('output "minified_json" {'))


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
