"""Self-test of tfdocs.py: it writes the tables, passes on terraform/, and fails on drift."""

import contextlib
import io
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import tfdocs  # noqa: E402

VARIABLES = '''
variable "name" {
  description = "Name of the \\"thing\\" | with a pipe."
  type        = string
}

variable "ksas" {
  description = "List of KSAs."
  type = list(object({
    namespace = string
    name      = string
  }))
  default = []
}
'''
OUTPUTS = '''
output "arn" {
  description = "ARN of the thing."
  value       = var.name
}
'''
README = "# thing\n\nHand-written usage.\n\n<!-- BEGIN_TF_DOCS -->\n<!-- END_TF_DOCS -->\n\n## After\n"
TABLES = """## Inputs

| Name | Description | Type | Default |
|------|-------------|------|---------|
| `name` | Name of the "thing" \\| with a pipe. | `string` | required |
| `ksas` | List of KSAs. | `list(object({ namespace = string, name = string }))` | `[]` |

## Outputs

| Name | Description |
|------|-------------|
| `arn` | ARN of the thing. |"""


class TfDocs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.root = Path(self.tmp.name)
        self.module = self.root / "modules" / "thing"
        self.module.mkdir(parents=True)
        (self.module / "variables.tf").write_text(VARIABLES)
        (self.module / "outputs.tf").write_text(OUTPUTS)
        (self.module / "README.md").write_text(README)

    def run_tool(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = tfdocs.main([*args, str(self.root)])
        return code, out.getvalue()

    def test_generates_exact_tables_between_the_markers(self):
        self.assertEqual(self.run_tool()[0], 0)
        self.assertEqual((self.module / "README.md").read_text(),
                         f"# thing\n\nHand-written usage.\n\n<!-- BEGIN_TF_DOCS -->\n{TABLES}\n<!-- END_TF_DOCS -->\n\n## After\n")
        self.assertEqual(self.run_tool("--check")[0], 0)

    def test_check_fails_on_a_changed_description_and_leaves_the_file(self):
        self.run_tool()
        (self.module / "variables.tf").write_text(VARIABLES.replace("List of KSAs.", "List of service accounts."))
        before = (self.module / "README.md").read_text()
        code, out = self.run_tool("--check")
        self.assertEqual(code, 1)
        self.assertIn("tables out of date", out)
        self.assertIn("+| `ksas` | List of service accounts.", out)
        self.assertEqual((self.module / "README.md").read_text(), before)

    def test_check_fails_on_a_new_output(self):
        self.run_tool()
        (self.module / "outputs.tf").write_text(OUTPUTS + 'output "name" {\n  description = "Name."\n  value = var.name\n}\n')
        self.assertEqual(self.run_tool("--check")[0], 1)

    def test_missing_markers_fail(self):
        (self.module / "README.md").write_text("# thing\n")
        code, out = self.run_tool("--check")
        self.assertEqual(code, 1)
        self.assertIn("needs exactly one <!-- BEGIN_TF_DOCS -->", out)

    def test_missing_readme_fails(self):
        (self.module / "README.md").unlink()
        code, out = self.run_tool("--check")
        self.assertEqual(code, 1)
        self.assertIn("README.md: missing", out)

    def test_tests_folders_are_not_configurations(self):
        (self.module / "tests" / "helper").mkdir(parents=True)
        (self.module / "tests" / "helper" / "main.tf").write_text(OUTPUTS)
        self.run_tool()
        self.assertEqual(self.run_tool("--check")[0], 0)

    def test_the_repository_readmes_match_their_code(self):
        with contextlib.redirect_stdout(io.StringIO()):
            code = tfdocs.main(["--check", str(Path(__file__).resolve().parents[2] / "terraform")])
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
