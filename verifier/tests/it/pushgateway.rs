//! `verify --pushgateway`: the outcome as Prometheus metrics, pushed to Debian's real
//! `prometheus-pushgateway`, so that a failing CronJob can page without reading logs.

use std::process::{Child, Command, Stdio};

use crate::common::{Chain, OTHER_BUCKET, Run};

/// A Pushgateway on a free loopback port, killed on drop.
struct Pushgateway {
    child: Child,
    url: String,
}

impl Pushgateway {
    async fn start() -> Pushgateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start prometheus-pushgateway ({e}): apt-get install prometheus-pushgateway (.ci/run does)"
                )
            });
        // Owned by the handle at once, so that it is killed even if it never becomes ready.
        let gateway = Pushgateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Readiness: its /-/ready endpoint answers once it listens (bounded wait).
        for _ in 0..200 {
            let ready = reqwest::get(format!("{}/-/ready", gateway.url)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return gateway;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("prometheus-pushgateway did not become ready");
    }

    /// Everything the gateway exposes.
    async fn exposition(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn metric(&self, name: &str) -> Option<String> {
        let text = self.exposition().await;
        text.lines().find(|l| l.starts_with(name)).map(str::to_owned)
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_push_their_outcome_and_a_failure_keeps_the_last_success() {
    let chain = Chain::start().await;
    let gateway = Pushgateway::start().await;
    let run = chain.verify(&["--pushgateway", &gateway.url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let group = r#"bucket="team-data",instance="",job="gke-aws-verifier",role="team-reader""#;
    gateway
        .metric(&format!("gke_aws_verifier_last_success_timestamp_seconds{{{group}}}"))
        .await
        .expect("last_success pushed");
    assert_eq!(
        gateway.metric("gke_aws_verifier_exit_code{").await.unwrap(),
        format!("gke_aws_verifier_exit_code{{{group}}} 0")
    );
    for stage in ["gcp_identity", "sts", "s3"] {
        let ok = gateway
            .metric(&format!("gke_aws_verifier_stage_ok{{{group},stage=\"{stage}\"}}"))
            .await;
        assert_eq!(ok.as_deref().map(|l| l.ends_with(" 1")), Some(true), "{stage}: {ok:?}");
        assert!(
            gateway
                .metric(&format!(
                    "gke_aws_verifier_stage_duration_seconds{{{group},stage=\"{stage}\"}}"
                ))
                .await
                .is_some()
        );
    }

    // Same group (role and bucket), now failing at S3: exit code 5, last_success unchanged.
    // A sentinel value first: the real one is a whole second, which a second push from a
    // run a moment later would most likely repeat.
    let sentinel = "gke_aws_verifier_last_success_timestamp_seconds 1\n";
    let pushed = reqwest::Client::new()
        .post(format!(
            "{}/metrics/job/gke-aws-verifier/role/team-reader/bucket/team-data",
            gateway.url
        ))
        .body(sentinel)
        .send()
        .await
        .unwrap();
    assert!(pushed.status().is_success(), "{pushed:?}");
    let success = gateway
        .metric("gke_aws_verifier_last_success_timestamp_seconds{")
        .await
        .unwrap();
    assert!(success.ends_with(" 1"), "{success}");
    chain.proxy.inject(
        testkit::Operation::ListObjectsV2,
        testkit::Fault::s3(403, "AccessDenied", "Access Denied", 1),
    );
    let run = chain.verify(&["--pushgateway", &gateway.url]).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(
        gateway.metric("gke_aws_verifier_exit_code{").await.unwrap(),
        format!("gke_aws_verifier_exit_code{{{group}}} 5")
    );
    assert_eq!(
        gateway
            .metric("gke_aws_verifier_last_success_timestamp_seconds{")
            .await
            .unwrap(),
        success
    );
    chain.assert_no_secret_in(&gateway.exposition().await, "the Pushgateway's metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_pushgateway_does_not_change_the_verdict() {
    let chain = Chain::start().await;
    let closed = crate::common::closed_address();
    let mut command = chain.command(&[
        "verify",
        "--format",
        "json",
        "--bucket",
        OTHER_BUCKET,
        "--pushgateway",
        &format!("http://{closed}"),
    ]);
    command.env("VERIFY_LOG_FORMAT", "json");
    let run = Run::of(command).await;
    assert_eq!(run.code, 5, "the S3 verdict stands: {run:?}");
    assert!(run.stderr.contains("could not push metrics"), "{}", run.stderr);
}

/// A Pushgateway stand-in (127.0.0.1) that refuses every push with a 500 and a 1 MiB body.
async fn refusing_gateway() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 16 * 1024];
                let _ = stream.read(&mut request).await;
                let body = "pushgateway says no. ".repeat(50_000);
                let head = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    (address, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_pushgateway_url_is_never_logged_and_error_bodies_are_capped() {
    let chain = Chain::start().await;
    let gateway = Pushgateway::start().await;
    let (refusing, server) = refusing_gateway().await;
    let with_password = |address: &str| format!("http://pusher:Pa55w0rd-never-shown@{address}");
    for (case, url) in [
        ("pushed", with_password(gateway.url.trim_start_matches("http://"))),
        ("unreachable", with_password(&crate::common::closed_address())),
        ("refused with a huge body", with_password(&refusing)),
    ] {
        let run = chain.verify(&["--pushgateway", &url]).await;
        assert_eq!(run.code, 0, "{case}: the verdict stands: {run:?}");
        assert!(
            !run.stderr.contains("Pa55w0rd"),
            "{case}: the password was logged:\n{}",
            run.stderr
        );
        assert!(!run.stdout.contains("Pa55w0rd"), "{case}: {}", run.stdout);
        let expected = if case == "pushed" {
            "metrics pushed"
        } else {
            "could not push metrics"
        };
        assert!(run.stderr.contains(expected), "{case}: {}", run.stderr);
        assert!(
            run.stderr.len() < 64 * 1024,
            "{case}: stderr of {} bytes",
            run.stderr.len()
        );
    }
    server.abort();
    assert!(
        gateway.metric("gke_aws_verifier_exit_code{").await.is_some(),
        "the push with a password in the URL went through"
    );
}
