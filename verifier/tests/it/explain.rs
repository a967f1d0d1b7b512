//! `explain` and `verify --explain` against moto's IAM (IAM enforcement on while explain reads
//! it, with a platform engineer's own profile) and the STS gate (AWS's refusals from the same
//! IAM): for every classic cause of a refused AssumeRoleWithWebIdentity, STS really refuses,
//! and explain names the statement, the condition, both values and the fix. No output holds a
//! token or a key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use testkit::Moto;
use testkit::emulator::{Config, Emulator, StsGate};

use crate::common::{BUCKET, Run, closed_address, isolated_command};

const ACCOUNT: &str = "123456789012";
const ISSUER: &str = "https://container.googleapis.com/v1/projects/acme/locations/europe-west1/clusters/prod";
const HOST_PATH: &str = "container.googleapis.com/v1/projects/acme/locations/europe-west1/clusters/prod";
const OLD_ID: &str = "100000000000000000001";
const NEW_ID: &str = "100000000000000000002";
const LEDGER: &str = "system:serviceaccount:payments:ledger";

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST_PATH}")
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// The trust statement aws-workload-role writes in GSA mode.
fn gsa_statement(unique_id: &str, audience: &str) -> Value {
    json!({"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"accounts.google.com:aud": unique_id, "accounts.google.com:sub": unique_id,
            "accounts.google.com:oaud": audience}}})
}

/// The trust statement aws-workload-role writes in cluster mode.
fn cluster_statement(operator: &str, sub: &str, audience: &str) -> Value {
    json!({"Effect": "Allow", "Principal": {"Federated": provider_arn()},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {operator: {format!("{HOST_PATH}:sub"): sub, format!("{HOST_PATH}:aud"): audience}}})
}

fn policy(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn jwt(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", part(&json!({"alg": "RS256", "kid": "k"})), part(claims))
}

fn now() -> i64 {
    gke_aws_verifier::clock::unix_now()
}

/// A Google ID token of the GSA with `unique_id`, minted for `audience`.
fn google_token(unique_id: &str, audience: &str) -> String {
    jwt(
        &json!({"iss": "https://accounts.google.com", "aud": audience, "azp": unique_id, "sub": unique_id,
        "email": "ledger@acme.iam.gserviceaccount.com", "iat": now(), "exp": now() + 3600}),
    )
}

/// A projected token of the cluster's issuer for `sub`, with audience `audience`.
fn cluster_token(sub: &str, audience: &str) -> String {
    jwt(&json!({"iss": ISSUER, "sub": sub, "aud": [audience], "iat": now(), "nbf": now(), "exp": now() + 3600}))
}

/// moto as IAM and STS, the STS gate in front of it, and two people's AWS profiles: `platform`
/// may read roles and OIDC providers, `intern` may do nothing.
struct Lab {
    moto: Moto,
    gate: StsGate,
    home: tempfile::TempDir,
    secrets: Vec<String>,
}

impl Lab {
    async fn start() -> Lab {
        let moto = Moto::start();
        let gate = StsGate::start(&moto.endpoint).await.expect("gate starts");
        let home = tempfile::tempdir().unwrap();
        let mut lab = Lab {
            moto,
            gate,
            home,
            secrets: Vec::new(),
        };
        let read = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["iam:GetRole", "iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider"], "Resource": "*"}]});
        let mut credentials = String::new();
        for (user, policy) in [("platform", Some(read)), ("intern", None)] {
            lab.iam(&[("Action", "CreateUser"), ("UserName", user)]).await;
            if let Some(policy) = policy {
                let policy = policy.to_string();
                lab.iam(&[
                    ("Action", "PutUserPolicy"),
                    ("UserName", user),
                    ("PolicyName", "read"),
                    ("PolicyDocument", &policy),
                ])
                .await;
            }
            let key = lab.iam(&[("Action", "CreateAccessKey"), ("UserName", user)]).await;
            let (id, secret) = (xml(&key, "AccessKeyId"), xml(&key, "SecretAccessKey"));
            credentials.push_str(&format!(
                "[{user}]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"
            ));
            lab.secrets.extend([id, secret]);
        }
        std::fs::write(lab.home.path().join("credentials"), credentials).unwrap();
        std::fs::write(lab.home.path().join("config"), "").unwrap();
        lab
    }

    /// An IAM call as moto takes it with enforcement off (setup only).
    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut form = form_body(params);
        form.push_str("&Version=2010-05-08");
        let answer = reqwest::Client::new()
            .post(format!("{}/", self.moto.endpoint))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(form)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body = answer.text().await.unwrap();
        assert!(status.is_success(), "{params:?}: {status} {body}");
        body
    }

    async fn role(&self, name: &str, trust: &Value) -> String {
        let trust = trust.to_string();
        self.iam(&[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &trust),
        ])
        .await;
        role_arn(name)
    }

    async fn provider(&self, client_ids: &[&str]) {
        let mut params = vec![
            ("Action", "CreateOpenIDConnectProvider"),
            ("Url", ISSUER),
            ("ThumbprintList.member.1", "08745487e891c19e3078c1f2a07e452950ef36f6"),
        ];
        let names: Vec<String> = (1..=client_ids.len())
            .map(|i| format!("ClientIDList.member.{i}"))
            .collect();
        params.extend(names.iter().map(String::as_str).zip(client_ids.iter().copied()));
        self.iam(&params).await;
    }

    /// What the gate (AWS's checks) answers: the HTTP status and the error code.
    async fn assume(&self, role: &str, token: &str) -> (u16, String) {
        let body = form_body(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", "explain-test"),
            ("WebIdentityToken", token),
        ]);
        let answer = reqwest::Client::new()
            .post(self.gate.endpoint())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        let code = if status == 200 {
            String::new()
        } else {
            xml(&body, "Code")
        };
        (status, code)
    }

    /// A token in a file of its own, as a pod has it.
    fn token_file(&self, token: &str) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let folder = self
            .home
            .path()
            .join(format!("volume-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("token");
        std::fs::write(&path, token).unwrap();
        path
    }

    /// `explain ARGS --format json` as `profile` runs it, moto enforcing IAM meanwhile.
    async fn explain(&self, profile: &str, args: &[&str]) -> Run {
        let mut all = vec!["explain", "--format", "json"];
        all.extend_from_slice(args);
        self.moto.enforce_iam(true).await;
        let run = Run::of(self.command(profile, &all)).await;
        self.moto.enforce_iam(false).await;
        self.assert_no_secret(&run);
        run
    }

    fn command(&self, profile: &str, args: &[&str]) -> tokio::process::Command {
        let mut command = isolated_command(args, self.home.path());
        command
            .env("AWS_PROFILE", profile)
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.path().join("credentials"))
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env("AWS_ENDPOINT_URL_IAM", &self.moto.endpoint)
            .env("AWS_ENDPOINT_URL_STS", &self.moto.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("GCE_METADATA_HOST", closed_address());
        command
    }

    /// Temporary credentials of `account` (moto's STS hands out keys of the account of the
    /// role assumed, whether or not it exists, and keeps accounts apart by them): `AWS_*`
    /// variables for a command.
    async fn credentials_of(&self, account: &str) -> Vec<(&'static str, String)> {
        let body = form_body(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", &format!("arn:aws:iam::{account}:role/elsewhere")),
            ("RoleSessionName", "other-account"),
        ]);
        let answer = reqwest::Client::new()
            .post(format!("{}/", self.moto.endpoint))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let text = answer.text().await.unwrap();
        vec![
            ("AWS_ACCESS_KEY_ID", xml(&text, "AccessKeyId")),
            ("AWS_SECRET_ACCESS_KEY", xml(&text, "SecretAccessKey")),
            ("AWS_SESSION_TOKEN", xml(&text, "SessionToken")),
        ]
    }

    #[track_caller]
    fn assert_no_secret(&self, run: &Run) {
        for secret in &self.secrets {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "a key leaked: {run:?}"
            );
        }
    }
}

fn form_body(params: &[(&str, &str)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(params);
    form.finish()
}

fn xml(body: &str, tag: &str) -> String {
    let start = body
        .find(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("no {tag} in {body}"))
        + tag.len()
        + 2;
    let end = body[start..].find(&format!("</{tag}>")).unwrap() + start;
    body[start..end].to_owned()
}

/// The first refusing finding's text, after checking the exit code and the verdict.
#[track_caller]
fn refusing(run: &Run, verdict: &str) -> (Value, String) {
    let report = run.json();
    assert_eq!(report["verdict"], verdict, "{report:#}\n{}", run.stderr);
    assert_eq!(run.code, if verdict == "accept" { 0 } else { 4 }, "{run:?}");
    let first = report["findings"][0]["text"].as_str().unwrap_or_default().to_owned();
    (report, first)
}

fn fixes(report: &Value) -> String {
    report["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gsa_mode_a_recreated_gsa_shows_both_unique_ids_and_the_reapply() {
    let lab = Lab::start().await;
    let role = lab
        .role(
            "ledger-reader",
            &policy(json!([gsa_statement(OLD_ID, "sts.amazonaws.com")])),
        )
        .await;
    let token = google_token(NEW_ID, "sts.amazonaws.com");
    assert_eq!(lab.assume(&role, &token).await, (403, "AccessDenied".to_owned()));
    let file = lab.token_file(&token);
    let run = lab
        .explain("platform", &["--token-file", path(&file), "--role-arn", &role])
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert_eq!(report["sts_error"], "AccessDenied");
    assert_eq!(
        report["not_evaluated"],
        json!(["Organizations resource control policies", "VPC endpoint policies"])
    );
    assert!(
        first.contains("StringEquals accounts.google.com:aud") && first.contains(OLD_ID) && first.contains(NEW_ID),
        "{first}"
    );
    let fixes = fixes(&report);
    assert!(
        fixes.contains("recreated") && fixes.contains("make apply") && fixes.contains(OLD_ID),
        "{fixes}"
    );
    // :oaud held: it is among what held.
    let held: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["result"] == "holds")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert!(held.iter().any(|h| h.contains("accounts.google.com:oaud")), "{held:?}");
    // The text form puts the refusing condition first.
    let mut command = lab.command(
        "platform",
        &["explain", "--token-file", path(&file), "--role-arn", &role],
    );
    lab.moto.enforce_iam(true).await;
    command.env("VERIFY_FORMAT", "text");
    let text = Run::of(command).await;
    lab.assert_no_secret(&text);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        text.stdout.contains(
            "\nnot evaluated: Organizations resource control policies, VPC endpoint policies (the verdict covers the role's trust policy and the OIDC provider)\n"
        ),
        "{}",
        text.stdout
    );
    assert!(
        lines[0].starts_with(
            "REFUSE: STS would refuse this token for arn:aws:iam::123456789012:role/ledger-reader (AccessDenied)"
        ),
        "{}",
        text.stdout
    );
    assert_eq!(lines[1], "refusing:", "{}", text.stdout);
    assert!(lines[2].contains("accounts.google.com:aud"), "{}", text.stdout);
    assert_eq!(text.code, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gsa_mode_swapped_aud_and_oaud_are_named_as_swapped() {
    let lab = Lab::start().await;
    let swapped = json!({"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"accounts.google.com:aud": "sts.amazonaws.com", "accounts.google.com:oaud": OLD_ID}}});
    let role = lab.role("swapped", &policy(json!([swapped]))).await;
    let token = google_token(OLD_ID, "sts.amazonaws.com");
    assert_eq!(lab.assume(&role, &token).await, (403, "AccessDenied".to_owned()));
    let run = lab
        .explain(
            "platform",
            &["--token-file", path(&lab.token_file(&token)), "--role-arn", &role],
        )
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert!(
        first.contains("accounts.google.com:aud: expected sts.amazonaws.com, the token's azp is 100000000000000000001"),
        "{first}"
    );
    assert!(fixes(&report).contains("swapped"), "{}", fixes(&report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_that_differs_in_both_modes() {
    let lab = Lab::start().await;
    // GSA mode: the role pins another audience in :oaud.
    let role = lab
        .role("gsa-audience", &policy(json!([gsa_statement(OLD_ID, "ledger-aws")])))
        .await;
    let token = google_token(OLD_ID, "sts.amazonaws.com");
    assert_eq!(lab.assume(&role, &token).await, (403, "AccessDenied".to_owned()));
    let run = lab
        .explain(
            "platform",
            &["--token-file", path(&lab.token_file(&token)), "--role-arn", &role],
        )
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert!(
        first.contains("accounts.google.com:oaud: expected ledger-aws, the token's aud is sts.amazonaws.com"),
        "{first}"
    );
    assert!(fixes(&report).contains("--audience ledger-aws"), "{}", fixes(&report));

    // Cluster mode: the provider knows both audiences, the role pins the other one.
    lab.provider(&["sts.amazonaws.com", "vault"]).await;
    let role = lab
        .role(
            "cluster-audience",
            &policy(json!([cluster_statement("StringEquals", LEDGER, "sts.amazonaws.com")])),
        )
        .await;
    let token = cluster_token(LEDGER, "vault");
    assert_eq!(lab.assume(&role, &token).await, (403, "AccessDenied".to_owned()));
    let run = lab
        .explain(
            "platform",
            &["--token-file", path(&lab.token_file(&token)), "--role-arn", &role],
        )
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert!(
        first.contains(&format!(
            "{HOST_PATH}:aud: expected sts.amazonaws.com, the token's aud is vault"
        )),
        "{first}"
    );
    assert!(
        fixes(&report).contains("serviceAccountToken volume's audience"),
        "{}",
        fixes(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_a_misspelled_namespace_names_the_terraform_input() {
    let lab = Lab::start().await;
    lab.provider(&["sts.amazonaws.com"]).await;
    let misspelled = "system:serviceaccount:payment:ledger";
    let role = lab
        .role(
            "ledger",
            &policy(json!([cluster_statement(
                "StringEquals",
                misspelled,
                "sts.amazonaws.com"
            )])),
        )
        .await;
    let token = cluster_token(LEDGER, "sts.amazonaws.com");
    assert_eq!(lab.assume(&role, &token).await, (403, "AccessDenied".to_owned()));
    let run = lab
        .explain(
            "platform",
            &["--token-file", path(&lab.token_file(&token)), "--role-arn", &role],
        )
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert!(
        first.contains(&format!(
            "{HOST_PATH}:sub: expected {misspelled}, the token's sub is {LEDGER}"
        )),
        "{first}"
    );
    let fixes = fixes(&report);
    assert!(
        fixes.contains("namespace \"payment\"") || fixes.contains("namespace payment"),
        "{fixes}"
    );
    assert!(fixes.contains("workloads.NAME.namespace"), "{fixes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_a_provider_without_the_client_id_or_none_at_all() {
    let lab = Lab::start().await;
    let role = lab
        .role(
            "ledger",
            &policy(json!([cluster_statement("StringEquals", LEDGER, "sts.amazonaws.com")])),
        )
        .await;
    let token = cluster_token(LEDGER, "sts.amazonaws.com");
    let file = lab.token_file(&token);
    // No provider at all.
    assert_eq!(
        lab.assume(&role, &token).await,
        (400, "InvalidIdentityToken".to_owned())
    );
    let run = lab
        .explain("platform", &["--token-file", path(&file), "--role-arn", &role])
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert_eq!(report["sts_error"], "InvalidIdentityToken");
    assert!(first.contains("no IAM OIDC provider"), "{first}");
    assert!(fixes(&report).contains("aws-gke-oidc-provider"), "{}", fixes(&report));
    // A provider that lists another client ID.
    lab.provider(&["vault"]).await;
    assert_eq!(
        lab.assume(&role, &token).await,
        (400, "InvalidIdentityToken".to_owned())
    );
    let run = lab
        .explain("platform", &["--token-file", path(&file), "--role-arn", &role])
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert!(
        first.contains("audience: token aud sts.amazonaws.com is not among the client IDs vault"),
        "{first}"
    );
    assert!(fixes(&report).contains("client_ids"), "{}", fixes(&report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_accepts_a_deny_statement_and_an_unknown_operator() {
    let lab = Lab::start().await;
    lab.provider(&["sts.amazonaws.com"]).await;
    let token = cluster_token(LEDGER, "sts.amazonaws.com");
    let file = lab.token_file(&token);
    let explain = |role: String| {
        let file = file.clone();
        let lab = &lab;
        async move {
            lab.explain("platform", &["--token-file", path(&file), "--role-arn", &role])
                .await
        }
    };
    // StringLike on a namespace; upper-case condition keys; two statements, the second allows.
    let like = cluster_statement("StringLike", "system:serviceaccount:payments:*", "sts.amazonaws.com");
    let upper = json!({"Effect": "Allow", "Principal": {"Federated": provider_arn()}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{}:SUB", HOST_PATH.to_uppercase()): LEDGER}}});
    let other = cluster_statement("StringEquals", "system:serviceaccount:web:app", "sts.amazonaws.com");
    let second = cluster_statement("StringEquals", LEDGER, "sts.amazonaws.com");
    for (name, statements) in [
        ("like", json!([like])),
        ("upper", json!([upper])),
        ("second", json!([other, second])),
    ] {
        let role = lab.role(name, &policy(statements)).await;
        assert_eq!(lab.assume(&role, &token).await.0, 200, "{name}");
        let run = explain(role).await;
        let (report, _) = refusing(&run, "accept");
        assert!(report["fixes"].as_array().unwrap().is_empty(), "{name}: {report:#}");
        assert_eq!(report["sts_error"], Value::Null);
    }
    // An explicit Deny wins over the Allow.
    let deny = json!({"Effect": "Deny", "Sid": "NoPayments", "Principal": {"Federated": provider_arn()},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {format!("{HOST_PATH}:sub"): "system:serviceaccount:payments:*"}}});
    let role = lab
        .role(
            "denied",
            &policy(json!([
                cluster_statement("StringEquals", LEDGER, "sts.amazonaws.com"),
                deny
            ])),
        )
        .await;
    assert_eq!(lab.assume(&role, &token).await, (403, "AccessDenied".to_owned()));
    let (report, first) = refusing(&explain(role).await, "refuse");
    assert!(
        first.starts_with("statement 1 (Deny NoPayments): applies, an explicit Deny"),
        "{first}"
    );
    assert!(fixes(&report).contains("denies explicitly"), "{}", fixes(&report));
    // An operator explain does not know, on a key it knows: not evaluated, never guessed; the
    // gate refuses. (A key it does not know is not evaluated before the operator is even read.)
    let unknown = json!({"Effect": "Allow", "Principal": {"Federated": provider_arn()}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"NumericEquals": {format!("{HOST_PATH}:sub"): "1"}}});
    let role = lab.role("unknown", &policy(json!([unknown]))).await;
    assert_eq!(lab.assume(&role, &token).await, (403, "AccessDenied".to_owned()));
    let run = explain(role).await;
    let (report, first) = refusing(&run, "not_evaluated");
    assert!(first.contains(&format!("NumericEquals {HOST_PATH}:sub")), "{first}");
    assert!(
        report
            .to_string()
            .contains("operator NumericEquals is not evaluated here"),
        "{report:#}"
    );
    assert!(fixes(&report).contains("Check by hand"), "{}", fixes(&report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_reads_use_the_callers_profile_and_say_what_it_lacks() {
    let lab = Lab::start().await;
    let role = lab
        .role(
            "ledger-reader",
            &policy(json!([gsa_statement(OLD_ID, "sts.amazonaws.com")])),
        )
        .await;
    let file = lab.token_file(&google_token(OLD_ID, "sts.amazonaws.com"));
    let args = ["--token-file", path(&file), "--role-arn", &role];
    let run = lab.explain("platform", &args).await;
    refusing(&run, "accept");
    // A profile IAM enforcement refuses the reads.
    let run = lab.explain("intern", &args).await;
    assert_eq!(run.code, 4, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["code"], "IamAccessDenied", "{error}");
    let hint = error["hint"].as_str().unwrap();
    assert!(
        hint.contains("AWS_PROFILE=intern") && hint.contains("iam:GetRole"),
        "{hint}"
    );
    // A profile that does not exist: no credentials at all.
    let run = lab.explain("ghost", &args).await;
    assert_eq!(run.code, 4, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["code"], "IamNoCredentials", "{error}");
    // A role that does not exist: STS refuses it too.
    let missing = role_arn("nobody");
    assert_eq!(
        lab.assume(&missing, &google_token(OLD_ID, "sts.amazonaws.com")).await.0,
        403
    );
    let run = lab
        .explain("platform", &["--token-file", path(&file), "--role-arn", &missing])
        .await;
    let (report, first) = refusing(&run, "refuse");
    assert!(first.contains("no such role"), "{first}");
    assert!(fixes(&report).contains("does not exist"), "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_of_another_account_are_iam_wrong_account_never_a_missing_role() {
    let lab = Lab::start().await;
    // The role is in 123456789012; the caller's keys are of 210987654321, which has a role of
    // the same name (GetRole would answer it) and none of the other's name.
    let role = lab
        .role(
            "ledger-reader",
            &policy(json!([gsa_statement(OLD_ID, "sts.amazonaws.com")])),
        )
        .await;
    let other = lab.credentials_of("210987654321").await;
    let file = lab.token_file(&google_token(OLD_ID, "sts.amazonaws.com"));
    for role in [role.clone(), role_arn("only-in-123456789012")] {
        let mut command = lab.command(
            "unused",
            &[
                "explain",
                "--format",
                "json",
                "--token-file",
                path(&file),
                "--role-arn",
                &role,
            ],
        );
        command.env_remove("AWS_PROFILE");
        for (name, value) in &other {
            command.env(name, value);
        }
        let run = Run::of(command).await;
        assert_eq!(run.code, 4, "{run:?}");
        let report = run.json();
        let error = &report["error"];
        assert_eq!(error["code"], "IamWrongAccount", "{report:#}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("of account 210987654321") && message.contains("in account 123456789012"),
            "{message}"
        );
        let hint = error["hint"].as_str().unwrap();
        assert!(
            hint.contains("AWS_PROFILE") && hint.contains("--trust-policy FILE"),
            "{hint}"
        );
        assert!(
            report["verdict"].is_null(),
            "no verdict about a role it cannot see: {report:#}"
        );
        assert!(!run.stdout.contains("no such role"), "{}", run.stdout);
        for (_, value) in &other {
            assert!(!run.stdout.contains(value.as_str()) && !run.stderr.contains(value.as_str()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_google_machine_the_metadata_server_is_no_aws_credentials_not_the_network() {
    let lab = Lab::start().await;
    let role = lab
        .role(
            "ledger-reader",
            &policy(json!([gsa_statement(OLD_ID, "sts.amazonaws.com")])),
        )
        .await;
    let file = lab.token_file(&google_token(OLD_ID, "sts.amazonaws.com"));
    // The metadata emulator answers as Google's metadata server does at 169.254.169.254: the
    // SDK's IMDSv2 token request (a PUT without Metadata-Flavor: Google) gets 403.
    let google = Emulator::start(Config::default()).await.unwrap();
    let mut command = lab.command(
        "unused",
        &[
            "explain",
            "--format",
            "json",
            "--token-file",
            path(&file),
            "--role-arn",
            &role,
        ],
    );
    command
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", google.base_url());
    let run = Run::of(command).await;
    assert_eq!(run.code, 4, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["code"], "IamNoCredentials", "{error:#}");
    let hint = error["hint"].as_str().unwrap();
    assert!(
        hint.starts_with("No AWS credentials for IAM reads here")
            && hint.contains("AWS_PROFILE")
            && hint.contains("--trust-policy"),
        "{hint}"
    );
    assert!(!run.stdout.contains("check the network"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_from_the_aws_clis_get_role_and_a_claims_fixture() {
    let lab = Lab::start().await;
    let role = lab
        .role(
            "ledger-reader",
            &policy(json!([gsa_statement(OLD_ID, "sts.amazonaws.com")])),
        )
        .await;
    // The real aws CLI, with the platform profile, under IAM enforcement.
    lab.moto.enforce_iam(true).await;
    let output = tokio::process::Command::new("aws")
        .args([
            "iam",
            "get-role",
            "--role-name",
            "ledger-reader",
            "--output",
            "json",
            "--region",
            "us-east-1",
        ])
        .env("AWS_PROFILE", "platform")
        .env("AWS_SHARED_CREDENTIALS_FILE", lab.home.path().join("credentials"))
        .env("AWS_CONFIG_FILE", lab.home.path().join("config"))
        .env("AWS_ENDPOINT_URL", &lab.moto.endpoint)
        .output()
        .await
        .expect("aws CLI runs: make venv and put .venv/bin on PATH");
    lab.moto.enforce_iam(false).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let get_role = lab.home.path().join("get-role.json");
    std::fs::write(&get_role, &output.stdout).unwrap();
    let claims = lab.home.path().join("claims.json");
    let token_claims =
        json!({"iss": "https://accounts.google.com", "sub": NEW_ID, "azp": NEW_ID, "aud": "sts.amazonaws.com"});
    std::fs::write(&claims, token_claims.to_string()).unwrap();
    // No AWS call: the intern's profile and a closed IAM endpoint change nothing.
    let mut command = lab.command(
        "intern",
        &[
            "explain",
            "--format",
            "json",
            "--token-claims",
            path(&claims),
            "--trust-policy",
            path(&get_role),
        ],
    );
    command.env("AWS_ENDPOINT_URL_IAM", format!("http://{}", closed_address()));
    let run = Run::of(command).await;
    let (report, first) = refusing(&run, "refuse");
    assert_eq!(report["trust_source"], "aws iam get-role");
    assert!(
        first.contains("accounts.google.com:aud") && first.contains(NEW_ID),
        "{first}"
    );
    // The same document URL-encoded, as IAM's API returns it.
    let encoded = lab.home.path().join("encoded.txt");
    let document = policy(json!([gsa_statement(NEW_ID, "sts.amazonaws.com")])).to_string();
    std::fs::write(
        &encoded,
        form_body(&[("x", &document)])
            .trim_start_matches("x=")
            .replace('+', "%20"),
    )
    .unwrap();
    let run = Run::of(lab.command(
        "intern",
        &[
            "explain",
            "--format",
            "json",
            "--token-claims",
            path(&claims),
            "--trust-policy",
            path(&encoded),
        ],
    ))
    .await;
    refusing(&run, "accept");
    let _ = role;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_report_is_explained_and_verify_explain_puts_it_in_the_report() {
    let lab = Lab::start().await;
    let bucket = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]});
    let role = lab
        .role(
            "ledger-reader",
            &policy(json!([gsa_statement(OLD_ID, "sts.amazonaws.com")])),
        )
        .await;
    let bucket = bucket.to_string();
    lab.iam(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "ledger-reader"),
        ("PolicyName", "s3"),
        ("PolicyDocument", &bucket),
    ])
    .await;
    // The GSA was recreated: the metadata server now mints tokens with the new unique id.
    let emulator = Emulator::start(Config {
        unique_id: NEW_ID.to_owned(),
        ..Config::default()
    })
    .await
    .unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--format",
            "json",
            "--bucket",
            BUCKET,
            "--role-arn",
            &role,
            "--region",
            "us-east-1",
        ];
        args.extend_from_slice(extra);
        let mut command = lab.command("platform", &args);
        command
            .env("GCE_METADATA_HOST", emulator.host())
            .env("AWS_ENDPOINT_URL_STS", lab.gate.endpoint())
            .env("AWS_ENDPOINT_URL_S3", &lab.moto.endpoint);
        Run::of(command)
    };
    let run = verify(&[]).await;
    let report = run.expect_failure(4, "AccessDenied");
    let report_file = lab.home.path().join("report.json");
    std::fs::write(&report_file, &run.stdout).unwrap();
    assert_eq!(run.json()["role_arn"], role);
    let _ = report;
    // The report piped in: the claims and the role come from it.
    let mut command = lab.command("platform", &["explain", "--format", "json", "--report", "-"]);
    command.stdin(std::fs::File::open(&report_file).unwrap());
    lab.moto.enforce_iam(true).await;
    let explained = Run::of(command).await;
    lab.moto.enforce_iam(false).await;
    lab.assert_no_secret(&explained);
    let (report, first) = refusing(&explained, "refuse");
    assert_eq!(
        (report["claims_source"].as_str(), report["role_arn"].as_str()),
        (Some("report"), Some(role.as_str()))
    );
    assert!(
        first.contains("accounts.google.com:aud") && first.contains(NEW_ID),
        "{first}"
    );
    // verify --explain: the same explanation inside verify's report (moto not enforcing: the
    // gate reads IAM as STS does).
    let run = verify(&["--explain"]).await;
    lab.assert_no_secret(&run);
    let error = run.expect_failure(4, "AccessDenied");
    let _ = error;
    let report = run.json();
    assert_eq!(report["explanation"]["verdict"], "refuse", "{report:#}");
    let first = report["explanation"]["findings"][0]["text"].as_str().unwrap();
    assert!(
        first.contains("accounts.google.com:aud") && first.contains(OLD_ID),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_before_any_call() {
    let lab = Lab::start().await;
    let not_json = lab.home.path().join("policy.txt");
    std::fs::write(&not_json, "{not json").unwrap();
    let claims = lab.home.path().join("claims.json");
    std::fs::write(&claims, r#"{"iss":"https://accounts.google.com","sub":"1","aud":"a"}"#).unwrap();
    for (args, field) in [
        (
            vec!["--token-claims", path(&claims), "--trust-policy", path(&not_json)],
            "--trust-policy",
        ),
        (vec!["--token-claims", path(&claims)], "--role-arn"),
        (
            vec!["--token-claims", path(&claims), "--role-arn", "ledger"],
            "--role-arn",
        ),
        (
            vec!["--report", path(&not_json), "--role-arn", &role_arn("r")],
            "--report",
        ),
        (
            vec!["--token-claims", path(lab.home.path()), "--role-arn", &role_arn("r")],
            "--token-claims",
        ),
    ] {
        let run = lab.explain("platform", &args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let error = &run.json()["error"];
        assert_eq!(error["code"], "InvalidInput", "{args:?}: {error}");
        assert!(error["message"].as_str().unwrap().contains(field), "{args:?}: {error}");
    }
}

/// IAM as a hostile peer: whole answers for GetRole, the provider listing and the provider,
/// with `junk` appended to the answer of `spoiled` (`None`: every answer whole).
async fn hostile_iam(trust: &Value, spoiled: Option<&'static str>) -> testkit::hostile::HostilePeer {
    let document = form_body(&[("x", &trust.to_string())])
        .trim_start_matches("x=")
        .replace('+', "%20");
    let ns = "https://iam.amazonaws.com/doc/2010-05-08/";
    let wrap = move |action: &str, result: String| {
        format!(
            "<{action}Response xmlns=\"{ns}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"
        )
    };
    let get_role = wrap(
        "GetRole",
        format!(
            "<Role><Path>/</Path><RoleName>ledger-reader</RoleName><RoleId>AROAHOSTILE</RoleId>\
             <Arn>{}</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate>\
             <AssumeRolePolicyDocument>{document}</AssumeRolePolicyDocument></Role>",
            role_arn("ledger-reader")
        ),
    );
    let list = wrap(
        "ListOpenIDConnectProviders",
        format!(
            "<OpenIDConnectProviderList><member><Arn>{}</Arn></member></OpenIDConnectProviderList>",
            provider_arn()
        ),
    );
    let provider = wrap(
        "GetOpenIDConnectProvider",
        format!(
            "<ClientIDList><member>sts.amazonaws.com</member></ClientIDList><Url>{HOST_PATH}</Url>\
             <ThumbprintList/><CreateDate>2026-01-01T00:00:00Z</CreateDate>"
        ),
    );
    let caller = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
         <Arn>arn:aws:iam::{ACCOUNT}:user/platform</Arn><UserId>AIDAHOSTILE</UserId><Account>{ACCOUNT}</Account>\
         </GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    );
    testkit::hostile::HostilePeer::start(move |seen| {
        let (action, body) = if seen.body.contains("Action=GetCallerIdentity") {
            ("GetCallerIdentity", &caller)
        } else if seen.body.contains("Action=GetRole") {
            ("GetRole", &get_role)
        } else if seen.body.contains("Action=ListOpenIDConnectProviders") {
            ("ListOpenIDConnectProviders", &list)
        } else if seen.body.contains("Action=GetOpenIDConnectProvider") {
            ("GetOpenIDConnectProvider", &provider)
        } else {
            return testkit::hostile::Reply::new(400, "unexpected");
        };
        let body = if spoiled == Some(action) {
            format!("{body}JUNK")
        } else {
            body.clone()
        };
        testkit::hostile::Reply::new(200, body).header("content-type", "text/xml")
    })
    .await
}

/// `explain --format json` of `claims` against the role that `iam` serves, with static keys.
async fn explain_against(iam: &testkit::hostile::HostilePeer, claims: &Value) -> Run {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("claims.json");
    std::fs::write(&file, claims.to_string()).unwrap();
    let role = role_arn("ledger-reader");
    let mut command = isolated_command(
        &[
            "explain",
            "--format",
            "json",
            "--token-claims",
            path(&file),
            "--role-arn",
            &role,
        ],
        home.path(),
    );
    command
        .env("AWS_ACCESS_KEY_ID", "AKIAHOSTILEPEER")
        .env("AWS_SECRET_ACCESS_KEY", "hostile-secret-key")
        .env("AWS_ENDPOINT_URL_IAM", iam.endpoint())
        .env("AWS_ENDPOINT_URL_STS", iam.endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("GCE_METADATA_HOST", closed_address());
    let run = Run::of(command).await;
    assert!(!run.stdout.contains("hostile-secret-key") && !run.stderr.contains("hostile-secret-key"));
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_iam_answers_with_junk_after_them_explain_nothing() {
    let gsa_trust = policy(json!([gsa_statement(NEW_ID, "sts.amazonaws.com")]));
    let gsa_claims =
        json!({"iss": "https://accounts.google.com", "sub": NEW_ID, "azp": NEW_ID, "aud": "sts.amazonaws.com"});
    let cluster_trust = policy(json!([cluster_statement("StringEquals", LEDGER, "sts.amazonaws.com")]));
    let cluster_claims = json!({"iss": ISSUER, "sub": LEDGER, "aud": "sts.amazonaws.com"});
    // Whole answers: the peer is a faithful IAM and the token is accepted.
    for (trust, claims) in [(&gsa_trust, &gsa_claims), (&cluster_trust, &cluster_claims)] {
        let iam = hostile_iam(trust, None).await;
        refusing(&explain_against(&iam, claims).await, "accept");
    }
    for (trust, claims, spoiled) in [
        (&gsa_trust, &gsa_claims, "GetRole"),
        (&cluster_trust, &cluster_claims, "ListOpenIDConnectProviders"),
        (&cluster_trust, &cluster_claims, "GetOpenIDConnectProvider"),
    ] {
        let iam = hostile_iam(trust, Some(spoiled)).await;
        let run = explain_against(&iam, claims).await;
        assert_eq!(run.code, 4, "{spoiled}: {run:?}");
        let report = run.json();
        let error = &report["error"];
        assert_eq!(error["code"], "IamBadResponse", "{spoiled}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(spoiled) && message.contains("IAM answered 200 but the answer's XML"),
            "{spoiled}: {error:#}"
        );
        assert!(
            report["verdict"].is_null() && report["explanation"].is_null(),
            "{spoiled}: a verdict from a spoiled answer: {report:#}"
        );
        assert!(
            iam.seen().iter().any(|s| s.body.contains(&format!("Action={spoiled}"))),
            "{spoiled}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_token_claims_echo_only_the_claims_sts_reads_never_a_token_or_a_huge_field() {
    let home = tempfile::tempdir().unwrap();
    let trust = home.path().join("get-role.json");
    let get_role = json!({"Role": {"RoleName": "ledger-reader", "Arn": role_arn("ledger-reader"),
        "AssumeRolePolicyDocument": policy(json!([gsa_statement(OLD_ID, "sts.amazonaws.com")]))}});
    std::fs::write(&trust, get_role.to_string()).unwrap();
    let huge = "H".repeat(100 * 1024);
    let token = google_token(NEW_ID, "sts.amazonaws.com");
    let claims = home.path().join("claims.json");
    let given = json!({"iss": "https://accounts.google.com", "sub": NEW_ID, "azp": NEW_ID, "aud": "sts.amazonaws.com",
        "email": "ledger@acme.iam.gserviceaccount.com", "token": token, "access_token": "ya29.a0AccessTokenSecret",
        "padding": huge});
    std::fs::write(&claims, given.to_string()).unwrap();
    let role = role_arn("ledger-reader");
    let args = [
        "explain",
        "--token-claims",
        path(&claims),
        "--trust-policy",
        path(&trust),
        "--role-arn",
        &role,
    ];
    for format in ["json", "text"] {
        let mut command = isolated_command(&args, home.path());
        command
            .env("VERIFY_FORMAT", format)
            .env("GCE_METADATA_HOST", closed_address())
            .env("AWS_ENDPOINT_URL_IAM", format!("http://{}", closed_address()));
        // Run::of also fails on anything JWT-shaped in either stream.
        let run = Run::of(command).await;
        assert_eq!(run.code, 4, "{format}: {run:?}");
        for leaked in [
            "ya29.a0AccessTokenSecret",
            "HHHHHHHH",
            "access_token",
            "padding",
            &token[..40],
        ] {
            assert!(
                !run.stdout.contains(leaked) && !run.stderr.contains(leaked),
                "{format}: {leaked} reached the output"
            );
        }
        assert!(run.stdout.len() < 16 * 1024, "{format}: {} bytes", run.stdout.len());
        if format == "json" {
            let report = run.json();
            assert_eq!(
                report["claims"],
                json!({"iss": "https://accounts.google.com", "sub": NEW_ID, "azp": NEW_ID, "aud": "sts.amazonaws.com",
                    "email": "ledger@acme.iam.gserviceaccount.com"})
            );
        } else {
            assert!(run.stdout.contains(&format!("sub={NEW_ID}")), "{}", run.stdout);
        }
    }
    // A claim STS reads that no real token could hold is bad input naming it.
    std::fs::write(
        &claims,
        json!({"iss": "https://accounts.google.com", "sub": huge}).to_string(),
    )
    .unwrap();
    let mut command = isolated_command(&args, home.path());
    command.env("VERIFY_FORMAT", "json");
    let run = Run::of(command).await;
    assert_eq!(run.code, 2, "exit code: {} bytes out", run.stdout.len());
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.len() < 8 * 1024 && said.contains("--token-claims") && said.contains("sub"),
        "{said:.400}"
    );
}

/// A pod with several roles, in cluster mode: one projected token, `[default]` for the role the
/// environment names and `[profile audit]` for a named role whose trust pins a misspelled
/// namespace. `explain --profile audit` explains that role with the pod's projected token
/// (the profile's web_identity_token_file): the metadata server is closed, and the
/// environment's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (a default container's) are not
/// read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_roles_refusal_is_explained_with_the_profiles_own_token_and_role() {
    let lab = Lab::start().await;
    lab.provider(&["sts.amazonaws.com"]).await;
    let default_role = lab
        .role(
            "ledger",
            &policy(json!([cluster_statement("StringEquals", LEDGER, "sts.amazonaws.com")])),
        )
        .await;
    let misspelled = "system:serviceaccount:payment:ledger";
    let audit_role = lab
        .role(
            "ledger-audit",
            &policy(json!([cluster_statement(
                "StringEquals",
                misspelled,
                "sts.amazonaws.com"
            )])),
        )
        .await;
    let token = cluster_token(LEDGER, "sts.amazonaws.com");
    assert_eq!(lab.assume(&default_role, &token).await.0, 200);
    assert_eq!(lab.assume(&audit_role, &token).await, (403, "AccessDenied".to_owned()));
    let projected = lab.token_file(&token);
    let config = lab.home.path().join("pod-aws-config");
    let profile = |name: &str, role: &str| gke_aws_verifier::profiles::Profile {
        name: name.into(),
        role_arn: role.into(),
        web_identity_token_file: path(&projected).into(),
        role_session_name: Some("ledger-7f9c".into()),
        region: Some("us-east-1".into()),
    };
    let text =
        gke_aws_verifier::profiles::try_render(&[profile("default", &default_role), profile("audit", &audit_role)])
            .unwrap();
    std::fs::write(&config, text).unwrap();
    // What a default container of the pod also has: the default role and a token in the env
    // (here a Google token, which would explain nothing about the audit role).
    let google = lab.token_file(&google_token(OLD_ID, "sts.amazonaws.com"));
    let explain = |args: &[&str], config_by_env: bool| {
        let mut all = vec!["explain", "--format", "json"];
        all.extend_from_slice(args);
        let mut command = lab.command("platform", &all);
        command
            .env("AWS_ROLE_ARN", &default_role)
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &google);
        if config_by_env {
            command.env("AWS_CONFIG_FILE", &config);
        }
        async {
            lab.moto.enforce_iam(true).await;
            let run = Run::of(command).await;
            lab.moto.enforce_iam(false).await;
            lab.assert_no_secret(&run);
            run
        }
    };
    for config_by_env in [false, true] {
        let args: Vec<&str> = if config_by_env {
            vec!["--profile", "audit"]
        } else {
            vec!["--profile", "audit", "--config-file", path(&config)]
        };
        let run = explain(&args, config_by_env).await;
        let (report, first) = refusing(&run, "refuse");
        assert_eq!(report["profile"], "audit", "{report:#}");
        assert_eq!(report["role_arn"], audit_role.as_str());
        assert_eq!(report["claims_source"], "token file");
        assert_eq!(report["claims"]["sub"], LEDGER);
        assert!(
            first.contains(&format!(
                "{HOST_PATH}:sub: expected {misspelled}, the token's sub is {LEDGER}"
            )),
            "{first}"
        );
    }
    // The default profile, with the same token: STS accepts it.
    let run = explain(&["--profile", "default", "--config-file", path(&config)], false).await;
    let (report, _) = refusing(&run, "accept");
    assert_eq!(report["role_arn"], default_role.as_str());
    // Without --profile, the environment's role and token, as before.
    let run = explain(&[], false).await;
    let (report, _) = refusing(&run, "refuse");
    assert_eq!(report["role_arn"], default_role.as_str());
    assert_eq!(report["claims"]["iss"], "https://accounts.google.com");
    assert_eq!(report.get("profile"), None);
    // Bad input, before any call: each names the flag at fault.
    for (args, field) in [
        (vec!["--profile", "archive"], "--profile"),
        (
            vec!["--profile", "audit", "--role-arn", &role_arn("other")],
            "--profile",
        ),
        (vec!["--profile", "a b"], "--profile"),
    ] {
        let run = explain(&args, true).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let error = &run.json()["error"];
        assert_eq!(error["code"], "InvalidInput", "{args:?}: {error}");
        assert!(error["message"].as_str().unwrap().contains(field), "{args:?}: {error}");
    }
    let unknown = explain(&["--profile", "archive"], true).await;
    assert!(
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the file has default, audit"),
        "{unknown:?}"
    );
    let clash = explain(&["--profile", "audit", "--token-file", path(&google)], true).await;
    assert_eq!(clash.code, 2, "{clash:?}");
    assert!(clash.stderr.contains("cannot be used with"), "{clash:?}");
    // The text form names the profile beside the claims.
    let mut command = lab.command("platform", &["explain", "--profile", "audit"]);
    command.env("AWS_CONFIG_FILE", &config);
    lab.moto.enforce_iam(true).await;
    let text = Run::of(command).await;
    lab.moto.enforce_iam(false).await;
    assert_eq!(text.code, 4, "{text:?}");
    assert!(
        text.stdout.contains("claims (token file of profile audit): iss="),
        "{}",
        text.stdout
    );
}
