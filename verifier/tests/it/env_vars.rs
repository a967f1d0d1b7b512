//! Every variable that maps to a flag, in every subcommand, through the real binary: set but
//! empty is unset (never clap's `a value is required for '--config-file'`), set is the flag.

use std::path::Path;

use clap::CommandFactory;
use gke_aws_verifier::cli::Cli;
use testkit::cli_env::{Variable, check_every_variable, run};

use crate::common::BIN;

/// A valid value for each variable; a new variable without one fails the test.
const SAMPLES: &[(&str, &str)] = &[
    ("VERIFY_LOG_FORMAT", "json"),
    ("VERIFY_LOG_LEVEL", "warn"),
    ("VERIFY_AUDIENCE", "my-audience"),
    ("GCE_METADATA_HOST", "127.0.0.1:1"),
    ("VERIFY_TIMEOUT", "10s"),
    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/reader"),
    ("AWS_REGION", "eu-west-1"),
    ("AWS_ROLE_SESSION_NAME", "session"),
    ("VERIFY_DURATION_SECONDS", "900"),
    ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
    ("VERIFY_SKIP_ISSUER_CHECK", "true"),
    ("VERIFY_BUCKET", "bucket"),
    ("VERIFY_PREFIX", "daily/"),
    ("VERIFY_ACCESS", "read"),
    ("VERIFY_EXPECTED_GSA", "reader@project.iam.gserviceaccount.com"),
    ("VERIFY_FORMAT", "json"),
    ("VERIFY_PUSHGATEWAY", "http://127.0.0.1:1"),
    ("VERIFY_EXPLAIN", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/config"),
    ("VERIFY_ALL_PROFILES", "true"),
    ("VERIFY_PROFILE_BUCKETS", "reader=bucket"),
    ("VERIFY_CACHE_DIR", "/nonexistent/cache"),
    ("VERIFY_CHECK_ISSUER", "true"),
    ("VERIFY_TOKEN_FILE_MODE", "0600"),
];

/// The command line around a variable's flag: input that fails before any network call
/// (`--timeout 0s`, or a bad audience when --timeout is the flag under test).
fn args(variable: &Variable, flag_args: Vec<String>) -> Vec<String> {
    let (sub, mut line) = match variable.path.as_slice() {
        [] => (
            "verify".to_owned(),
            flag_args.into_iter().chain(["verify".to_owned()]).collect(),
        ),
        path => (
            path[0].clone(),
            path.iter().cloned().chain(flag_args).collect::<Vec<_>>(),
        ),
    };
    let fail_early: [&str; 2] = if variable.flag == "--timeout" {
        ["--audience", " "]
    } else {
        ["--timeout", "0s"]
    };
    line.extend(fail_early.map(String::from));
    if sub == "token-file" && variable.flag != "--path" {
        line.extend(["--path", "/nonexistent/token"].map(String::from));
    }
    line
}

#[test]
fn every_variable_empty_is_unset_and_set_is_its_flag() {
    let checked = check_every_variable(Path::new(BIN), &Cli::command(), SAMPLES, &["AWS_REGION"], args);
    assert!(checked >= SAMPLES.len(), "only {checked} variables found");
}

/// `AWS_REGION=` is the one variable whose emptiness is an error (a Helm value left blank
/// would otherwise silently pick another region): it names the variable.
#[test]
fn an_empty_aws_region_is_an_error_naming_it() {
    let home = tempfile::tempdir().unwrap();
    let line = [
        "verify",
        "--role-arn",
        "arn:aws:iam::123456789012:role/reader",
        "--bucket",
        "b",
    ]
    .map(String::from);
    let outcome = run(Path::new(BIN), home.path(), &[("AWS_REGION", "")], &line);
    assert_eq!(outcome.code, Some(2), "{outcome:?}");
    assert!(
        outcome.stdout.contains("AWS_REGION") && outcome.stdout.contains("is set but empty"),
        "{outcome:?}"
    );
}
