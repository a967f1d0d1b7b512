"""Self-test of check_google_schema.py: it must pass on terraform/ and catch every typo in the fixture."""

import contextlib
import io
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import check_google_schema as checker  # noqa: E402

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "google-typos"


class CheckGoogleSchema(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.schema = checker.Schema(checker.load_assembly(None))

    def problems(self):
        problems, checked = checker.check_dirs(self.schema, [FIXTURE])
        self.assertEqual(checked, 5)
        return "\n".join(problems)

    def test_bound_provider_version_is_inside_the_pinned_range(self):
        self.assertTrue(checker.version_in_range(self.schema.provider_version, ">=5.31,<8"))

    def test_version_range_matcher(self):
        self.assertTrue(checker.version_in_range("5.31.0", ">=5.31,<8"))
        self.assertFalse(checker.version_in_range("5.30.9", ">=5.31,<8"))
        self.assertFalse(checker.version_in_range("8.0.0", ">=5.31,<8"))

    def test_real_configuration_passes(self):
        problems, checked = checker.check_dirs(self.schema, [HERE.parent.parent / "terraform"])
        self.assertEqual(problems, [])
        self.assertGreater(checked, 0)

    def test_misspelled_argument_fails(self):
        self.assertIn('google_service_account.this: unsupported argument or block "acount_id"', self.problems())

    def test_missing_required_argument_fails(self):
        self.assertIn('google_service_account.this: missing required argument "account_id"', self.problems())
        self.assertIn('google_service_account_iam_member.this: missing required argument "role"', self.problems())

    def test_misspelled_argument_in_nested_block_fails(self):
        self.assertIn('google_container_cluster.this.workload_identity_config: unsupported argument or block "workload_pol"', self.problems())

    def test_misspelled_argument_in_dynamic_block_fails(self):
        self.assertIn('node_config.workload_metadata_config: unsupported argument or block "mod"', self.problems())

    def test_unknown_data_source_fails(self):
        self.assertIn("no data type google_container_clusters", self.problems())

    def test_command_line_exits_non_zero_on_the_fixture(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(checker.main([str(FIXTURE)]), 1)
        self.assertIn('FAIL: ', out.getvalue())


if __name__ == "__main__":
    unittest.main(verbosity=2)
