"""The import-circle check finds circles of files and of folders, and passes a one-way tree."""
import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).with_name("import_circles.py")


def run(tmp_path, files):
    src = tmp_path / "src"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return subprocess.run([sys.executable, CHECK, src], capture_output=True, text=True)


ONE_WAY = {
    "lib.rs": "pub mod aws; pub mod identity; pub mod error;",
    "error.rs": "",
    "aws/mod.rs": "pub mod sts; pub mod sdk;",
    "aws/sts.rs": "use crate::identity::token::Token; use super::sdk;",
    "aws/sdk.rs": "use crate::error::Failure;",
    "identity/mod.rs": "pub mod token;",
    "identity/token.rs": "use crate::error::Failure;\n#[cfg(test)]\nmod tests { use crate::aws::sts; }",
}


def test_a_one_way_tree_passes_test_modules_aside(tmp_path):
    result = run(tmp_path, ONE_WAY)
    assert result.returncode == 0, result.stderr


def test_two_files_that_import_each_other_fail(tmp_path):
    result = run(tmp_path, {**ONE_WAY, "error.rs": "use crate::aws::{sdk::{self, Tls}};"})
    assert result.returncode == 1
    assert "aws/sdk.rs" in result.stderr and "error.rs" in result.stderr


def test_folders_that_import_each_other_fail_without_a_file_circle(tmp_path):
    # identity/token.rs -> aws/sdk.rs and aws/sts.rs -> identity/token.rs: no two files import
    # each other, but the parts aws/ and identity/ do.
    result = run(tmp_path, {**ONE_WAY, "identity/token.rs": "use crate::aws::sdk::Tls;"})
    assert result.returncode == 1, result.stderr
    assert "src/aws/ <-> " in result.stderr and "src/identity/" in result.stderr
    assert "token.rs <->" not in result.stderr
