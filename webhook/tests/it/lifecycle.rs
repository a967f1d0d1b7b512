//! How the webhook runs: shutdown on SIGTERM with a review in flight, keep-alive connections
//! that outlive the API server's pool, a KSA cache that is behind, and the native-sidecar check
//! from the API server's version.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::Bytes;
use gke_aws_webhook::connections::Limits;
use gke_aws_webhook::ksa_cache::KsaCache;
use gke_aws_webhook::message::{MAX_WARNING_CHARS, MAX_WARNINGS_CHARS};
use gke_aws_webhook::metrics::Metrics;
use gke_aws_webhook::native_sidecars::{Policy, Support};
use gke_aws_webhook::server::{self, API_SERVER_IDLE_CONN, App, IDLE_TIMEOUT};
use gke_aws_webhook::settings::Settings;
use serde_json::json;
use testkit::kube_api::KubeApi;
use tokio::net::TcpStream;

use crate::common::{ARN, GSA, Webhook, env_value, patched, pod, post, review, tls_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_review_in_flight_then_exits() {
    let api = KubeApi::start().await;
    let mut webhook = Webhook::start(&api.url(), &["--shutdown-delay", "0s"]).await;
    webhook.wait_synced().await;
    // A KSA the cache has not seen: its review waits on the direct get, which is held.
    api.add_unwatched_service_account(
        "team",
        "late",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    api.hold_gets(true);
    let (https, cert) = (webhook.https.clone(), webhook.serving.cert_pem.clone());
    let the_pod = pod("in-flight", "late");
    let body = Bytes::from(review("team", &the_pod).to_string());
    let in_flight = tokio::spawn(async move {
        let mut sender = tls_client(tokio::net::TcpStream::connect(&https).await.unwrap(), &cert).await;
        post(&mut sender, "/mutate", body).await
    });
    api.gets_waiting(1).await;
    webhook.signal("TERM");
    webhook.wait_ready(503).await;
    let https = webhook.https.clone();
    webhook
        .wait_for(
            || async { tokio::net::TcpStream::connect(&https).await.is_err() },
            "the HTTPS listener closes",
        )
        .await;
    api.hold_gets(false);
    let (status, answer) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let injected = patched(&the_pod, &answer["response"]);
    assert_eq!(
        env_value(&injected["spec"]["containers"][0], "AWS_ROLE_ARN"),
        Some(json!(ARN))
    );
    assert!(webhook.exited().await.success(), "exit 0 after the drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_endpoints_catch_up_it_is_unready_but_answers() {
    let api = KubeApi::start().await;
    api.add_service_account(
        "team",
        "reader",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    let mut webhook = Webhook::start(&api.url(), &["--shutdown-delay", "1h"]).await;
    webhook.wait_synced().await;
    webhook.signal("TERM");
    webhook.wait_ready(503).await;
    let (_, text) = webhook.get_plain("/readyz").await;
    assert_eq!(text, "not ready: shutting down\n");
    // The API server may still send reviews here until the Service drops the endpoint.
    let response = webhook.admit("team", &pod("late-review", "reader")).await;
    assert_eq!(response["allowed"], true, "{response}");
    // A second signal skips the rest of the delay.
    webhook.signal("TERM");
    assert!(webhook.exited().await.success());
}

/// The HTTPS server in this process over an in-memory connection, on Tokio's paused clock:
/// the API server's 90 s of idleness pass without a real wait.
#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_reused_after_the_api_servers_90_s_and_closed_after_the_idle_bound() {
    let dir = tempfile::tempdir().unwrap();
    let serving = crate::common::serving_cert(dir.path());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let metrics = Arc::new(Metrics::default());
    let cert =
        gke_aws_webhook::tls::ReloadingCert::load(&serving.cert, &serving.key, provider.clone(), metrics.clone())
            .unwrap();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(cert));
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No API server: the pod below is not opted in, so no KSA is looked up.
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = gke_aws_webhook::api_client::client(config, metrics.clone()).unwrap();
    let app = Arc::new(App {
        cache: KsaCache::start(client, metrics.clone()),
        settings: Settings {
            sidecar_image: crate::common::IMAGE.into(),
            default_region: None,
            own_namespace: "gke-aws-webhook".into(),
            resources: Default::default(),
        },
        metrics,
        sidecars: Support::default(),
        sidecar_policy: Policy::Refuse,
        limits: Limits::new(4, 1 << 20, gke_aws_webhook::server::IDLE_TIMEOUT),
        draining: AtomicBool::new(false),
    });
    let (client_io, server_io) = tokio::io::duplex(64 << 10);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let ticket = app.limits.admit().await;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let served = tokio::spawn(server::connection(
        server_io,
        "127.0.0.1:1".parse().unwrap(),
        acceptor,
        app,
        ticket,
        stopped,
    ));
    let mut sender = tls_client(client_io, &serving.cert_pem).await;
    let mut unlabelled = pod("idle", "reader");
    unlabelled["metadata"]["labels"] = json!({});
    let body = Bytes::from(review("team", &unlabelled).to_string());
    let (status, first) = post(&mut sender, "/mutate", body.clone()).await;
    assert_eq!((status, &first["response"]["allowed"]), (200, &json!(true)), "{first}");
    // kube-apiserver may reuse an idle pooled connection for up to 90 s.
    tokio::time::sleep(API_SERVER_IDLE_CONN).await;
    assert!(
        !sender.is_closed() && !served.is_finished(),
        "still open after the API server's {API_SERVER_IDLE_CONN:?}"
    );
    let (status, second) = post(&mut sender, "/mutate", body).await;
    assert_eq!(
        (status, &second["response"]["allowed"]),
        (200, &json!(true)),
        "{second}"
    );
    // Bounded all the same: past the idle bound the webhook closes it.
    tokio::time::sleep(IDLE_TIMEOUT + Duration::from_secs(1)).await;
    served.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_is_behind_is_checked_against_the_api_server_before_a_denial() {
    let api = KubeApi::start().await;
    api.add_service_account("team", "ci", &[("iam.gke.io/gcp-service-account", GSA)]);
    api.add_service_account("team", "no-role", &[("iam.gke.io/gcp-service-account", GSA)]);
    let webhook = Webhook::start(&api.url(), &[]).await;
    webhook.wait_synced().await;
    // CI annotates the KSA and applies the Job together; the watch has not delivered it yet.
    api.hold_watch(true);
    api.annotate_service_account(
        "team",
        "ci",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    let job_pod = pod("job", "ci");
    let injected = patched(&job_pod, &webhook.admit("team", &job_pod).await);
    assert_eq!(
        env_value(&injected["spec"]["containers"][0], "AWS_ROLE_ARN"),
        Some(json!(ARN))
    );
    assert_eq!(api.gets(), 1, "one direct get");
    assert_eq!(
        webhook
            .metric("gke_aws_webhook_ksa_cache_misses_total")
            .await
            .as_deref(),
        Some("1")
    );
    // Where the API server agrees with the cache, the denial stands, after one get.
    let denied = webhook.admit("team", &pod("still", "no-role")).await;
    assert_eq!(denied["allowed"], false, "{denied}");
    assert_eq!(api.gets(), 2);
    // Once the watch catches up, the cache answers by itself.
    api.hold_watch(false);
    webhook
        .wait_for(
            || async {
                let response = webhook.admit("team", &pod("later", "ci")).await;
                response["allowed"] == true && api.gets() == 2
            },
            "the held event reaches the cache",
        )
        .await;
}

/// A pod that names a profile its KSA gained a moment ago: the cache's copy lacks the role, so
/// the pod would pass with no default-role-only KSA, and the API server is asked all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_the_cached_ksa_lacks_is_checked_against_the_api_server_before_a_denial() {
    const ARCHIVE_ARN: &str = "arn:aws:iam::210987654321:role/team-archive";
    let api = KubeApi::start().await;
    let default_role = [("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)];
    api.add_service_account("team", "exporter", &default_role);
    let webhook = Webhook::start(&api.url(), &[]).await;
    webhook.wait_synced().await;
    api.hold_watch(true);
    let mut with_archive = default_role.to_vec();
    with_archive.push(("gke-aws-verifier/role.archive", ARCHIVE_ARN));
    api.annotate_service_account("team", "exporter", &with_archive);
    let mut archiver = pod("archiver", "exporter");
    archiver["metadata"]["annotations"] = json!({ "gke-aws-verifier/profile.app": "archive" });
    let injected = patched(&archiver, &webhook.admit("team", &archiver).await);
    assert_eq!(
        env_value(&injected["spec"]["containers"][0], "AWS_PROFILE"),
        Some(json!("archive"))
    );
    assert_eq!(api.gets(), 1, "one direct get");
    // A profile the API server's copy lacks too: the denial stands, naming what the KSA has.
    let mut ghost = pod("ghost", "exporter");
    ghost["metadata"]["annotations"] = json!({ "gke-aws-verifier/profile.app": "ghost" });
    let denied = webhook.admit("team", &ghost).await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(message.contains("it has: default, archive"), "{message}");
    assert_eq!(api.gets(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_node_pools_refuse_or_warn_gsa_mode_and_leave_cluster_mode_alone() {
    let api = KubeApi::start().await;
    // 1.31 with kubelets up to three minors behind: a 1.28 node runs no native sidecar.
    api.set_version("v1.31.2-gke.1000");
    api.add_service_account(
        "team",
        "reader",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    api.add_service_account(
        "team",
        "cluster",
        &[
            ("amazonaws.com/role-arn", ARN),
            ("gke-aws-verifier/identity", "cluster"),
        ],
    );
    let refusing = Webhook::start(&api.url(), &[]).await;
    refusing.wait_synced().await;
    let refused = refusing.admit("team", &pod("gsa", "reader")).await;
    assert_eq!(refused["allowed"], false, "{refused}");
    let message = refused["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("1.28") && message.contains("--node-version-skew=2"),
        "{message}"
    );
    let cluster_pod = pod("projected", "cluster");
    patched(&cluster_pod, &refusing.admit("team", &cluster_pod).await);

    let warning = Webhook::start(&api.url(), &["--old-kubelets", "warn"]).await;
    warning.wait_synced().await;
    let gsa_pod = pod("gsa", "reader");
    let response = warning.admit("team", &gsa_pod).await;
    patched(&gsa_pod, &response);
    let warnings = response["warnings"].to_string();
    assert!(warnings.contains("older than 1.29"), "{response}");
    // Within the same caps as the pod's own warnings, even when those fill the answer's budget.
    let mut noisy = pod("noisy", "reader");
    let stray: serde_json::Map<String, serde_json::Value> = (0..20)
        .map(|i| {
            (
                format!("gke-aws-verifier/profile.c{i:02}{}", "x".repeat(60)),
                json!("none"),
            )
        })
        .collect();
    noisy["metadata"]["annotations"] = serde_json::Value::Object(stray);
    let response = warning.admit("team", &noisy).await;
    patched(&noisy, &response);
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(warnings.iter().any(|w| w.contains("older than 1.29")), "{response}");
    assert!(
        warnings.iter().all(|w| w.chars().count() <= MAX_WARNING_CHARS),
        "{response}"
    );
    let total: usize = warnings.iter().map(|w| w.chars().count()).sum();
    assert!(total <= MAX_WARNINGS_CHARS, "{total} characters: {response}");

    let current = Webhook::start(&api.url(), &["--node-version-skew", "2"]).await;
    current.wait_synced().await;
    let response = current.admit("team", &gsa_pod).await;
    patched(&gsa_pod, &response);
    assert_eq!(response.get("warnings"), None, "{response}");
}

/// `prlimit --pid PID --nofile=SOFT:`: the soft limit on open files of a running process.
fn lower_open_files(pid: &str, soft: usize) {
    let status = std::process::Command::new("prlimit")
        .args(["--pid", pid, &format!("--nofile={soft}:")])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(status.success(), "prlimit: {status}");
}

/// Out of file descriptors, `accept()` fails: the listener backs off, doubling from 10 ms, once
/// per failure (not retrying at once, not dying), and answers a review once descriptors free up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_accept_backs_off_and_recovers() {
    let api = KubeApi::start().await;
    api.add_service_account(
        "team",
        "reader",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    let webhook = Webhook::start(&api.url(), &[]).await;
    webhook.wait_synced().await;
    let pid = webhook.pid().to_string();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    // Room for two more descriptors; the connections past them wait in the backlog.
    lower_open_files(&pid, open + 2);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(&webhook.https).await.unwrap());
    }
    const FAILED: &str = "accept failed; backing off";
    webhook
        .wait_for(
            || async { webhook.log_lines(FAILED).iter().any(|l| l.contains("backoff=640ms")) },
            "accept's back-off doubles to 640 ms",
        )
        .await;
    let waits: Vec<String> = webhook
        .log_lines(FAILED)
        .iter()
        .map(|l| {
            l.split("backoff=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        })
        .take_while(|w| w != "640ms")
        .collect();
    assert_eq!(
        waits,
        ["10ms", "20ms", "40ms", "80ms", "160ms", "320ms"],
        "one failure per wait, each wait twice the last"
    );
    drop(held);
    // The held connections close; the webhook's descriptors free up and a review is answered.
    let the_pod = pod("after", "reader");
    patched(&the_pod, &webhook.admit("team", &the_pod).await);
    let errors = webhook.metric("gke_aws_webhook_accept_errors_total").await;
    assert!(
        errors.and_then(|e| e.parse::<u64>().ok()).is_some_and(|e| e >= 7),
        "accept errors counted"
    );
}
