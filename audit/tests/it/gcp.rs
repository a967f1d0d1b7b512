//! `--gcp` against the Google stand-in beside the metadata emulator: Google's official Rust
//! clients get their access token from it as Application Default Credentials do on GKE
//! (`GCE_METADATA_HOST`) or on a laptop (an `authorized_user` file whose `token_uri` is its
//! OAuth endpoint), and read each GSA from its IAM API (`--gcp-iam-endpoint`). A recreated GSA
//! (new unique id, the role's trust in moto pinning the old one), a deleted and a disabled
//! one, and a caller refused with each of Google's reasons; no token in any output.

use std::path::Path;

use serde_json::json;
use testkit::Moto;
use testkit::emulator::{Config, Emulator, GoogleServiceAccount, IamRefusal};
use testkit::kube_cluster::KubeCluster;

use crate::helpers::{GSA_EMAIL, Mode, Run, clean_cluster, terraform_fixture};

/// Terraform's unique id of the fixture's `reports` GSA, which the role's trust pins.
const OLD_ID: &str = "112233445566778899002";
const NEW_ID: &str = "998877665544332211002";
/// The fixture's other GSA (the verifier's own KSA).
const VERIFIER_GSA: &str = "s3-verifier@example-project.iam.gserviceaccount.com";

/// The metadata server of the audit's pod, whose GSA may read the others, and Google's IAM
/// holding the fixture's two GSAs as Terraform created them.
async fn google() -> Emulator {
    let emulator = Emulator::start(Config {
        gsa_email: "gke-aws-audit@example-project.iam.gserviceaccount.com".to_owned(),
        project_id: "example-project".to_owned(),
        ..Config::default()
    })
    .await
    .unwrap();
    gsa(&emulator, GSA_EMAIL, OLD_ID, false);
    gsa(&emulator, VERIFIER_GSA, "112233445566778899001", false);
    emulator
}

fn gsa(emulator: &Emulator, email: &str, unique_id: &str, disabled: bool) {
    emulator.set_service_account(
        email,
        Some(GoogleServiceAccount {
            unique_id: unique_id.to_owned(),
            disabled,
        }),
    );
}

/// The audit with `--gcp`, its Google credentials from the metadata server (or `adc`), a home
/// without gcloud's files.
async fn audit_gcp(cluster: &KubeCluster, emulator: &Emulator, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig(home.path(), "stand-in");
    let tf = terraform_fixture();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gke-aws-audit"));
    command
        .args(["--format", "json", "--gcp", "--terraform-output", tf.to_str().unwrap()])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("KUBECONFIG", &kubeconfig)
        .env("GCE_METADATA_HOST", emulator.host())
        .env("AUDIT_GCP_IAM_ENDPOINT", emulator.iam_endpoint())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied());
    let output = command.output().await.expect("run gke-aws-audit");
    let run = Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    // Whatever the stand-in issued (access and refresh tokens) is never printed.
    for token in ["ya29.emulated-", "1//emulated-"] {
        assert!(
            !run.stdout.contains(token) && !run.stderr.contains(token),
            "a token leaked: {}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

/// moto holding the fixture's role trusting the GSA's old unique id (as Terraform wrote it).
async fn moto_trusting_the_old_id() -> Moto {
    let moto = Moto::start();
    let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "Federated": "accounts.google.com" },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": { "StringEquals": { "accounts.google.com:aud": OLD_ID, "accounts.google.com:sub": OLD_ID,
            "accounts.google.com:oaud": "sts.amazonaws.com" } } }] });
    moto_role(&moto, "reports-reader", &trust).await;
    moto
}

async fn moto_role(moto: &Moto, name: &str, trust: &serde_json::Value) {
    let out = tokio::process::Command::new("aws")
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--region",
            "us-east-1",
            "iam",
            "create-role",
        ])
        .args(["--role-name", name, "--assume-role-policy-document", &trust.to_string()])
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .output()
        .await
        .expect("the aws CLI");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        ),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gsas_as_terraform_made_them_give_no_finding() {
    let emulator = google().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    let run = audit_gcp(&cluster, &emulator, &[], &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.findings().is_empty(), "{}", run.stdout);
    assert_eq!(emulator.iam_reads(), 2, "one serviceAccounts.get per GSA");
    assert_eq!(run.json()["notes"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_gsa_is_gsa_recreated_with_both_ids_where_terraform_sees_nothing() {
    let emulator = google().await;
    let moto = moto_trusting_the_old_id().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    let env = aws_env(&moto);
    // Without --gcp: Terraform's id is the old one, as is the trust's: no finding at all, and
    // the report says where the ids came from.
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig(home.path(), "stand-in");
    let tf = terraform_fixture();
    let mut plain_env = borrowed(&env);
    plain_env.push(("AWS_EC2_METADATA_DISABLED", "true"));
    let blind = crate::helpers::audit_env(
        &kubeconfig,
        &[
            "--aws",
            "--namespace",
            "payments",
            "--terraform-output",
            tf.to_str().unwrap(),
        ],
        &plain_env,
    )
    .await;
    assert!(
        blind.stdout.contains(
            "NOTE: GSA unique ids were taken from Terraform's output, not from Google: a GSA recreated under the same e-mail is not seen (add --gcp)"
        ),
        "{}",
        blind.stdout
    );
    assert!(
        !blind.stdout.contains("GsaRecreated") && !blind.stdout.contains("TrustDrift"),
        "{}",
        blind.stdout
    );
    // The GSA deleted and recreated under the same e-mail: a new unique id at Google.
    gsa(&emulator, GSA_EMAIL, NEW_ID, false);
    let run = audit_gcp(
        &cluster,
        &emulator,
        &["--aws", "--namespace", "payments"],
        &borrowed(&env),
    )
    .await;
    let recreated = run.with_code("GsaRecreated");
    assert_eq!(recreated.len(), 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        recreated[0]["object"],
        json!({ "kind": "ServiceAccount", "namespace": "payments", "name": "reports-reader" })
    );
    let message = recreated[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("unique id {NEW_ID} now")) && message.contains(&format!("pins {OLD_ID}")),
        "{message}"
    );
    assert!(recreated[0]["fix"].as_str().unwrap().contains("make apply"));
    assert!(run.with_code("TrustDrift").is_empty(), "{}", run.stdout);
    assert_eq!(run.json()["notes"], json!([]));
    assert_eq!(run.code, 6);
    // Without --aws, Terraform's id against Google's says it too.
    let run = audit_gcp(&cluster, &emulator, &[], &[]).await;
    let recreated = run.with_code("GsaRecreated");
    assert_eq!(recreated.len(), 1, "{}", run.stdout);
    assert!(
        recreated[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("has {OLD_ID}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_and_a_disabled_gsa_are_found() {
    let emulator = google().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    emulator.set_service_account(GSA_EMAIL, None);
    gsa(&emulator, VERIFIER_GSA, "112233445566778899001", true);
    let run = audit_gcp(&cluster, &emulator, &[], &[]).await;
    let missing = run.with_code("GsaMissing");
    assert_eq!(missing.len(), 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(missing[0]["object"]["name"], "reports-reader");
    assert!(missing[0]["message"].as_str().unwrap().contains("404 NOT_FOUND"));
    let disabled = run.with_code("GsaDisabled");
    assert_eq!(disabled.len(), 1, "{}", run.stdout);
    assert_eq!(disabled[0]["object"]["name"], "gke-aws-verifier");
    assert_eq!(
        disabled[0]["fix"],
        format!("gcloud iam service-accounts enable {VERIFIER_GSA} --project example-project")
    );
    assert_eq!(run.code, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_google_refuses_is_told_what_to_grant() {
    let emulator = google().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    emulator.set_iam_refusal(Some(IamRefusal::PermissionDenied));
    let run = audit_gcp(&cluster, &emulator, &[], &[]).await;
    let unreadable = run.with_code("GsaUnreadable");
    assert_eq!(unreadable.len(), 1, "one finding for the project: {}", run.stdout);
    assert_eq!(
        unreadable[0]["object"],
        json!({ "kind": "GCPProject", "name": "example-project" })
    );
    assert!(
        unreadable[0]["message"]
            .as_str()
            .unwrap()
            .contains("IAM_PERMISSION_DENIED"),
        "{}",
        unreadable[0]["message"]
    );
    assert!(
        unreadable[0]["fix"]
            .as_str()
            .unwrap()
            .contains("gcloud projects add-iam-policy-binding example-project --member=PRINCIPAL --role=roles/iam.serviceAccountViewer")
    );
    assert!(
        run.with_code("GsaMissing").is_empty(),
        "a 403 says nothing of existence"
    );
    emulator.set_iam_refusal(Some(IamRefusal::ServiceDisabled));
    let run = audit_gcp(&cluster, &emulator, &[], &[]).await;
    let unreadable = run.with_code("GsaUnreadable");
    assert_eq!(unreadable.len(), 1, "{}", run.stdout);
    assert!(unreadable[0]["message"].as_str().unwrap().contains("SERVICE_DISABLED"));
    assert_eq!(
        unreadable[0]["fix"],
        "enable the IAM API in the project the audit's credentials bill to: gcloud services enable iam.googleapis.com --project example-project"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_laptops_gcloud_login_file_is_used_and_bad_files_are_bad_input() {
    let emulator = google().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    gsa(&emulator, GSA_EMAIL, NEW_ID, false);
    let dir = tempfile::tempdir().unwrap();
    let adc = dir.path().join("application_default_credentials.json");
    std::fs::write(&adc, emulator.authorized_user_json("platform@example.com").to_string()).unwrap();
    // No metadata server here: the file's refresh token at its token_uri is the only way.
    let closed = "127.0.0.1:9";
    let run = audit_gcp(
        &cluster,
        &emulator,
        &[],
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", adc.to_str().unwrap()),
            ("GCE_METADATA_HOST", closed),
        ],
    )
    .await;
    assert_eq!(run.with_code("GsaRecreated").len(), 1, "{}\n{}", run.stdout, run.stderr);
    // A refresh token the stand-in never issued: refused, one finding about the credentials.
    let mut revoked = emulator.authorized_user_json("platform@example.com");
    revoked["refresh_token"] = json!("1//revoked");
    std::fs::write(&adc, revoked.to_string()).unwrap();
    let run = audit_gcp(
        &cluster,
        &emulator,
        &[],
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", adc.to_str().unwrap()),
            ("GCE_METADATA_HOST", closed),
        ],
    )
    .await;
    let unreadable = run.with_code("GsaUnreadable");
    assert_eq!(unreadable.len(), 1, "{}", run.stdout);
    assert_eq!(
        unreadable[0]["object"],
        json!({ "kind": "GCPCredentials", "name": "application-default" })
    );
    // Not a credentials file: exit 2 before any call, naming the variable.
    for bad in [Path::new("/dev/null"), dir.path()] {
        let reads = emulator.iam_reads();
        let run = audit_gcp(
            &cluster,
            &emulator,
            &[],
            &[("GOOGLE_APPLICATION_CREDENTIALS", bad.to_str().unwrap())],
        )
        .await;
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{}", run.stderr);
        assert_eq!(emulator.iam_reads(), reads);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_logged_even_at_debug() {
    let emulator = google().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    emulator.set_service_account(GSA_EMAIL, None);
    // audit_gcp asserts that no token the stand-in issued appears in stdout or stderr.
    let run = audit_gcp(&cluster, &emulator, &["--log-level", "debug"], &[]).await;
    assert_eq!(run.with_code("GsaMissing").len(), 1, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_junk_after_it_is_unreadable_never_a_gsa() {
    let emulator = google().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    let body = format!(
        "{{\"name\":\"projects/example-project/serviceAccounts/{GSA_EMAIL}\",\"uniqueId\":\"{NEW_ID}\",\"email\":\"{GSA_EMAIL}\"}}JUNK"
    );
    let iam = testkit::hostile::HostilePeer::start(move |_| {
        testkit::hostile::Reply::new(200, body.clone()).header("content-type", "application/json")
    })
    .await;
    let run = audit_gcp(&cluster, &emulator, &["--gcp-iam-endpoint", &iam.endpoint()], &[]).await;
    assert!(run.with_code("GsaRecreated").is_empty(), "{}", run.stdout);
    let unreadable = run.with_code("GsaUnreadable");
    assert_eq!(unreadable.len(), 1, "{}", run.stdout);
    assert!(
        unreadable[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("run the audit again")
    );
}
