//! Hostile peers and absurd inputs: a metadata server, STS and S3 that lie, flood, stall or
//! echo secrets, and inputs that would overflow or hang. Each case must end in its documented
//! exit code, inside `--timeout`, in bounded memory, with no panic and no secret printed.
//!
//! The peers are [`HostilePeer`]s on 127.0.0.1. Each test's only child is the verifier, so
//! `getrusage(RUSAGE_CHILDREN)` after it exits is the verifier's own peak RSS.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use testkit::hostile::{ReplyBody, Seen};
use testkit::{HostilePeer, Reply};

const BIN: &str = env!("CARGO_BIN_EXE_gke-aws-verifier");
const ROLE: &str = "arn:aws:iam::123456789012:role/team-reader";
/// Peak RSS allowed in every hostile case.
const RSS_LIMIT_KB: i64 = 32 * 1024;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An RS256-shaped Google ID token (the verifier checks claims; AWS checks signatures).
fn google_token(email: &str) -> String {
    let part = |json: serde_json::Value| URL_SAFE_NO_PAD.encode(json.to_string());
    let claims = serde_json::json!({
        "iss": "https://accounts.google.com", "aud": "sts.amazonaws.com", "azp": "1077", "sub": "1077",
        "email": email, "iat": now(), "exp": now() + 3600,
    });
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(serde_json::json!({"alg": "RS256", "kid": "k1"})),
        part(claims)
    )
}

fn metadata_answer(body: &str) -> Reply {
    Reply::new(200, body).header("Metadata-Flavor", "Google")
}

fn sts_credentials(access_key: &str, expiration: &str) -> Reply {
    Reply::new(
        200,
        format!(
            r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>hostileSecretKey0123456789</SecretAccessKey><SessionToken>hostileSessionToken0123456789</SessionToken><Expiration>{expiration}</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/team-reader/s</Arn><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"#
        ),
    )
    .header("content-type", "text/xml")
}

fn sts_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ),
    )
    .header("content-type", "text/xml")
}

fn listing(keys: usize) -> Reply {
    let head = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>{keys}</KeyCount><MaxKeys>5</MaxKeys><IsTruncated>false</IsTruncated>"#
    );
    Reply::repeated(
        200,
        &head,
        "<Contents><Key>k</Key><Size>1</Size></Contents>",
        keys,
        "</ListBucketResult>",
    )
    .header("content-type", "application/xml")
}

/// `reply` with its body rewritten by `change`.
fn with_body(reply: Reply, change: impl Fn(&str) -> String) -> Reply {
    let ReplyBody::Bytes(body) = &reply.body else {
        panic!("a fixed body")
    };
    Reply {
        body: ReplyBody::Bytes(change(&String::from_utf8_lossy(body)).into_bytes()),
        ..reply
    }
}

/// A whole listing of `keys`, in one fixed body.
fn listing_of(keys: &[&str]) -> Reply {
    let contents: String = keys
        .iter()
        .map(|k| format!("<Contents><Key>{k}</Key><Size>1</Size></Contents>"))
        .collect();
    Reply::new(
        200,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>{}</KeyCount><MaxKeys>5</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"#,
            keys.len()
        ),
    )
    .header("content-type", "application/xml")
}

fn future_expiration() -> String {
    // RFC 3339 an hour ahead, by hand: no date crate in the tests.
    let secs = now() + 3600;
    let days = secs.div_euclid(86_400);
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    let (y, mo, d) = civil_from_days(days);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Howard Hinnant's days-to-civil.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The AWS side: STS for POSTs, S3 for the rest.
fn aws(
    sts: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    s3: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| if seen.method == "POST" { sts(seen) } else { s3(seen) }
}

/// What one run of the verifier left behind.
struct Ran {
    output: Output,
    elapsed: Duration,
    peak_rss_kb: i64,
}

impl Ran {
    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout()))
    }
    fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// The rule every hostile case must keep.
    fn assert_bounded_and_clean(&self, secrets: &[&str], timeout: Duration) {
        assert!(
            self.peak_rss_kb < RSS_LIMIT_KB,
            "peak RSS {} KiB over {RSS_LIMIT_KB}",
            self.peak_rss_kb
        );
        // The deadline plus process start and exit: the run may not outlive it.
        assert!(
            self.elapsed < timeout + Duration::from_secs(5),
            "took {:?}",
            self.elapsed
        );
        assert_ne!(self.code(), 134, "aborted (panic): {}", self.stderr());
        for text in [self.stdout(), self.stderr()] {
            for secret in secrets {
                assert!(!text.contains(secret), "a secret was printed: {text}");
            }
            assert!(!text.contains("eyJ"), "something JWT-shaped was printed: {text}");
            assert!(!text.contains("panicked"), "{text}");
        }
        assert!(
            self.stderr().len() < 64 * 1024,
            "stderr of {} bytes",
            self.stderr().len()
        );
    }
}

/// Runs the verifier with `args` and `env` (and nothing of this process's environment but PATH).
async fn run(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().expect("temp dir");
        let started = std::time::Instant::now();
        let output = Command::new(BIN)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("VERIFY_LOG_LEVEL", "trace")
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .expect("run the verifier");
        let elapsed = started.elapsed();
        Ran {
            output,
            elapsed,
            peak_rss_kb: children_peak_rss_kb(),
        }
    })
    .await
    .expect("runner")
}

fn children_peak_rss_kb() -> i64 {
    // SAFETY: getrusage writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}

async fn verify(metadata: &HostilePeer, aws: &HostilePeer, extra: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut args = vec![
        "verify",
        "--role-arn",
        ROLE,
        "--region",
        "us-east-1",
        "--bucket",
        "team-data",
        "--timeout",
        "6s",
    ];
    if !extra.contains(&"--format") {
        args.extend(["--format", "json"]);
    }
    args.extend_from_slice(extra);
    let mut all_env = vec![
        ("GCE_METADATA_HOST", metadata.host()),
        ("AWS_ENDPOINT_URL", aws.endpoint()),
    ];
    all_env.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let borrowed: Vec<(&str, &str)> = all_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(&args, &borrowed).await
}

async fn good_metadata() -> HostilePeer {
    let token = google_token("team@p.iam.gserviceaccount.com");
    HostilePeer::start(move |_| metadata_answer(&token)).await
}

const TIMEOUT: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread")]
async fn metadata_answers_that_are_not_the_metadata_servers_are_refused() {
    let elsewhere = HostilePeer::start(|_| metadata_answer(&google_token("evil@p.iam.gserviceaccount.com"))).await;
    let aws = HostilePeer::start(|_| Reply::new(500, "unused")).await;
    let target = format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/identity",
        elsewhere.host()
    );
    let token = google_token("team@p.iam.gserviceaccount.com");
    let cases: Vec<(&str, Reply, &str)> = vec![
        ("a redirect is not followed", Reply::new(302, "").header("Location", &target), "MetadataRequestRefused"),
        ("a 200 without Metadata-Flavor", Reply::new(200, token.clone()), "NotAToken"),
        (
            "50 MB answer",
            Reply::repeated(200, "", "a", 50 * 1024 * 1024, "").header("Metadata-Flavor", "Google"),
            "NotAToken",
        ),
        ("an endless answer", Reply::endless(200).header("Metadata-Flavor", "Google"), "NotAToken"),
        (
            "the IAM Credentials API is off",
            Reply::new(
                403,
                "Unable to generate identity token; IAM returned 403 Forbidden: IAM Service Account Credentials API has not \
                 been used in project 123456789012 before or it is disabled.",
            )
            .header("Metadata-Flavor", "Google"),
            "IamCredentialsApiDisabled",
        ),
    ];
    for (case, reply, code) in cases {
        let metadata = HostilePeer::start(move |_| reply.clone()).await;
        let ran = verify(&metadata, &aws, &[], &[]).await;
        assert_eq!(ran.code(), 3, "{case}: {}", ran.stdout());
        assert_eq!(ran.error_code(), code, "{case}: {}", ran.stdout());
        ran.assert_bounded_and_clean(&[&token], TIMEOUT);
    }
    assert!(elsewhere.seen().is_empty(), "the redirect was followed");
    assert!(aws.seen().is_empty(), "AWS was called after the identity stage failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn sts_that_echoes_floods_or_lies_is_an_sts_failure_with_nothing_leaked() {
    let metadata = good_metadata().await;
    let echo = |seen: &Seen| {
        let body = seen.body.replace('&', "&amp;");
        sts_error(400, "ValidationError", &format!("bad request: {body}"))
    };
    let past = "2001-01-01T00:00:00Z".to_owned();
    let expiration = future_expiration();
    let (junk_after, cut_after) = (expiration.clone(), expiration.clone());
    type Case = (&'static str, Box<dyn Fn(&Seen) -> Reply + Send + Sync>, &'static str);
    let cases: Vec<Case> = vec![
        ("an error that echoes the request", Box::new(echo), "ValidationError"),
        (
            "a 100 MB error message",
            Box::new(|_: &Seen| {
                Reply::repeated(
                    400,
                    "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>",
                    "m",
                    100 * 1024 * 1024,
                    "</Message></Error><RequestId>r</RequestId></ErrorResponse>",
                )
            }),
            "StsBadResponse",
        ),
        (
            "an endless answer",
            Box::new(|_: &Seen| Reply::endless(200)),
            "StsBadResponse",
        ),
        (
            "an HTML page",
            Box::new(|_: &Seen| Reply::new(403, "<html>captive portal</html>")),
            "StsBadResponse",
        ),
        (
            "an empty access key",
            Box::new(move |_: &Seen| sts_credentials("", &expiration)),
            "StsBadResponse",
        ),
        (
            "credentials expired long ago",
            Box::new(move |_: &Seen| sts_credentials("ASIAHOSTILE", &past)),
            "StsBadResponse",
        ),
        (
            "junk after a whole answer",
            Box::new(move |_: &Seen| with_body(sts_credentials("ASIAHOSTILE", &junk_after), |b| format!("{b}<junk"))),
            "StsBadResponse",
        ),
        (
            "cut short after the credentials",
            Box::new(move |_: &Seen| {
                with_body(sts_credentials("ASIAHOSTILE", &cut_after), |b| {
                    b[..b.find("<AssumedRoleUser>").unwrap()].to_owned()
                })
            }),
            "StsBadResponse",
        ),
    ];
    for (case, sts, code) in cases {
        let aws = HostilePeer::start(aws(sts, |_| listing(1))).await;
        let ran = verify(&metadata, &aws, &[], &[]).await;
        assert_eq!(ran.code(), 4, "{case}: {}", ran.stdout());
        assert_eq!(ran.error_code(), code, "{case}: {}", ran.stdout());
        let sent = aws.seen();
        let token = sent[0]
            .body
            .split("WebIdentityToken=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        ran.assert_bounded_and_clean(&[token, "hostileSecretKey", "hostileSessionToken"], TIMEOUT);
        assert!(!ran.stdout().contains("(no message)"), "{case}: {}", ran.stdout());
        assert!(sent.iter().all(|s| s.method == "POST"), "{case}: S3 was called");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_prints_no_credentials_sts_should_not_have_sent() {
    let metadata = good_metadata().await;
    let aws = HostilePeer::start(aws(|_| sts_credentials("", "2001-01-01T00:00:00Z"), |_| listing(0))).await;
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    let ran = run(
        &[
            "credential-process",
            "--role-arn",
            ROLE,
            "--timeout",
            "6s",
            "--cache-dir",
            cache_dir.to_str().unwrap(),
        ],
        &[
            ("GCE_METADATA_HOST", &metadata.host()),
            ("AWS_ENDPOINT_URL", &aws.endpoint()),
        ],
    )
    .await;
    assert_eq!(ran.code(), 4, "{}", ran.stderr());
    assert_eq!(ran.stdout(), "", "credentials printed");
    ran.assert_bounded_and_clean(&["hostileSecretKey", "hostileSessionToken"], TIMEOUT);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_or_huge_listings_are_an_s3_failure() {
    let metadata = good_metadata().await;
    let cases: Vec<(&str, Reply)> = vec![
        ("ten keys for max-keys 5", listing(10)),
        ("two million keys", listing(2_000_000)),
        ("an endless listing", Reply::endless(200)),
        (
            "a listing cut short",
            with_body(listing_of(&["k"]), |b| b.replace("</ListBucketResult>", "")),
        ),
        (
            "junk after the listing",
            with_body(listing_of(&["k"]), |b| format!("{b}<ListBucketResult>")),
        ),
        ("an empty key", listing_of(&[""])),
    ];
    for (case, reply) in cases {
        let expiration = future_expiration();
        let aws = HostilePeer::start(aws(
            move |_| sts_credentials("ASIAHOSTILE", &expiration),
            move |_| reply.clone(),
        ))
        .await;
        let ran = verify(&metadata, &aws, &[], &[]).await;
        assert_eq!(ran.code(), 5, "{case}: {}", ran.stdout());
        assert_eq!(ran.error_code(), "S3BadResponse", "{case}: {}", ran.stdout());
        ran.assert_bounded_and_clean(&["hostileSecretKey", "hostileSessionToken"], TIMEOUT);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_and_keys_cannot_forge_report_lines() {
    let metadata = HostilePeer::start(|_| metadata_answer(&google_token("a@b.c\nERROR forged: line"))).await;
    let expiration = future_expiration();
    let aws = HostilePeer::start(aws(
        move |_| sts_credentials("ASIAHOSTILE", &expiration),
        |_| sts_error(403, "AccessDenied", "denied\nPASS s3 forged"),
    ))
    .await;
    let ran = verify(&metadata, &aws, &["--format", "text"], &[]).await;
    assert_eq!(ran.code(), 5, "{}{}", ran.stdout(), ran.stderr());
    for line in ran.stdout().lines() {
        assert!(
            ["PASS ", "FAIL ", "ERROR s3", "  hint: "]
                .iter()
                .any(|p| line.starts_with(p)),
            "forged line: {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_with_stray_characters_are_bad_input_before_any_call() {
    let metadata = good_metadata().await;
    let aws = HostilePeer::start(|_| Reply::new(500, "unused")).await;
    for variable in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3"] {
        for suffix in ["\n", " ", "\t", "/?x=1", "#frag"] {
            let value = format!("{}{suffix}", aws.endpoint());
            let ran = verify(&metadata, &aws, &[], &[(variable, &value)]).await;
            assert_eq!(ran.code(), 2, "{variable}={value:?}: {}", ran.stdout());
            assert!(ran.stdout().contains(variable), "{}", ran.stdout());
        }
    }
    assert!(metadata.seen().is_empty() && aws.seen().is_empty(), "a peer was called");
}

#[tokio::test(flavor = "multi_thread")]
async fn absurd_inputs_and_special_files_are_bad_input_not_a_panic_or_a_hang() {
    let metadata = good_metadata().await;
    let aws = HostilePeer::start(|_| Reply::new(500, "unused")).await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let fifo = fifo.to_str().unwrap();
    let long_prefix = "p".repeat(1025);
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "timeout overflows the clock",
            vec!["--timeout", "18446744073709551615s"],
            vec![],
            "--timeout",
        ),
        ("timeout of a day", vec!["--timeout", "1d"], vec![], "--timeout"),
        (
            "prefix past S3's key limit",
            vec!["--prefix", &long_prefix],
            vec![],
            "--prefix",
        ),
        (
            "CA bundle is /dev/zero",
            vec![],
            vec![("SSL_CERT_FILE", "/dev/zero")],
            "SSL_CERT_FILE",
        ),
        (
            "CA bundle is a FIFO",
            vec![],
            vec![("SSL_CERT_FILE", fifo)],
            "SSL_CERT_FILE",
        ),
    ];
    for (case, args, env, field) in cases {
        let ran = verify(&metadata, &aws, &args, &env).await;
        assert_eq!(ran.code(), 2, "{case}: {}", ran.stdout());
        assert!(
            ran.stdout().contains(field) || ran.stderr().contains(field),
            "{case}: {}{}",
            ran.stdout(),
            ran.stderr()
        );
        ran.assert_bounded_and_clean(&[], TIMEOUT);
    }
    assert!(metadata.seen().is_empty() && aws.seen().is_empty(), "a peer was called");
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_config_files_are_not_read_not_even_a_fifo_or_an_endpoint_in_a_profile() {
    let metadata = good_metadata().await;
    let expiration = future_expiration();
    let aws = HostilePeer::start(aws(
        move |_| sts_credentials("ASIAHOSTILE", &expiration),
        |_| listing(1),
    ))
    .await;
    let elsewhere = HostilePeer::start(|_| Reply::new(500, "must not be called")).await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let config = dir.path().join("config");
    std::fs::write(&config, format!("[default]\nendpoint_url = {}\n", elsewhere.endpoint())).unwrap();
    for (case, config_file) in [
        ("a FIFO", fifo.to_str().unwrap()),
        ("an endpoint_url", config.to_str().unwrap()),
    ] {
        let ran = verify(
            &metadata,
            &aws,
            &[],
            &[("AWS_CONFIG_FILE", config_file), ("AWS_PROFILE", "default")],
        )
        .await;
        assert_eq!(ran.code(), 0, "{case}: {}", ran.stdout());
        ran.assert_bounded_and_clean(&["hostileSecretKey", "hostileSessionToken"], TIMEOUT);
    }
    assert!(
        elsewhere.seen().is_empty(),
        "the profile's endpoint_url received the token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stdout_that_cannot_be_written_is_an_error_and_a_closed_pipe_is_quiet() {
    let metadata = good_metadata().await;
    let expiration = future_expiration();
    let aws = HostilePeer::start(aws(
        move |_| sts_credentials("ASIAHOSTILE", &expiration),
        |_| listing(1),
    ))
    .await;
    let env = [
        ("GCE_METADATA_HOST", metadata.host()),
        ("AWS_ENDPOINT_URL", aws.endpoint()),
    ];
    let full = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["verify", "--role-arn", ROLE, "--bucket", "team-data"])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
            .output()
            .expect("run")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");

    let env = [
        ("GCE_METADATA_HOST", metadata.host()),
        ("AWS_ENDPOINT_URL", aws.endpoint()),
    ];
    let closed = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(["verify", "--role-arn", ROLE, "--bucket", "team-data"])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take()); // the reader went away, as `| head -0` does
        child.wait_with_output().expect("wait")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert_eq!(closed.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("cannot write"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn small_inputs_that_mean_nothing_are_bad_input_naming_the_field() {
    let metadata = good_metadata().await;
    let aws = HostilePeer::start(|_| Reply::new(500, "unused")).await;
    let huge_host = "m".repeat(100 * 1024);
    let (metadata_host, endpoint) = (metadata.host(), aws.endpoint());
    let args = |region: Option<&'static str>| {
        let mut args = vec![
            "verify",
            "--role-arn",
            ROLE,
            "--bucket",
            "team-data",
            "--format",
            "json",
        ];
        if let Some(region) = region {
            args.extend(["--region", region]);
        }
        args
    };
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "a 100 KB metadata host",
            args(Some("us-east-1")),
            vec![("GCE_METADATA_HOST", &huge_host), ("AWS_ENDPOINT_URL", &endpoint)],
            "--metadata-host (GCE_METADATA_HOST)",
        ),
        (
            "an endpoint on port 99999",
            args(Some("us-east-1")),
            vec![
                ("GCE_METADATA_HOST", &metadata_host),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:99999"),
            ],
            "AWS_ENDPOINT_URL",
        ),
        (
            "--region ''",
            args(Some("")),
            vec![("GCE_METADATA_HOST", &metadata_host), ("AWS_ENDPOINT_URL", &endpoint)],
            "--region (AWS_REGION)",
        ),
        (
            "AWS_REGION set empty",
            args(None),
            vec![
                ("GCE_METADATA_HOST", &metadata_host),
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_REGION", ""),
            ],
            "--region (AWS_REGION)",
        ),
    ];
    for (case, args, env, field) in cases {
        let ran = run(&args, &env).await;
        assert_eq!(ran.code(), 2, "{case}: {}{}", ran.stdout(), ran.stderr());
        let error = &ran.json()["error"];
        assert_eq!(error["code"], "InvalidInput", "{case}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("invalid {field}:")),
            "{case}: {error}"
        );
        assert!(
            ran.stdout().len() + ran.stderr().len() < 4096,
            "{case}: {} bytes",
            ran.stdout().len()
        );
        ran.assert_bounded_and_clean(&[], TIMEOUT);
    }
    assert!(metadata.seen().is_empty() && aws.seen().is_empty(), "a peer was called");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_of_another_account_names_its_bucket_policy_and_key_policy() {
    let metadata = good_metadata().await;
    let expiration = future_expiration();
    let aws = HostilePeer::start(aws(
        move |_| sts_credentials("ASIAHOSTILE", &expiration),
        // S3's words when the bucket's own account does not allow the role.
        |_| {
            Reply::new(
                403,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>User: \
                 arn:aws:sts::123456789012:assumed-role/team-reader/s is not authorized to perform: s3:ListBucket on \
                 resource: \"arn:aws:s3:::team-data\" because no resource-based policy allows the s3:ListBucket \
                 action</Message><RequestId>r</RequestId></Error>",
            )
            .header("content-type", "application/xml")
        },
    ))
    .await;
    let ran = verify(&metadata, &aws, &[], &[]).await;
    assert_eq!(
        (ran.code(), ran.error_code().as_str()),
        (5, "AccessDenied"),
        "{}",
        ran.stdout()
    );
    let hint = ran.json()["error"]["hint"].as_str().unwrap().to_owned();
    assert!(
        hint.contains("bucket policy") && hint.contains("key policy") && hint.contains(ROLE),
        "{hint}"
    );
    assert!(hint.contains("of the workload whose role is team-reader"), "{hint}");
}
