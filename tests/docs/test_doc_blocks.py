"""tests/docs/doc_blocks.py: which blocks are command blocks, their markers, and the comparison."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import doc_blocks as d  # noqa: E402

DOC = """Intro.

```sh
gke-aws-verifier verify --bucket b \\
  --region eu-west-1   # the region
```

```
PASS sts 21 ms role=x
OK: access proven
```

<!-- docs-check: illustrative — needs a GKE cluster -->
```sh
kubectl logs job/x | gke-aws-verifier explain --report -
```

<!-- docs-check: exit 4 -->
```bash
AWS_PROFILE=p make plan
```

```sh
aws s3 ls s3://b/
```

Prose.

```
 a diagram, no command
```
"""


def parse():
    return d.blocks(Path("x.md"), DOC)


def test_output_block_belongs_to_the_command_block_before_it():
    first = parse()[0]
    assert first.lang == "sh" and first.line == 3
    assert first.output is not None and first.output.body.startswith("PASS sts")
    assert d.commands(first.body) == ["gke-aws-verifier verify --bucket b --region eu-west-1   # the region"]


def test_markers_illustrative_with_reason_and_exit_code():
    blocks = parse()
    assert d.verdict(blocks[1]).illustrative == "needs a GKE cluster"
    assert d.verdict(blocks[2]).exit_code == 4 and d.verdict(blocks[2]).illustrative is None
    assert d.verdict(blocks[0]) == d.Verdict()


def test_an_illustrative_marker_without_reason_or_an_unknown_marker_is_an_error():
    for marker in ("illustrative", "illustrative —", "skip please"):
        block = d.blocks(Path("x.md"), f"<!-- docs-check: {marker} -->\n```sh\nmake demo\n```\n")[0]
        assert d.verdict(block).error, marker


def test_which_blocks_show_a_command_of_this_project():
    shown = [d.shows_project_command(b) for b in parse()]
    # verify; kubectl piped into explain; make after an assignment; the aws CLI alone; a diagram.
    assert shown == [True, True, True, False, False]
    assert d.project_programs("eval \"$(aws configure export-credentials)\"; tests/k8s/run.sh") == ["tests/k8s/run.sh"]
    assert d.project_programs("terraform show -json tfplan > plan.json") == ["terraform"]


def test_a_marker_must_be_right_before_its_block():
    text = "<!-- docs-check: illustrative — far away -->\n\nSome prose.\n\n```sh\nmake demo\n```\n"
    assert d.blocks(Path("x.md"), text)[0].marker is None


def test_times_ids_and_blanks_are_masked_stage_and_field_names_are_not():
    shown = "PASS sts                  21 ms  assumed_role=arn:aws:sts::123456789012:assumed-role/r/verify-x7k2p"
    assert d.matches(shown, "PASS sts 3 ms  assumed_role=arn:aws:sts::999999999999:assumed-role/r/verify-x1k9p")
    assert not d.matches(shown, "PASS aws_sts 3 ms  assumed_role=arn:aws:sts::999999999999:assumed-role/r/verify-x1k9p")
    assert not d.matches(shown, "PASS sts 3 ms  role=arn:aws:sts::999999999999:assumed-role/r/verify-x1k9p")


def test_a_missing_or_an_extra_line_fails():
    shown = "PASS s3 1 ms bucket=b\nOK: access proven"
    assert not d.matches(shown, "PASS s3 1 ms bucket=b")
    assert not d.matches(shown, "PASS s3 1 ms bucket=b\nOK: access proven\nnot evaluated: RCPs")
    assert d.matches(shown, "\nPASS s3 1 ms bucket=b\n\nOK: access proven\n")


def test_an_ellipsis_line_is_any_lines_and_an_ellipsis_in_a_line_any_text():
    shown = "PROFILE default\nPASS gcp_identity 4 ms …\n…\nOK: all 2 roles proven"
    assert d.matches(shown, "PROFILE default\nPASS gcp_identity 9 ms email=a\nx\ny\nOK: all 2 roles proven")
    assert d.matches(shown, "PROFILE default\nPASS gcp_identity 9 ms\nOK: all 2 roles proven")
    assert not d.matches(shown, "PROFILE default\nFAIL gcp_identity 9 ms email=a\nOK: all 2 roles proven")
    assert not d.matches(shown, "PROFILE default\nPASS gcp_identity 9 ms email=a\nOK: 1 of 2 roles proven")


def test_the_difference_shows_both_sides_masked():
    diff = d.difference("PASS sts 21 ms", "PASS aws_sts 3 ms")
    assert "-PASS sts 0 ms" in diff and "+PASS aws_sts 0 ms" in diff


def test_an_aws_config_block_shows_a_command_in_its_credential_process_lines():
    text = ("```ini\n[profile a]\ncredential_process = /usr/local/bin/gke-aws-verifier credential-process --profile x\n"
            "[profile b]\ncredential_process = /opt/other-helper\n```\n\n```ini\n[profile c]\nregion = eu-west-1\n```\n")
    first, second = d.blocks(Path("x.md"), text)
    assert d.credential_processes(first) == ["/usr/local/bin/gke-aws-verifier credential-process --profile x"]
    assert d.shows_project_command(first) and not d.shows_project_command(second)
