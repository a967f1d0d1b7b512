//! `--aws` against moto's IAM, roles and OIDC providers created with the aws CLI: TrustDrift
//! (the evaluator's explanation), RoleMissing, OidcProviderMissing, TrustPolicyNearLimit and
//! OidcProviderQuota, in both identity modes; a fleet whose IAM agrees gives no finding.

use serde_json::json;
use testkit::Moto;
use testkit::kube_cluster::objects;

use crate::helpers::{MODES, Mode, audit_env, clean_cluster, terraform_fixture};

const ISSUER: &str = "container.googleapis.com/v1/projects/example-project/locations/europe-west2/clusters/example";
const GSA_UID: &str = "112233445566778899002";

/// The aws CLI against moto, as a platform engineer would call it.
async fn aws(moto: &Moto, args: &[&str]) {
    let out = tokio::process::Command::new("aws")
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args(args)
        .envs(credentials())
        .output()
        .await
        .expect("the aws CLI (make venv installs it)");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn credentials() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("AWS_CONFIG_FILE", "/dev/null"),
    ]
}

fn gsa_trust(uid: &str) -> serde_json::Value {
    json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "Federated": "accounts.google.com" },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": { "StringEquals": { "accounts.google.com:aud": uid, "accounts.google.com:oaud": "sts.amazonaws.com" } } }] })
}

fn cluster_trust(subjects: &[String]) -> serde_json::Value {
    json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
        "Principal": { "Federated": format!("arn:aws:iam::123456789012:oidc-provider/{ISSUER}") },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": { "StringEquals": { format!("{ISSUER}:sub"): subjects, format!("{ISSUER}:aud"): "sts.amazonaws.com" } } }] })
}

async fn role(moto: &Moto, name: &str, trust: &serde_json::Value) {
    aws(
        moto,
        &[
            "iam",
            "create-role",
            "--role-name",
            name,
            "--assume-role-policy-document",
            &trust.to_string(),
        ],
    )
    .await;
}

async fn update_trust(moto: &Moto, name: &str, trust: &serde_json::Value) {
    aws(
        moto,
        &[
            "iam",
            "update-assume-role-policy",
            "--role-name",
            name,
            "--policy-document",
            &trust.to_string(),
        ],
    )
    .await;
}

async fn provider(moto: &Moto, host_path: &str) {
    let url = format!("https://{host_path}");
    aws(
        moto,
        &[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            &url,
            "--client-id-list",
            "sts.amazonaws.com",
            "--thumbprint-list",
            &"a".repeat(40),
        ],
    )
    .await;
}

/// moto with the fixture's three roles trusting what Terraform says, and the cluster's provider.
async fn agreeing_account() -> Moto {
    let moto = Moto::start();
    role(&moto, "reports-reader", &gsa_trust(GSA_UID)).await;
    role(&moto, "gke-aws-verifier-example", &gsa_trust("112233445566778899001")).await;
    role(
        &moto,
        "ledger-reader",
        &cluster_trust(&["system:serviceaccount:payments:ledger".to_owned()]),
    )
    .await;
    provider(&moto, ISSUER).await;
    moto
}

async fn audit_aws(cluster: &testkit::kube_cluster::KubeCluster, moto: &Moto, extra: &[&str]) -> crate::helpers::Run {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig(dir.path(), "stand-in");
    let tf = terraform_fixture();
    let mut args = vec!["--format", "json", "--aws", "--terraform-output", tf.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut env: Vec<(&str, &str)> = credentials().to_vec();
    env.push(("AWS_ENDPOINT_URL", &moto.endpoint));
    audit_env(&kubeconfig, &args, &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_agrees_gives_no_finding() {
    let moto = agreeing_account().await;
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let run = audit_aws(&cluster, &moto, &[]).await;
        assert_eq!(run.code, 0, "{mode:?}: {}\n{}", run.stdout, run.stderr);
        assert!(run.findings().is_empty(), "{}", run.stdout);
        assert_eq!(run.json()["clusters"][1]["cluster"], "aws");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_gsa_breaks_the_trust_and_the_explanation_says_where() {
    let moto = agreeing_account().await;
    // The GSA was deleted and recreated: a new unique id; the role still pins the old one.
    update_trust(&moto, "reports-reader", &gsa_trust("999999999999999999999")).await;
    let cluster = clean_cluster(Mode::Gsa).await;
    let run = audit_aws(&cluster, &moto, &[]).await;
    let drift = run.with_code("TrustDrift");
    assert_eq!(drift.len(), 1, "{}", run.stdout);
    assert_eq!(
        drift[0]["object"],
        json!({ "kind": "ServiceAccount", "namespace": "payments", "name": "reports-reader" })
    );
    let message = drift[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "StringEquals accounts.google.com:aud expects 999999999999999999999, the token gives {GSA_UID}"
        )),
        "{message}"
    );
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_that_names_another_ksa_is_drift_in_cluster_mode() {
    let moto = agreeing_account().await;
    update_trust(
        &moto,
        "ledger-reader",
        &cluster_trust(&["system:serviceaccount:payment:ledger".to_owned()]),
    )
    .await;
    let cluster = clean_cluster(Mode::Cluster).await;
    let run = audit_aws(&cluster, &moto, &[]).await;
    let drift = run.with_code("TrustDrift");
    assert_eq!(drift.len(), 1, "{}", run.stdout);
    assert_eq!(drift[0]["object"]["name"], "ledger");
    assert!(
        drift[0]["message"].as_str().unwrap().contains(
            "expects system:serviceaccount:payment:ledger, the token gives system:serviceaccount:payments:ledger"
        ),
        "{}",
        drift[0]["message"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_a_ksa_names_that_does_not_exist_is_missing() {
    let moto = agreeing_account().await;
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let mut annotations = mode.annotations();
        annotations.push((
            "gke-aws-verifier/role.extra",
            "arn:aws:iam::123456789012:role/never-created",
        ));
        cluster.add(objects::service_account("payments", mode.ksa(), &annotations));
        let run = audit_aws(&cluster, &moto, &[]).await;
        let missing = run.with_code("RoleMissing");
        assert_eq!(missing.len(), 1, "{mode:?}: {}", run.stdout);
        assert!(
            missing[0]["message"]
                .as_str()
                .unwrap()
                .contains("role/never-created named by the KSA's annotation gke-aws-verifier/role.extra")
        );
        assert_eq!(missing[0]["object"]["name"], mode.ksa());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_issuer_without_its_oidc_provider_is_found() {
    let moto = Moto::start();
    role(&moto, "reports-reader", &gsa_trust(GSA_UID)).await;
    role(&moto, "gke-aws-verifier-example", &gsa_trust("112233445566778899001")).await;
    role(
        &moto,
        "ledger-reader",
        &cluster_trust(&["system:serviceaccount:payments:ledger".to_owned()]),
    )
    .await;
    let cluster = clean_cluster(Mode::Cluster).await;
    let run = audit_aws(&cluster, &moto, &[]).await;
    assert_eq!(run.codes(), vec!["OidcProviderMissing"], "{}", run.stdout);
    let f = &run.with_code("OidcProviderMissing")[0];
    assert_eq!(f["object"], json!({ "kind": "OIDCProvider", "name": ISSUER }));
    assert!(f["fix"].as_str().unwrap().contains(&format!(
        "aws iam create-open-id-connect-provider --url https://{ISSUER}"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_policies_and_providers_near_iam_quotas_are_found() {
    let moto = agreeing_account().await;
    // One role trusting many KSAs: past 90% of the 2048 characters.
    let many: Vec<String> = (0..40)
        .map(|i| format!("system:serviceaccount:payments:ksa-{i:02}"))
        .chain(["system:serviceaccount:payments:ledger".to_owned()])
        .collect();
    update_trust(&moto, "ledger-reader", &cluster_trust(&many)).await;
    provider(
        &moto,
        "container.googleapis.com/v1/projects/p/locations/l/clusters/other",
    )
    .await;
    for mode in MODES {
        let cluster = clean_cluster(mode).await;
        let run = audit_aws(&cluster, &moto, &["--oidc-provider-quota", "2"]).await;
        let near = run.with_code("TrustPolicyNearLimit");
        assert_eq!(near.len(), 1, "{mode:?}: {}", run.stdout);
        assert_eq!(
            near[0]["object"],
            json!({ "kind": "IAMRole", "name": "arn:aws:iam::123456789012:role/ledger-reader" })
        );
        assert!(
            near[0]["fix"]
                .as_str()
                .unwrap()
                .contains("--quota-code L-C07B4B0D --desired-value 4096"),
            "{}",
            near[0]["fix"]
        );
        let quota = run.with_code("OidcProviderQuota");
        assert_eq!(quota.len(), 1, "{}", run.stdout);
        assert_eq!(quota[0]["severity"], "error");
        assert!(
            quota[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("the account has 2 IAM OIDC providers of the 2")
        );
        // Account-level findings are the aws group's, once.
        assert_eq!(
            run.json()["clusters"][1]["findings"].as_array().unwrap().len(),
            2,
            "{}",
            run.stdout
        );
    }
}
