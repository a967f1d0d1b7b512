//! Each command's `--help` prints its own exit-code table, the one its code exits by
//! ([`Program`], from the stages each command runs).

use gke_aws_verifier::exit_table::Program;

use crate::common::BIN;

fn help_of(program: Program) -> String {
    let mut command = std::process::Command::new(BIN);
    command.args(program.name()).arg("--help");
    let output = command.output().expect("the binary runs");
    assert!(output.status.success(), "{program:?}: {output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    let start = help
        .find("Exit codes:")
        .unwrap_or_else(|| panic!("{program:?}: no exit codes in --help:\n{help}"));
    help[start..].to_owned()
}

#[test]
fn the_binarys_help_lists_every_code() {
    assert_eq!(help_of(Program::Any), Program::Any.help());
}

#[test]
fn verify_help_prints_verify_table() {
    assert_eq!(help_of(Program::Verify), Program::Verify.help());
}

#[test]
fn credential_process_help_prints_its_table() {
    assert_eq!(help_of(Program::CredentialProcess), Program::CredentialProcess.help());
}

#[test]
fn token_file_help_prints_its_table() {
    assert_eq!(help_of(Program::TokenFile), Program::TokenFile.help());
}

#[test]
fn explain_help_prints_explain_table_not_verify_table() {
    let help = help_of(Program::Explain);
    assert_eq!(help, Program::Explain.help());
    assert!(!help.contains("S3"), "{help}");
}

/// `credential-process --help` speaks of its own flags and of both modes' trust.
#[test]
fn credential_process_help_names_only_its_flags_and_both_trusts() {
    let output = std::process::Command::new(BIN)
        .args(["credential-process", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(!help.contains("--all-profiles"), "{help}");
    assert!(
        help.contains("accounts.google.com in GSA mode, the cluster's issuer in cluster mode"),
        "{help}"
    );
}
