//! `--aws` against moto's IAM, roles and OIDC providers created with the aws CLI: TrustDrift
//! (the evaluator's explanation), RoleMissing, OidcProviderMissing, TrustPolicyNearLimit,
//! OidcProviderQuota and RoleUnused, in both identity modes; a fleet whose IAM agrees gives no
//! finding. moto keeps accounts apart by the credentials' account (a key of an assumed role is
//! of the role's account): roles in account B read with credentials of account A are one
//! `CannotRead` for B, never "missing"; web identity credentials; Google's metadata server at
//! the EC2 metadata address is "no AWS credentials here".

use serde_json::json;
use testkit::Moto;
use testkit::kube_cluster::objects;

use crate::helpers::{MODES, Mode, audit_env, clean_cluster, terraform_fixture};

const ISSUER: &str = "container.googleapis.com/v1/projects/example-project/locations/europe-west2/clusters/example";
const GSA_UID: &str = "112233445566778899002";

/// The aws CLI against moto, as a platform engineer would call it.
async fn aws(moto: &Moto, args: &[&str]) {
    aws_as(moto, &credentials().map(|(k, v)| (k, v.to_owned())), args).await;
}

/// The aws CLI with these credentials; its JSON answer.
async fn aws_as(moto: &Moto, credentials: &[(&str, String)], args: &[&str]) -> serde_json::Value {
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
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(credentials.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("the aws CLI (make venv installs it)");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// One query-protocol call to moto as the holder of `access_key` (moto checks no signature
/// with its IAM enforcement off, and takes the caller's account from the key); the answer.
async fn moto_call(moto: &Moto, service: &str, access_key: &str, form: &[(&str, &str)]) -> String {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join("&");
    let answer = reqwest::Client::new()
        .post(format!("{}/", moto.endpoint))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body)
        .send()
        .await
        .expect("moto answers");
    let status = answer.status();
    let text = answer.text().await.unwrap();
    assert!(status.is_success(), "{form:?}: {status} {text}");
    text
}

fn xml(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body.find(&open).map(|i| i + open.len()).expect("the tag");
    body[start..start + body[start..].find('<').unwrap()].to_owned()
}

/// Temporary credentials of `account` (moto's STS gives keys of the assumed role's account,
/// whether or not the role exists).
async fn credentials_of(moto: &Moto, account: &str, role: &str) -> Vec<(&'static str, String)> {
    let arn = format!("arn:aws:iam::{account}:role/{role}");
    let answer = moto_call(
        moto,
        "sts",
        "AKIAIOSFODNN7EXAMPLE",
        &[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", &arn),
            ("RoleSessionName", "audit-test"),
        ],
    )
    .await;
    vec![
        ("AWS_ACCESS_KEY_ID", xml(&answer, "AccessKeyId")),
        ("AWS_SECRET_ACCESS_KEY", xml(&answer, "SecretAccessKey")),
        ("AWS_SESSION_TOKEN", xml(&answer, "SessionToken")),
    ]
}

/// A session of the role calls AWS once: IAM records it in RoleLastUsed (moto too).
async fn use_role(moto: &Moto, name: &str) {
    let session = credentials_of(moto, "123456789012", name).await;
    moto_call(
        moto,
        "sts",
        &session[0].1,
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    )
    .await;
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
    for name in ["reports-reader", "gke-aws-verifier-example", "ledger-reader"] {
        use_role(&moto, name).await;
    }
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
    assert_eq!(run.code, 6);
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
    let codes: Vec<String> = run.codes().into_iter().filter(|c| c != "RoleUnused").collect();
    assert_eq!(codes, vec!["OidcProviderMissing"], "{}", run.stdout);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_never_used_is_role_unused_as_info() {
    let moto = agreeing_account().await;
    // Another role the KSA names, created and never used.
    role(&moto, "reports-reader.exports", &gsa_trust(GSA_UID)).await;
    let cluster = clean_cluster(Mode::Gsa).await;
    let mut annotations = Mode::Gsa.annotations();
    annotations.push((
        "gke-aws-verifier/role.exports",
        "arn:aws:iam::123456789012:role/reports-reader.exports",
    ));
    cluster.add(objects::service_account("payments", Mode::Gsa.ksa(), &annotations));
    let run = audit_aws(&cluster, &moto, &[]).await;
    let unused = run.with_code("RoleUnused");
    assert_eq!(unused.len(), 1, "{}", run.stdout);
    assert_eq!(
        unused[0]["object"],
        json!({ "kind": "IAMRole", "name": "arn:aws:iam::123456789012:role/reports-reader.exports" })
    );
    assert_eq!(unused[0]["severity"], "info");
    assert!(unused[0]["message"].as_str().unwrap().contains("RoleLastUsed is empty"));
    // The used roles are not findings (the named role is not in Terraform's output: drift;
    // the pod admitted before the KSA had it lacks its profile: stale).
    let mut codes = run.codes();
    codes.sort();
    assert_eq!(
        codes,
        ["AnnotationDrift", "RoleUnused", "StaleInjection"],
        "{}",
        run.stdout
    );
}

/// A cluster whose KSAs name roles in account `account` (both modes), no Terraform output.
async fn cluster_with_roles_in(account: &str) -> testkit::kube_cluster::KubeCluster {
    let cluster = testkit::kube_cluster::KubeCluster::start().await;
    crate::helpers::healthy_webhook(&cluster);
    let gsa_role = format!("arn:aws:iam::{account}:role/reports-reader");
    let cluster_role = format!("arn:aws:iam::{account}:role/ledger-reader");
    cluster.add(objects::service_account(
        "payments",
        "reports-reader",
        &[
            ("amazonaws.com/role-arn", gsa_role.as_str()),
            ("iam.gke.io/gcp-service-account", crate::helpers::GSA_EMAIL),
        ],
    ));
    cluster.add(objects::service_account(
        "payments",
        "ledger",
        &[
            ("amazonaws.com/role-arn", cluster_role.as_str()),
            ("gke-aws-verifier/identity", "cluster"),
        ],
    ));
    cluster
}

async fn audit_with(
    cluster: &testkit::kube_cluster::KubeCluster,
    moto: &Moto,
    credentials: &[(&str, String)],
) -> crate::helpers::Run {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig(dir.path(), "stand-in");
    let mut env: Vec<(&str, &str)> = credentials.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]);
    audit_env(&kubeconfig, &["--format", "json", "--aws"], &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_in_another_account_are_one_cannot_read_never_missing() {
    const B: &str = "210987654321";
    let moto = Moto::start();
    let b = credentials_of(&moto, B, "admin").await;
    // Account B holds the roles and the cluster issuer's OIDC provider; account A holds none.
    let cluster_trust_b = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
        "Principal": { "Federated": format!("arn:aws:iam::{B}:oidc-provider/{ISSUER}") },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": { "StringEquals": { format!("{ISSUER}:sub"): "system:serviceaccount:payments:ledger" } } }] });
    for (name, trust) in [
        ("reports-reader", gsa_trust(GSA_UID)),
        ("ledger-reader", cluster_trust_b),
    ] {
        aws_as(
            &moto,
            &b,
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
    aws_as(
        &moto,
        &b,
        &[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            &format!("https://{ISSUER}"),
            "--client-id-list",
            "sts.amazonaws.com",
            "--thumbprint-list",
            &"a".repeat(40),
        ],
    )
    .await;
    let cluster = cluster_with_roles_in(B).await;
    // Credentials of account A: one CannotRead naming B, nothing about its roles.
    let a: Vec<(&str, String)> = credentials().iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let run = audit_with(&cluster, &moto, &a).await;
    assert_eq!(run.codes(), vec!["CannotRead"], "{}", run.stdout);
    let finding = &run.findings()[0];
    assert_eq!(finding["object"], json!({ "kind": "AWSAccount", "name": B }));
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("arn:aws:iam::{B}:role/ledger-reader"))
            && message.contains("credentials are of account 123456789012"),
        "{message}"
    );
    let fix = finding["fix"].as_str().unwrap();
    assert!(
        fix.contains("iam:GetRole") && fix.contains("sts:GetCallerIdentity") && fix.contains("aws-iam-reader"),
        "{fix}"
    );
    // Credentials of account B: its roles agree, and the provider is found in B's account.
    let run = audit_with(&cluster, &moto, &b).await;
    let codes: Vec<String> = run.codes().into_iter().filter(|c| c != "RoleUnused").collect();
    assert!(codes.is_empty(), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_credentials_read_iam_as_the_cronjob_would() {
    let moto = agreeing_account().await;
    let cluster = clean_cluster(Mode::Cluster).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    // moto's STS takes any token; the injection writes these two variables.
    std::fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln").unwrap();
    let kubeconfig = cluster.kubeconfig(dir.path(), "stand-in");
    let tf = terraform_fixture();
    let run = audit_env(
        &kubeconfig,
        &["--format", "json", "--aws", "--terraform-output", tf.to_str().unwrap()],
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/gke-aws-audit"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ],
    )
    .await;
    assert_eq!(
        run.code, 0,
        "{}
{}",
        run.stdout, run.stderr
    );
    assert!(run.findings().is_empty(), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_google_machine_there_are_no_aws_credentials_not_a_network_problem() {
    let moto = agreeing_account().await;
    let cluster = clean_cluster(Mode::Gsa).await;
    // Google's metadata server at the EC2 metadata address: the SDK's token PUT gets 403.
    let google = testkit::emulator::Emulator::start(testkit::emulator::Config::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig(dir.path(), "stand-in");
    let run = audit_env(
        &kubeconfig,
        &["--format", "json", "--aws"],
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", google.base_url().as_str()),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ],
    )
    .await;
    let cannot = run.with_code("CannotRead");
    assert_eq!(cannot.len(), 1, "{}", run.stdout);
    assert_eq!(
        cannot[0]["object"],
        json!({ "kind": "AWSAccount", "name": "123456789012" })
    );
    let message = cannot[0]["message"].as_str().unwrap();
    assert!(
        message.contains("No AWS credentials for IAM reads here") && message.contains("--trust-policy"),
        "{message}"
    );
    assert!(!message.contains("check the network"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_the_cluster_serves_is_what_iam_must_know() {
    let moto = agreeing_account().await;
    let cluster = clean_cluster(Mode::Cluster).await;
    // The issuer the cluster serves is the one Terraform registered: nothing.
    cluster.serve_issuer(Some(&format!("https://{ISSUER}")));
    let run = audit_aws(&cluster, &moto, &[]).await;
    assert!(run.findings().is_empty(), "{}", run.stdout);
    // A cluster recreated elsewhere serves another issuer: its tokens carry that one, which
    // has no provider (the trust and Terraform name the old one).
    let served = "container.googleapis.com/v1/projects/example-project/locations/europe-west1/clusters/example";
    cluster.serve_issuer(Some(&format!("https://{served}")));
    let run = audit_aws(&cluster, &moto, &[]).await;
    let missing = run.with_code("OidcProviderMissing");
    assert_eq!(missing.len(), 1, "{}", run.stdout);
    assert_eq!(missing[0]["object"], json!({ "kind": "OIDCProvider", "name": served }));
}
