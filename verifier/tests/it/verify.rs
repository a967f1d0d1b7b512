//! `verify` against the real chain on this machine: the healthy path and every failure a
//! user of the chain meets, each with its exit code and hint.

use std::time::Duration;

use crate::common::{BUCKET, Chain, MISSING_BUCKET, OTHER_BUCKET, Run, faults, isolated_command};
use testkit::emulator::{Config, Emulator};
use testkit::{Fault, Operation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_chain_proves_access_and_reports_each_stage() {
    let chain = Chain::start().await;
    let run = chain
        .verify(&["--expected-gsa", "verifier@demo-project.iam.gserviceaccount.com"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["error"], serde_json::Value::Null);
    let names: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gcp_identity", "sts", "s3"]);
    let [identity, sts, s3] = [&report["stages"][0], &report["stages"][1], &report["stages"][2]];
    let config = Config::default();
    assert_eq!(identity["email"], config.gsa_email);
    assert_eq!(identity["azp"], config.unique_id);
    assert_eq!(identity["sub"], config.unique_id);
    assert_eq!(identity["aud"], "sts.amazonaws.com");
    assert!(identity["expires_in_s"].as_i64().unwrap() > 3000);
    assert_eq!(
        sts["assumed_role_arn"],
        "arn:aws:sts::123456789012:assumed-role/team-reader/verify-job-x7k2p"
    );
    assert_eq!(sts["session_name"], "verify-job-x7k2p");
    assert_eq!(s3["bucket"], BUCKET);
    assert_eq!(s3["object_count"], 3);
    assert!(
        report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true && s["duration_ms"].is_u64())
    );
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 1);
    assert_eq!(chain.emulator.tokens_issued(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_report_has_one_line_per_stage_and_json_logs_use_cloud_logging_severity() {
    let chain = Chain::start().await;
    let mut command = chain.command(&[
        "verify",
        "--bucket",
        BUCKET,
        "--prefix",
        "reports/",
        "--log-format",
        "json",
        "--session-name",
        "smoke@test",
    ]);
    command.env("VERIFY_LOG_LEVEL", "debug");
    let run = Run::of(command).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert!(
        lines[0].starts_with("PASS gcp_identity")
            && lines[0].contains("email=verifier@demo-project.iam.gserviceaccount.com"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("PASS sts") && lines[1].contains("assumed-role/team-reader/smoke@test"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("PASS s3") && lines[2].contains("prefix=reports/ objects=2"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "OK: access proven, the whole chain works");
    let logs: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(logs.len() >= 3, "{}", run.stderr);
    for entry in &logs {
        assert!(
            ["DEBUG", "INFO", "WARNING", "ERROR"].contains(&entry["severity"].as_str().unwrap()),
            "{entry}"
        );
        assert!(entry["message"].is_string(), "{entry}");
    }
    assert!(
        logs.iter()
            .any(|e| e["message"] == "stage passed" && e["stage"] == "s3"),
        "{}",
        run.stderr
    );
}

/// A token file may hold a Google token (written by `token-file`): the stage is named by the
/// token it read, `gcp_identity`, in the report and in the logs alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_token_in_a_file_is_the_gcp_identity_stage_in_the_report_and_the_logs() {
    let chain = Chain::start().await;
    let token = chain.token_path();
    let run = Run::helper(chain.command(&["token-file", "--once", "--path", token.to_str().unwrap()])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mut command = chain.command(&["verify", "--format", "json", "--bucket", BUCKET, "--log-format", "json"]);
    command.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token);
    let run = Run::of(command).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["stages"][0]["name"], "gcp_identity", "{}", run.stdout);
    let logged: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "stage passed")
        .collect();
    let names: Vec<&str> = logged.iter().filter_map(|e| e["stage"].as_str()).collect();
    assert_eq!(names, ["gcp_identity", "sts", "s3"], "{}", run.stderr);
}

#[tokio::test]
async fn bad_input_is_rejected_before_any_network_call() {
    let emulator = Emulator::start(Config::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let valid = [
        "--role-arn",
        "arn:aws:iam::123456789012:role/reader",
        "--region",
        "us-east-1",
        "--bucket",
        "data",
    ];
    for (case, extra, env, field) in [
        (
            "malformed role ARN",
            vec!["--role-arn", "arn:aws:iam::123:role/reader"],
            vec![],
            "--role-arn",
        ),
        (
            "user instead of role",
            vec!["--role-arn", "arn:aws:iam::123456789012:user/alice"],
            vec![],
            "--role-arn",
        ),
        ("region with a typo", vec!["--region", "us-east1"], vec![], "--region"),
        ("bucket given as URL", vec!["--bucket", "s3://data"], vec![], "--bucket"),
        (
            "duration too short",
            vec!["--duration-seconds", "60"],
            vec![],
            "--duration-seconds",
        ),
        (
            "duration too long",
            vec!["--duration-seconds", "50000"],
            vec![],
            "--duration-seconds",
        ),
        (
            "session name with a slash",
            vec!["--session-name", "team/job"],
            vec![],
            "--session-name",
        ),
        (
            "audience with a space",
            vec!["--audience", "sts amazonaws"],
            vec![],
            "--audience",
        ),
        (
            "expected GSA not an e-mail",
            vec!["--expected-gsa", "verifier"],
            vec![],
            "--expected-gsa",
        ),
        ("zero timeout", vec!["--timeout", "0s"], vec![], "--timeout"),
        (
            "metadata host with scheme",
            vec![],
            vec![("GCE_METADATA_HOST", "http://169.254.169.254")],
            "GCE_METADATA_HOST",
        ),
        (
            "endpoint without scheme",
            vec![],
            vec![("AWS_ENDPOINT_URL_STS", "localhost:5000")],
            "AWS_ENDPOINT_URL_STS",
        ),
    ] {
        let mut args = vec!["verify", "--format", "json"];
        args.extend_from_slice(&valid);
        args.extend_from_slice(&extra);
        let args = dedupe_flags(args);
        let mut command = isolated_command(&args, home.path());
        command.env("GCE_METADATA_HOST", emulator.host());
        for (name, value) in env {
            command.env(name, value);
        }
        let run = Run::of(command).await;
        let error = run.expect_failure(2, "InvalidInput");
        assert_eq!(error["stage"], "input", "{case}");
        assert!(error["message"].as_str().unwrap().contains(field), "{case}: {error}");
    }
    assert_eq!(emulator.tokens_issued(), 0, "no token may be fetched for bad input");
}

/// Keeps the last value of each `--flag value` pair (clap rejects repeats), so a case can
/// override one valid flag.
fn dedupe_flags(args: Vec<&str>) -> Vec<&str> {
    let (command, pairs) = args.split_at(3);
    let mut kept: Vec<(&str, &str)> = Vec::new();
    for pair in pairs.chunks(2) {
        kept.retain(|(flag, _)| *flag != pair[0]);
        kept.push((pair[0], pair[1]));
    }
    command
        .iter()
        .copied()
        .chain(kept.into_iter().flat_map(|(f, v)| [f, v]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_server_faults_are_diagnosed_with_their_fix() {
    let chain = Chain::start().await;
    for (case, faults, code, hint_part) in [
        (
            "KSA not annotated",
            testkit::emulator::Faults {
                ksa_not_annotated: true,
                ..faults()
            },
            "KsaNotAnnotated",
            "kubectl annotate serviceaccount verifier --namespace gke-aws iam.gke.io/gcp-service-account=",
        ),
        (
            "binding missing",
            testkit::emulator::Faults {
                binding_missing: true,
                ..faults()
            },
            "WorkloadIdentityBindingMissing",
            "roles/iam.workloadIdentityUser",
        ),
        (
            "HTML from a proxy",
            testkit::emulator::Faults {
                html_body: true,
                ..faults()
            },
            "NotAToken",
            "NO_PROXY",
        ),
        (
            "garbage body",
            testkit::emulator::Faults {
                garbage_body: true,
                ..faults()
            },
            "NotAToken",
            "GCE_METADATA_HOST",
        ),
    ] {
        chain.set_faults(faults);
        let error = chain.verify(&[]).await.expect_failure(3, code);
        assert_eq!(error["stage"], "gcp_identity", "{case}");
        assert!(error["hint"].as_str().unwrap().contains(hint_part), "{case}: {error}");
    }
    assert_eq!(
        chain.proxy.count(Operation::AssumeRoleWithWebIdentity),
        0,
        "nothing reaches STS after a failed identity stage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expired_by_the_pods_clock_goes_to_sts_with_a_warning() {
    let chain = Chain::start().await;
    chain.set_faults(testkit::emulator::Faults {
        expired_tokens: true,
        ..faults()
    });
    // moto does not judge expiry, so STS's answer here is whatever moto says; what matters is
    // that the pod's clock alone refused nothing and said why it is suspicious.
    let run = chain.verify(&[]).await;
    assert!(
        run.stderr.contains("token_expires=") && run.stderr.contains("pod_clock=") && run.stderr.contains("late_by_s="),
        "{}",
        run.stderr
    );
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 1, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_for_another_service_account_is_caught() {
    let chain = Chain::start().await;
    let error = chain
        .verify(&["--expected-gsa", "payments@demo-project.iam.gserviceaccount.com"])
        .await
        .expect_failure(3, "UnexpectedServiceAccount");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("verifier@demo-project.iam.gserviceaccount.com"),
        "{error}"
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("--workload-metadata=GKE_METADATA"),
        "{error}"
    );
}

#[tokio::test]
async fn unreachable_metadata_server_names_the_causes() {
    let closed = crate::common::closed_address();
    let home = tempfile::tempdir().unwrap();
    let args = [
        "verify",
        "--format",
        "json",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--region",
        "us-east-1",
        "--bucket",
        "data",
        "--timeout",
        "1s",
    ];
    let mut command = isolated_command(&args, home.path());
    command.env("GCE_METADATA_HOST", &closed);
    let error = Run::of(command).await.expect_failure(3, "MetadataServerUnreachable");
    let hint = error["hint"].as_str().unwrap();
    for cause in ["--workload-pool", "GKE_METADATA", "hostNetwork", "169.254.169.254"] {
        assert!(hint.contains(cause), "hint lacks {cause}: {hint}");
    }
}

/// Off Google Cloud with no GCE_METADATA_HOST, no metadata server will ever answer: said on the
/// first attempt, with how to point at one, not after retrying until the deadline.
#[tokio::test]
async fn off_google_cloud_without_a_metadata_host_says_so_at_once() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "verify",
        "--format",
        "json",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--region",
        "us-east-1",
        "--bucket",
        "data",
        "--timeout",
        "30s",
    ];
    let run = Run::of(isolated_command(&args, home.path())).await;
    assert!(!run.stderr.contains("retrying"), "retried: {}", run.stderr);
    let error = run.expect_failure(3, "NoMetadataServer");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("metadata.google.internal does not resolve"),
        "{error}"
    );
    let hint = error["hint"].as_str().unwrap();
    for fix in ["GCE_METADATA_HOST=HOST:PORT", "--token-file"] {
        assert!(hint.contains(fix), "hint lacks {fix}: {hint}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_server_warming_up_or_failing_briefly_is_retried() {
    let starting = Config {
        // Long enough that the verifier starts inside it even on a loaded machine.
        not_ready_for: Duration::from_secs(3),
        ..Config::default()
    };
    let chain = Chain::start_with(starting).await;
    let run = chain.verify(&[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("metadata server not ready, retrying"),
        "{}",
        run.stderr
    );

    chain.set_faults(testkit::emulator::Faults {
        server_errors: 3,
        ..faults()
    });
    let run = chain.verify(&[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        chain.emulator.faults().server_errors,
        0,
        "the burst was met and retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_refusals_show_the_claims_and_the_trust_condition_that_would_accept_them() {
    let chain = Chain::start().await;
    let unique_id = Config::default().unique_id;
    for code in ["InvalidIdentityToken", "AccessDenied"] {
        chain.proxy.inject(
            Operation::AssumeRoleWithWebIdentity,
            Fault::sts(403, code, "Not authorized to perform sts:AssumeRoleWithWebIdentity", 1),
        );
        let error = chain.verify(&[]).await.expect_failure(4, code);
        let hint = error["hint"].as_str().unwrap();
        let condition = format!(
            r#"{{"StringEquals":{{"accounts.google.com:aud":"{unique_id}","accounts.google.com:oaud":"sts.amazonaws.com","accounts.google.com:sub":"{unique_id}"}}}}"#
        );
        assert!(hint.contains(&condition), "{code}: {hint}");
        assert!(hint.contains(&format!("azp=\"{unique_id}\"")), "{code}: {hint}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_failures_that_persist_are_diagnosed() {
    let chain = Chain::start().await;
    for (code, status, hint_part) in [
        ("ExpiredTokenException", 400, "clock skew"),
        ("IDPCommunicationError", 400, "Google's signing keys"),
        ("Throttling", 400, "caches"),
    ] {
        chain.proxy.inject(
            Operation::AssumeRoleWithWebIdentity,
            Fault::sts(status, code, "injected", 100),
        );
        let error = chain.verify(&[]).await.expect_failure(4, code);
        assert!(error["hint"].as_str().unwrap().contains(hint_part), "{code}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_throttling_5xx_and_idp_errors_in_bursts_are_retried() {
    let chain = Chain::start().await;
    for fault in [
        Fault::sts(400, "Throttling", "Rate exceeded", 2),
        Fault::sts(503, "ServiceUnavailable", "try again", 2),
        Fault::sts(400, "IDPCommunicationError", "could not reach Google", 2),
    ] {
        let before = chain.proxy.count(Operation::AssumeRoleWithWebIdentity);
        chain.proxy.inject(Operation::AssumeRoleWithWebIdentity, fault);
        let run = chain.verify(&[]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            chain.proxy.count(Operation::AssumeRoleWithWebIdentity) - before,
            3,
            "two faults, then success"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_access_denied_names_the_action_and_the_resource() {
    let chain = Chain::start().await;
    let mut command = chain.command(&["verify", "--format", "json", "--bucket", OTHER_BUCKET]);
    command.env("AWS_REGION", crate::common::REGION);
    let error = Run::of(command).await.expect_failure(5, "AccessDenied");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("s3:ListBucket on arn:aws:s3:::{OTHER_BUCKET}")),
        "{message}"
    );
    assert!(message.contains(&chain.role_arn), "{message}");
    assert!(error["hint"].as_str().unwrap().contains("s3_bucket_arns"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_missing_bucket_wrong_region_and_slowdown() {
    let chain = Chain::start().await;
    let run = Run::of(chain.command(&["verify", "--format", "json", "--bucket", MISSING_BUCKET])).await;
    run.expect_failure(5, "NoSuchBucket");

    chain.proxy.inject(
        Operation::ListObjectsV2,
        Fault::s3(
            301,
            "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint.",
            1,
        )
        .with_header("x-amz-bucket-region", "eu-west-1"),
    );
    let error = chain.verify(&[]).await.expect_failure(5, "WrongRegion");
    assert!(
        error["hint"].as_str().unwrap().contains("--region eu-west-1"),
        "{error}"
    );

    for burst in [
        Fault::s3(503, "SlowDown", "Please reduce your request rate.", 2),
        Fault::s3(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
            2,
        ),
    ] {
        let before = chain.proxy.count(Operation::ListObjectsV2);
        chain.proxy.inject(Operation::ListObjectsV2, burst);
        let run = chain.verify(&[]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            chain.proxy.count(Operation::ListObjectsV2) - before,
            3,
            "two faults, then success"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slowed_to_near_the_deadline_still_prove_access() {
    const SLOW: Duration = Duration::from_secs(3);
    let chain = Chain::start().await;
    chain.set_faults(testkit::emulator::Faults {
        slow: Some(SLOW),
        ..faults()
    });
    let mut slow_sts = Fault::sts(400, "Throttling", "Rate exceeded", 1);
    slow_sts.delay = Some(SLOW);
    chain.proxy.inject(Operation::AssumeRoleWithWebIdentity, slow_sts);
    // 3 s for the token, 3 s for a throttled STS answer, up to 1 s of retry backoff, then
    // the retry: the 9 s deadline is close, and not reached.
    let started = std::time::Instant::now();
    let run = chain.verify(&["--timeout", "9s"]).await;
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(chain.proxy.count(Operation::AssumeRoleWithWebIdentity), 2);
    // The delays were applied (a lower bound, never flaky): each stage took its delay.
    let report = run.json();
    for (stage, at_least) in [(0, SLOW), (1, SLOW)] {
        let took = report["stages"][stage]["duration_ms"].as_u64().unwrap();
        assert!(
            took >= at_least.as_millis() as u64,
            "stage {stage} took {took} ms: {report}"
        );
    }
    assert!(elapsed >= 2 * SLOW, "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slowed_past_the_deadline_end_in_a_timeout_of_the_slow_stage() {
    let chain = Chain::start().await;
    chain.set_faults(testkit::emulator::Faults {
        slow: Some(Duration::from_secs(3)),
        ..faults()
    });
    let error = chain.verify(&["--timeout", "1s"]).await.expect_failure(3, "Timeout");
    assert!(error["message"].as_str().unwrap().contains("--timeout (1s)"), "{error}");

    chain.set_faults(faults());
    let mut slow_sts = Fault::sts(400, "Throttling", "Rate exceeded", 1);
    slow_sts.delay = Some(Duration::from_secs(3));
    chain.proxy.inject(Operation::AssumeRoleWithWebIdentity, slow_sts);
    chain.verify(&["--timeout", "1s"]).await.expect_failure(4, "Timeout");
}

/// Production talks HTTPS to STS and S3: moto over TLS with a certificate of our own, trusted
/// through `SSL_CERT_FILE` as the verifier's CA bundle, and distrusted without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_trusted_through_the_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (ca, cert, key) = (path("ca.pem"), path("cert.pem"), path("key.pem"));
    std::fs::write(
        path("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    // A CA of our own, and a certificate for 127.0.0.1 signed by it.
    for args in [
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key -out ca.pem",
        "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out leaf.csr",
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out cert.pem",
    ] {
        let openssl = std::process::Command::new("openssl")
            .args(args.split(' '))
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            openssl.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&openssl.stderr)
        );
    }
    let moto = testkit::Moto::start_tls(&cert, &key);
    let emulator = Emulator::start(Config::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let verify = |ca_bundle: Option<&std::path::Path>, proxy: Option<(&str, &str)>| {
        let args = [
            "verify",
            "--format",
            "json",
            "--role-arn",
            "arn:aws:iam::123456789012:role/tls-reader",
            "--region",
            "us-east-1",
            "--bucket",
            "tls-data",
            // Connection and TLS failures are retried (as by the SDK's default client):
            // room for all six attempts, so the run ends in the last error, not a Timeout.
            "--timeout",
            "30s",
        ];
        let mut command = isolated_command(&args, home.path());
        command
            .env("GCE_METADATA_HOST", emulator.host())
            .env("AWS_ENDPOINT_URL", &moto.endpoint);
        if let Some(bundle) = ca_bundle {
            command.env("SSL_CERT_FILE", bundle);
        }
        if let Some((https_proxy, no_proxy)) = proxy {
            command.env("HTTPS_PROXY", https_proxy).env("NO_PROXY", no_proxy);
        }
        Run::of(command)
    };
    // Trusted: STS answers over TLS, and so does S3 (with moto's real "no such bucket").
    verify(Some(&ca), None).await.expect_failure(5, "NoSuchBucket");
    // HTTPS_PROXY is honoured (here a proxy that is down), and so is NO_PROXY.
    let down = format!("http://{}", crate::common::closed_address());
    verify(Some(&ca), Some((&down, "")))
        .await
        .expect_failure(4, "StsUnreachable");
    verify(Some(&ca), Some((&down, "127.0.0.1")))
        .await
        .expect_failure(5, "NoSuchBucket");
    // A bundle that does not parse is bad input, found before any call (not a crash).
    std::fs::write(
        path("corrupt.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let tokens = emulator.tokens_issued();
    let error = verify(Some(&path("corrupt.pem")), None)
        .await
        .expect_failure(2, "InvalidInput");
    assert!(error["message"].as_str().unwrap().contains("SSL_CERT_FILE"), "{error}");
    assert_eq!(emulator.tokens_issued(), tokens, "no token was fetched");
    let error = verify(None, None).await.expect_failure(4, "StsUnreachable");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{error}"
    );
}
