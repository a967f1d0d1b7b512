//! Cluster mode end to end: a projected Kubernetes service-account token signed by the cluster
//! issuer stand-in (discovery and JWKS over HTTPS with a CA of its own), moto as AWS behind the
//! fault proxy, and the real binary. The metadata server is pointed at a closed port: this mode
//! must never ask it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::common::{Chain, Run, closed_address};
use testkit::Operation;
use testkit::emulator::{ClusterIssuer, IssuerConfig, IssuerFaults, KsaToken, ProjectedToken, StsGate};

/// The chain, the issuer, and a projected volume outside the chain's HOME (whose files the
/// chain checks for secrets: the token is one, as in a pod).
struct Cluster {
    chain: Chain,
    issuer: ClusterIssuer,
    volume: tempfile::TempDir,
    ca_file: PathBuf,
}

impl Cluster {
    async fn start() -> Cluster {
        let chain = Chain::start().await;
        let issuer = ClusterIssuer::start(IssuerConfig::default())
            .await
            .expect("issuer starts");
        let volume = tempfile::tempdir().unwrap();
        let ca_file = volume.path().join("issuer-ca.pem");
        std::fs::write(&ca_file, issuer.ca_pem()).unwrap();
        Cluster {
            chain,
            issuer,
            volume,
            ca_file,
        }
    }

    /// The kubelet's projected volume for `token`, kept fresh while the result lives.
    async fn project(&self, token: KsaToken) -> ProjectedToken {
        // One volume per KSA, as one per pod.
        let path = self.volume.path().join(&token.service_account).join("token");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        self.issuer.project(path, token).await.expect("token projected")
    }

    /// The binary as a pod in cluster mode runs it: the token file, the issuer's CA trusted,
    /// no metadata server.
    fn command(&self, projected: &ProjectedToken, args: &[&str]) -> tokio::process::Command {
        self.command_for(projected.path(), args)
    }

    /// The same for any token file, e.g. one holding a token altered after signing.
    fn command_for(&self, token_file: &Path, args: &[&str]) -> tokio::process::Command {
        let mut command = self.chain.command(args);
        command
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file)
            .env("SSL_CERT_FILE", &self.ca_file)
            .env("GCE_METADATA_HOST", closed_address());
        command
    }

    async fn verify(&self, projected: &ProjectedToken, extra: &[&str]) -> Run {
        self.verify_file(projected.path(), extra).await
    }

    /// A token file the test wrote, owner-only, in a volume of its own.
    fn write_token(&self, name: &str, token: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.volume.path().join(name).join("token");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, token).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    async fn verify_file(&self, token_file: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "verify",
            "--format",
            "json",
            "--bucket",
            crate::common::BUCKET,
            "--timeout",
            "10s",
        ];
        args.extend_from_slice(extra);
        Run::of(self.command_for(token_file, &args)).await
    }

    fn sts_calls(&self) -> usize {
        self.chain.proxy.count(Operation::AssumeRoleWithWebIdentity)
    }
}

fn reader() -> KsaToken {
    KsaToken::new("team", "reader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projected_token_proves_the_chain_and_the_report_names_the_pod() {
    let cluster = Cluster::start().await;
    let projected = cluster.project(reader()).await;
    let run = cluster.verify(&projected, &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let names: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cluster_identity", "sts", "s3"]);
    let identity = &report["stages"][0];
    assert_eq!(identity["mode"], "cluster");
    assert_eq!(identity["iss"], cluster.issuer.url());
    assert_eq!(identity["sub"], "system:serviceaccount:team:reader");
    assert_eq!(identity["aud"], serde_json::json!(["sts.amazonaws.com"]));
    assert_eq!(
        (&identity["namespace"], &identity["service_account"], &identity["pod"]),
        (&"team".into(), &"reader".into(), &"reader-0".into())
    );
    assert_eq!(identity["jwks_uri"], cluster.issuer.jwks_uri());
    // The stand-in serves on 127.0.0.1, not container.googleapis.com: noted, not refused.
    assert!(
        identity["issuer_note"].as_str().unwrap().contains("not GKE's"),
        "{identity}"
    );
    assert!(identity["expires_in_s"].as_i64().unwrap() > 3000, "{identity}");
    let stats = cluster.issuer.stats();
    assert_eq!((stats.discovery_requests, stats.jwks_requests), (1, 1));
    assert_eq!(cluster.sts_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_is_diagnosed_before_sts() {
    let cluster = Cluster::start().await;
    let projected = cluster.project(reader()).await;
    cluster.issuer.rotate_key().await.unwrap();
    let run = cluster.verify(&projected, &[]).await;
    let error = run.expect_failure(3, "KeyNotInJwks");
    assert_eq!(error["stage"], "cluster_identity");
    assert!(error["hint"].as_str().unwrap().contains("rotated"), "{error}");
    assert_eq!(cluster.sts_calls(), 0, "a token AWS will refuse is not sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_that_does_not_verify_is_diagnosed_before_sts() {
    let cluster = Cluster::start().await;
    // Signed by the issuer, then its subject changed: the signature no longer covers it.
    let signed = cluster.issuer.mint(&reader()).unwrap();
    let [header, claims, signature]: [&str; 3] = signed.split('.').collect::<Vec<_>>().try_into().unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    let altered = claims.replace("team:reader", "team:admin");
    assert_ne!(altered, claims);
    let altered = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(altered));
    // Signed whole, by a key the issuer does not publish, under the kid it does publish.
    let reused_kid = cluster
        .issuer
        .sign_with_unpublished_key(&cluster.issuer.claims(&reader()))
        .await
        .unwrap();
    for (case, token) in [("altered", altered), ("reused-kid", reused_kid)] {
        let file = cluster.write_token(case, &token);
        let before = cluster.sts_calls();
        let error = cluster
            .verify_file(&file, &[])
            .await
            .expect_failure(3, "SignatureInvalid");
        assert_eq!(error["stage"], "cluster_identity", "{case}");
        assert!(
            error["message"].as_str().unwrap().contains(&cluster.issuer.kid()),
            "{case}: {error}"
        );
        assert!(error["hint"].as_str().unwrap().contains("altered"), "{case}: {error}");
        assert_eq!(
            cluster.sts_calls(),
            before,
            "{case}: a token AWS will refuse is not sent"
        );
        // --skip-issuer-check leaves the judgement to AWS (moto does not judge signatures).
        let skipped = cluster.verify_file(&file, &["--skip-issuer-check"]).await;
        assert_eq!(skipped.code, 0, "{case}: {skipped:?}");
        assert_eq!(cluster.sts_calls(), before + 1, "{case}");
    }
}

/// The token's times and the pod's clock disagree: the verifier warns with both times and
/// leaves the verdict to STS's clock. moto stands in for an STS whose clock the token satisfies
/// (it judges no expiry); a really expired token is STS's ExpiredTokenException.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_early_or_late_by_the_pods_clock_is_left_to_stss_clock_with_a_warning() {
    // (case, seconds the token's times are moved by, the warning's field naming the token's time)
    let cases = [
        (
            "early: the cluster's clock ten minutes ahead of the pod's",
            600,
            "token_valid_from",
        ),
        (
            "late: expired ten minutes ago by the pod's clock",
            -4200,
            "token_expires",
        ),
    ];
    for (case, shift, field) in cases {
        let cluster = Cluster::start().await;
        let mut claims = cluster.issuer.claims(&reader());
        let (iat, exp) = (
            claims.iat.saturating_add_signed(shift),
            claims.exp.saturating_add_signed(shift),
        );
        (claims.iat, claims.nbf, claims.exp) = (iat, iat, exp);
        let file = cluster.write_token("shifted", &cluster.issuer.sign(&claims).unwrap());
        let run = cluster.verify_file(&file, &[]).await;
        assert_eq!(run.code, 0, "{case}: {run:?}");
        let named = if field == "token_valid_from" { iat } else { exp };
        assert!(
            run.stderr.contains(&format!("{field}={named}")) && run.stderr.contains("pod_clock="),
            "{case}: {}",
            run.stderr
        );
        assert_eq!(cluster.sts_calls(), 1, "{case}: judged by STS, not by the pod's clock");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_issuer_is_diagnosed_and_can_be_skipped() {
    let cluster = Cluster::start().await;
    let projected = cluster.project(reader()).await;
    cluster.issuer.set_faults(IssuerFaults {
        refuse: true,
        ..IssuerFaults::default()
    });
    let run = cluster.verify(&projected, &[]).await;
    let error = run.expect_failure(3, "IssuerUnreachable");
    let hint = error["hint"].as_str().unwrap();
    assert!(
        hint.contains("--skip-issuer-check") && hint.contains("egress"),
        "{hint}"
    );
    assert_eq!(cluster.sts_calls(), 0);

    let asked = cluster.issuer.stats().discovery_requests;
    let skipped = cluster.verify(&projected, &["--skip-issuer-check"]).await;
    assert_eq!(skipped.code, 0, "{skipped:?}");
    let identity = &skipped.json()["stages"][0];
    assert_eq!(identity["issuer_note"], "issuer not checked (--skip-issuer-check)");
    assert_eq!(
        cluster.issuer.stats().discovery_requests,
        asked,
        "the issuer was not asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_audience_is_diagnosed_before_sts() {
    let cluster = Cluster::start().await;
    let projected = cluster
        .project(KsaToken {
            audiences: vec!["vault".into()],
            ..reader()
        })
        .await;
    let run = cluster.verify(&projected, &[]).await;
    let error = run.expect_failure(3, "AudienceMismatch");
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("projected serviceAccountToken volume's audience"),
        "{error}"
    );
    assert_eq!(cluster.sts_calls(), 0);
}

/// An IAM call to moto, as the Terraform modules would make it (moto routes it by the
/// placeholder credential scope; IAM enforcement is off for these tests).
async fn iam(moto: &testkit::Moto, params: &[(&str, &str)]) {
    let mut form = params.to_vec();
    form.push(("Version", "2010-05-08"));
    let body = reqwest::Url::parse_with_params("http://x/", &form)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let answer = reqwest::Client::new()
        .post(format!("{}/", moto.endpoint))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "{params:?}: {}",
        answer.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_refusals_in_awss_words_are_each_diagnosed_until_the_trust_is_right() {
    let cluster = Cluster::start().await;
    let moto = &cluster.chain.moto;
    // The gate reads moto's IAM unsigned, as AWS's STS reads IAM.
    moto.enforce_iam(false).await;
    let gate = StsGate::start(&moto.endpoint).await.expect("gate starts");
    let (issuer, host_path) = (cluster.issuer.url().to_owned(), cluster.issuer.host_path().to_owned());
    // The role as aws-workload-role writes it with identity = "cluster", for team/reader.
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{host_path}")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            format!("{host_path}:sub"): "system:serviceaccount:team:reader",
            format!("{host_path}:aud"): "sts.amazonaws.com",
        }},
    }]});
    let access = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", crate::common::BUCKET),
    }]});
    iam(
        moto,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "cluster-reader"),
            ("AssumeRolePolicyDocument", &trust.to_string()),
        ],
    )
    .await;
    iam(
        moto,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "cluster-reader"),
            ("PolicyName", "access"),
            ("PolicyDocument", &access.to_string()),
        ],
    )
    .await;
    let role = "arn:aws:iam::123456789012:role/cluster-reader";
    let verify = |projected: &ProjectedToken| {
        let mut command = cluster.command(
            projected,
            &["verify", "--format", "json", "--bucket", crate::common::BUCKET],
        );
        command
            .env("AWS_ENDPOINT_URL_STS", gate.endpoint())
            .env("AWS_ROLE_ARN", role);
        Run::of(command)
    };
    let reader = cluster.project(reader()).await;

    // No OIDC provider for the cluster's issuer in the account.
    let error = verify(&reader).await.expect_failure(4, "OidcProviderMissing");
    let hint = error["hint"].as_str().unwrap();
    assert!(
        hint.contains("aws-gke-oidc-provider") && hint.contains(&format!("issuer_url = \"{issuer}\"")),
        "{hint}"
    );

    // A provider whose client IDs lack the volume's audience.
    iam(
        moto,
        &[
            ("Action", "CreateOpenIDConnectProvider"),
            ("Url", &issuer),
            ("ClientIDList.member.1", "vault"),
            ("ThumbprintList.member.1", "08745487e891c19e3078c1f2a07e452950ef36f6"),
        ],
    )
    .await;
    let error = verify(&reader).await.expect_failure(4, "AudienceNotAllowed");
    assert!(
        error["hint"].as_str().unwrap().contains("--query ClientIDList"),
        "{error}"
    );

    // The provider registered again with the audience: the chain works.
    let provider = format!("arn:aws:iam::123456789012:oidc-provider/{host_path}");
    iam(
        moto,
        &[
            ("Action", "DeleteOpenIDConnectProvider"),
            ("OpenIDConnectProviderArn", &provider),
        ],
    )
    .await;
    iam(
        moto,
        &[
            ("Action", "CreateOpenIDConnectProvider"),
            ("Url", &issuer),
            ("ClientIDList.member.1", "sts.amazonaws.com"),
            ("ThumbprintList.member.1", "08745487e891c19e3078c1f2a07e452950ef36f6"),
        ],
    )
    .await;
    let run = verify(&reader).await;
    assert_eq!(run.code, 0, "{run:?}");

    // A KSA the trust policy does not name: the statement that would accept it.
    let intruder = cluster.project(KsaToken::new("team", "intruder")).await;
    let error = verify(&intruder).await.expect_failure(4, "AccessDenied");
    let statement = format!(r#""{host_path}:sub":"system:serviceaccount:team:intruder""#);
    assert!(error["hint"].as_str().unwrap().contains(&statement), "{error}");
    assert_eq!(gate.counts(), (3, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_serves_credentials_from_a_projected_token() {
    let cluster = Cluster::start().await;
    let projected = cluster.project(reader()).await;
    let cache_dir = cluster.chain.cache_dir();
    let args = [
        "credential-process",
        "--cache-dir",
        cache_dir.to_str().unwrap(),
        "--timeout",
        "10s",
    ];
    let run = Run::helper(cluster.command(&projected, &args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    let credentials: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(credentials["Version"], 1);
    assert!(credentials["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert!(!credentials["SessionToken"].as_str().unwrap().is_empty());
    // Served from the cache the second time: STS was asked once.
    let again = Run::helper(cluster.command(&projected, &args)).await;
    assert_eq!((again.code, &again.stdout), (0, &run.stdout));
    assert_eq!(cluster.sts_calls(), 1);
    assert_eq!(
        cluster.issuer.stats().discovery_requests,
        0,
        "credential-process leaves the issuer to STS unless asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_serves_credentials_behind_an_egress_that_allows_only_aws() {
    let cluster = Cluster::start().await;
    let projected = cluster.project(reader()).await;
    cluster.issuer.set_faults(IssuerFaults {
        refuse: true,
        ..IssuerFaults::default()
    });
    // The served credentials go to the chain's cache (whose files its checks know); the checked
    // run, which serves none, to a folder of its own (else the cache would answer it).
    let helper = |cache: &str, extra: &[&str]| {
        let cache_dir = match cache {
            "plain" => cluster.chain.cache_dir(),
            other => cluster.volume.path().join(other),
        };
        let mut args = vec![
            "credential-process".to_owned(),
            "--cache-dir".to_owned(),
            cache_dir.to_str().unwrap().to_owned(),
            "--timeout".to_owned(),
            "5s".to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Run::helper(cluster.command(&projected, &args))
    };
    let served = helper("plain", &[]).await;
    assert_eq!(served.code, 0, "{served:?}");
    assert!(served.stdout.contains("\"AccessKeyId\""), "{served:?}");
    // Asked for, the issuer check runs, and the issuer's outage stops the helper.
    let checked = helper("checked", &["--check-issuer"]).await;
    assert_eq!(checked.code, 3, "{checked:?}");
    assert!(checked.stderr.contains("IssuerUnreachable"), "{}", checked.stderr);
    assert_eq!(cluster.sts_calls(), 1, "the checked run stopped before STS");
}
