//! A pod with two roles: one token, and a shared AWS config file with one web identity profile
//! per role (`[default]` reads `team-data`, `[profile other]` reads `other-team-data`). moto
//! enforces IAM, so each role may read only its own bucket. The token is a Google ID token kept
//! by `token-file --once` (GSA mode), or a projected token of the cluster issuer (cluster mode).

use std::path::{Path, PathBuf};

use crate::common::{BIN, BUCKET, Chain, OTHER_BUCKET, Run, closed_address};
use gke_aws_verifier::profiles::{self, Profile};
use testkit::Operation;
use testkit::emulator::{ClusterIssuer, IssuerConfig, KsaToken};

/// The chain with a second role, `other-reader`, that may list only the other bucket.
struct Pod {
    chain: Chain,
    other_role_arn: String,
}

impl Pod {
    async fn start() -> Pod {
        let chain = Chain::start().await;
        // moto checks its own setup calls too while enforcing: lift it for the new role.
        chain.moto.enforce_iam(false).await;
        let other_role_arn = chain
            .moto
            .create_role(
                "other-reader",
                &["s3:ListBucket"],
                &[&format!("arn:aws:s3:::{OTHER_BUCKET}")],
            )
            .await;
        chain.moto.enforce_iam(true).await;
        Pod { chain, other_role_arn }
    }

    /// The Google ID token in a file, as the token-file init container keeps it.
    async fn keep_token(&self) -> PathBuf {
        let path = self.chain.token_path();
        let run = Run::helper(
            self.chain
                .command(&["token-file", "--once", "--path", path.to_str().unwrap()]),
        )
        .await;
        assert_eq!(run.code, 0, "{run:?}");
        path
    }

    /// The pod's config file, as the webhook renders it, with `extra` sections after it.
    fn config(&self, token_file: &Path, extra: &str) -> PathBuf {
        let profile = |name: &str, role_arn: &str| Profile {
            name: name.into(),
            role_arn: role_arn.into(),
            web_identity_token_file: token_file.display().to_string(),
            role_session_name: Some(format!("pod-{name}")),
            region: Some("us-east-1".into()),
        };
        let text = profiles::try_render(&[
            profile("default", &self.chain.role_arn),
            profile("other", &self.other_role_arn),
        ])
        .unwrap();
        let path = self.chain.home.path().join("aws-config");
        std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
        path
    }

    /// `verify --format json ARGS` with `AWS_CONFIG_FILE` set; the chain's environment also
    /// sets `AWS_ROLE_ARN` (the default role), as an injected pod has it.
    async fn verify(&self, config: &Path, args: &[&str]) -> Run {
        let mut command = self.chain.command(&[&["verify", "--format", "json"], args].concat());
        command.env("AWS_CONFIG_FILE", config);
        Run::of(command).await
    }

    fn sts_calls(&self) -> usize {
        self.chain.proxy.count(Operation::AssumeRoleWithWebIdentity)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_profile_reads_its_own_bucket_and_is_refused_the_other() {
    let pod = Pod::start().await;
    let config = pod.config(&pod.keep_token().await, "");

    let run = pod
        .verify(&config, &["--profile", "other", "--bucket", OTHER_BUCKET])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["profile"], "other");
    assert_eq!(
        report["role_arn"],
        pod.other_role_arn.as_str(),
        "the profile's role, not AWS_ROLE_ARN's"
    );
    let sts = &report["stages"][1];
    assert_eq!(sts["session_name"], "pod-other");
    assert_eq!(report["stages"][2]["bucket"], OTHER_BUCKET);

    let refused = pod.verify(&config, &["--profile", "other", "--bucket", BUCKET]).await;
    let error = refused.expect_failure(5, "AccessDenied");
    assert_eq!(error["stage"], "s3");
    assert_eq!(refused.json()["profile"], "other");

    // The default profile is the other way round.
    let default = pod.verify(&config, &["--profile", "default", "--bucket", BUCKET]).await;
    assert_eq!(default.code, 0, "{default:?}");
    assert_eq!(default.json()["role_arn"], pod.chain.role_arn.as_str());
    assert_eq!(pod.sts_calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_profiles_proves_every_role_in_one_run_and_exits_with_the_worst_code() {
    let pod = Pod::start().await;
    let config = pod.config(&pod.keep_token().await, "");
    let own_buckets = [
        "--all-profiles",
        "--profile-bucket",
        &format!("default={BUCKET}"),
        "--profile-bucket",
        &format!("other={OTHER_BUCKET}"),
    ];
    let run = pod.verify(&config, &own_buckets).await;
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!((&report["ok"], &report["exit_code"]), (&true.into(), &0.into()));
    let entries = report["profiles"].as_array().unwrap();
    let summary: Vec<(&str, &str, bool)> = entries
        .iter()
        .map(|e| {
            (
                e["profile"].as_str().unwrap(),
                e["stages"][2]["bucket"].as_str().unwrap(),
                e["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [("default", BUCKET, true), ("other", OTHER_BUCKET, true)]);
    assert_eq!(
        assumed_roles(&report),
        ["team-reader", "other-reader"],
        "each role assumed its own"
    );

    // --bucket for every profile: the other role is refused the default role's bucket.
    let mut command = pod.chain.command(&["verify", "--all-profiles", "--bucket", BUCKET]);
    command.env("AWS_CONFIG_FILE", &config);
    let text = Run::of(command).await;
    assert_eq!(text.code, 5, "{text:?}");
    assert!(text.stdout.contains("PROFILE default"), "{}", text.stdout);
    assert!(text.stdout.contains("PROFILE other"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("FAILED: 1 of 2 roles proven; failed: other (exit 5)"),
        "{}",
        text.stdout
    );
    let json = pod.verify(&config, &["--all-profiles", "--bucket", BUCKET]).await;
    assert_eq!(json.code, 5);
    let report = json.json();
    assert_eq!(report["exit_code"], 5);
    assert_eq!(report["profiles"][0]["ok"], true);
    assert_eq!(report["profiles"][1]["error"]["code"], "AccessDenied");
}

/// Each case is a mistake a user makes; each is exit 2, named, before any call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_profile_input_is_exit_2_before_any_network_call() {
    let pod = Pod::start().await;
    let token = pod.chain.token_path();
    let extra = "[profile no-token]\nrole_arn = arn:aws:iam::123456789012:role/x\n\
                 [profile looped]\ncredential_process = gke-aws-verifier credential-process --profile looped\n\
                 [profile bad-arn]\nrole_arn = arn:aws:iam::1:role/x\nweb_identity_token_file = /t\n";
    let config = pod.config(&token, extra);
    let config = config.to_str().unwrap();
    let broken = pod.chain.home.path().join("broken-config");
    std::fs::write(&broken, "[profile a]\nrole_arn: x\n").unwrap();
    let role_arn = pod.chain.role_arn.clone();
    let cases: [(&str, Vec<&str>, &str, &str); 10] = [
        (
            "unknown profile",
            vec!["--profile", "writer"],
            "--profile",
            "the file has default, other",
        ),
        (
            "no token file",
            vec!["--profile", "no-token"],
            "--profile",
            "no web_identity_token_file",
        ),
        (
            "credential_process profile",
            vec!["--profile", "looped"],
            "--profile",
            "credential_process line",
        ),
        (
            "bad role in profile",
            vec!["--profile", "bad-arn"],
            "--profile",
            "profile \"bad-arn\": role_arn",
        ),
        (
            "both role flags",
            vec!["--profile", "other", "--role-arn", &role_arn],
            "--profile",
            "both name the role",
        ),
        (
            "all and role flag",
            vec!["--all-profiles", "--role-arn", &role_arn],
            "--all-profiles",
            "both name the role",
        ),
        (
            "bucket for nobody",
            vec!["--all-profiles", "--profile-bucket", "writer=x-bucket"],
            "--profile-bucket",
            "lacks",
        ),
        (
            "missing file",
            vec!["--profile", "other", "--config-file", "/nonexistent/config"],
            "--config-file",
            "cannot open",
        ),
        (
            "broken file",
            vec!["--profile", "other", "--config-file", broken.to_str().unwrap()],
            "--config-file",
            "line 2",
        ),
        ("odd name", vec!["--profile", "a b"], "--profile", "not a profile name"),
    ];
    for (situation, args, field, words) in cases {
        let mut command = pod
            .chain
            .command(&[&["verify", "--format", "json", "--bucket", BUCKET], &args[..]].concat());
        command.env("AWS_CONFIG_FILE", config);
        let run = Run::of(command).await;
        assert_eq!(run.code, 2, "{situation}: {run:?}");
        let message = run.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("invalid {field}")), "{situation}: {message}");
        assert!(message.contains(words), "{situation}: {message}");
    }
    // The credential helper refuses the same way, on stderr.
    let mut command = pod.chain.command(&["credential-process", "--profile", "looped"]);
    command.env("AWS_CONFIG_FILE", config);
    let run = Run::helper(command).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not a web identity profile"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert_eq!(pod.sts_calls(), 0);
    assert_eq!(pod.chain.proxy.count(Operation::ListObjectsV2), 0);
}

/// The aws CLI as a user configures it: a profile whose `credential_process` line serves the
/// web identity profile `other` from the same file. The line's own profile is never read back
/// as a role, so a line naming itself ends at once instead of calling itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_uses_a_named_role_through_credential_process() {
    let pod = Pod::start().await;
    let cache = pod.chain.cache_dir();
    let extra = format!(
        "[profile other-cached]\ncredential_process = {BIN} credential-process --profile other --cache-dir {}\n\
         [profile looped]\ncredential_process = {BIN} credential-process --profile looped --cache-dir {}\n",
        cache.display(),
        cache.display()
    );
    let config = pod.config(&pod.keep_token().await, &extra);
    let aws = |profile: &str, bucket: &str| {
        let mut command = tokio::process::Command::new("aws");
        command
            .args([
                "s3api",
                "list-objects-v2",
                "--bucket",
                bucket,
                "--output",
                "json",
                "--profile",
                profile,
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", pod.chain.home.path())
            .env("AWS_CONFIG_FILE", &config)
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                pod.chain.home.path().join("no-credentials"),
            )
            .env("AWS_ENDPOINT_URL", pod.chain.proxy.endpoint())
            .env("GCE_METADATA_HOST", closed_address())
            .kill_on_drop(true);
        Run::helper(command)
    };
    let own = aws("other-cached", OTHER_BUCKET).await;
    assert_eq!(own.code, 0, "{own:?}");
    let listing: serde_json::Value = serde_json::from_str(&own.stdout).unwrap();
    assert_eq!(listing["Contents"][0]["Key"], "secret.txt");
    let refused = aws("other-cached", BUCKET).await;
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("AccessDenied"), "{}", refused.stderr);
    assert_eq!(pod.sts_calls(), 1, "the second command was served from the cache");

    let looped = aws("looped", OTHER_BUCKET).await;
    assert_ne!(looped.code, 0, "{looped:?}");
    assert!(
        looped.stderr.contains("not a web identity profile"),
        "{}",
        looped.stderr
    );
    assert_eq!(pod.sts_calls(), 1);
}

/// Cluster mode: one projected token serves both roles, as every role of the workload trusts
/// the same `system:serviceaccount:NS:KSA`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_profiles_in_cluster_mode_share_one_projected_token() {
    let pod = Pod::start().await;
    let issuer = ClusterIssuer::start(IssuerConfig::default())
        .await
        .expect("issuer starts");
    let volume = tempfile::tempdir().unwrap();
    let ca_file = volume.path().join("issuer-ca.pem");
    std::fs::write(&ca_file, issuer.ca_pem()).unwrap();
    let token = volume.path().join("team").join("token");
    std::fs::create_dir_all(token.parent().unwrap()).unwrap();
    let projected = issuer
        .project(token, KsaToken::new("team", "reader"))
        .await
        .expect("token projected");
    let config = pod.config(projected.path(), "");
    let mut command = pod.chain.command(&[
        "verify",
        "--format",
        "json",
        "--all-profiles",
        "--profile-bucket",
        &format!("default={BUCKET}"),
        "--profile-bucket",
        &format!("other={OTHER_BUCKET}"),
    ]);
    command
        .env("AWS_CONFIG_FILE", &config)
        .env("SSL_CERT_FILE", &ca_file)
        .env("GCE_METADATA_HOST", closed_address());
    let run = Run::of(command).await;
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    for entry in report["profiles"].as_array().unwrap() {
        assert_eq!(entry["stages"][0]["name"], "cluster_identity", "{entry}");
        assert_eq!(entry["stages"][0]["sub"], "system:serviceaccount:team:reader");
    }
    assert_eq!(assumed_roles(&report), ["team-reader", "other-reader"]);
}

/// The role name in each entry's assumed-role ARN (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`).
/// Counting STS calls would not do: the proxy lifts moto's IAM enforcement one STS call at a
/// time, so of two concurrent calls one may get moto's 500, which the SDK retries.
fn assumed_roles(report: &serde_json::Value) -> Vec<String> {
    report["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let arn = entry["stages"][1]["assumed_role_arn"].as_str().unwrap_or_default();
            arn.split('/').nth(1).unwrap_or_default().to_owned()
        })
        .collect()
}
