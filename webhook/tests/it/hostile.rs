//! The release binary under hostile input, each case asserting that its peak RSS stays under
//! the Deployment's memory limit and that a legitimate review is still answered: the largest
//! pods the API server accepts, stalled bodies, idle connections by the thousand, a low file
//! descriptor limit, ServiceAccounts with the largest legal annotations, an API server that
//! answers without end or ends every watch at once, and connections that drip their handshake
//! or headers by the thousand.

use std::time::Duration;

use bytes::Bytes;
use gke_aws_webhook::paging::MAX_LIST_ITEMS;
use serde_json::{Value, json};
use testkit::kube_api::{Hostile, KubeApi};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{
    ARN, GSA, Webhook, memory_limit_kib, patched, pod, post, release_bin, review, tls_client, tls_connect,
};

/// The API server's own request limit: no review is larger.
const API_SERVER_REQUEST_BYTES: usize = 3 << 20;

async fn release_webhook(api: &KubeApi, wrapper: &[&str]) -> Webhook {
    Webhook::start_bin(&release_bin(), wrapper, &api.url(), &[]).await
}

fn with_reader(api: &KubeApi) {
    api.add_service_account(
        "team",
        "reader",
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
}

/// A legitimate review is injected, and the peak RSS so far is under the limit.
async fn still_serves_within_the_limit(webhook: &Webhook, case: &str) {
    let the_pod = pod("legit", "reader");
    patched(&the_pod, &webhook.admit("team", &the_pod).await);
    let peak = webhook.peak_rss_kib();
    eprintln!("{case}: peak RSS {peak} KiB");
    let limit = memory_limit_kib();
    assert!(peak < limit, "{case}: peak RSS {peak} KiB, limit {limit} KiB");
}

/// A pod padded with `containers` containers, its review just under `bytes`.
fn padded_pod(containers: usize, bytes: usize) -> Value {
    let mut p = pod("big", "reader");
    let skeleton = review("team", &p).to_string().len();
    let per = (bytes - skeleton) / containers;
    let filler = "v".repeat(per.saturating_sub(64));
    p["spec"]["containers"] = Value::Array(
        (0..containers)
            .map(|i| json!({ "name": format!("c{i}"), "image": "app:1", "env": [{ "name": "PAD", "value": filler }] }))
            .collect(),
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_pods_the_api_server_accepts() {
    let api = KubeApi::start().await;
    with_reader(&api);
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    // 3 MiB of the smallest containers: refused before it is parsed, with its uid.
    let tiny: Vec<Value> = (0..API_SERVER_REQUEST_BYTES / 24)
        .map(|i| json!({ "name": format!("{i:x}") }))
        .collect();
    let mut swarm = pod("swarm", "reader");
    swarm["spec"]["containers"] = Value::Array(tiny);
    let response = webhook.admit("team", &swarm).await;
    assert_eq!(response["allowed"], false, "{}", &response.to_string()[..200]);
    assert!(
        response["status"]["message"].as_str().unwrap().contains("at most 250"),
        "{response}"
    );
    // 3 MiB in the most containers the webhook handles: injected, every one of them.
    // 249 and the pod's one init container: the bound exactly.
    let big = padded_pod(249, API_SERVER_REQUEST_BYTES - 4096);
    let injected = patched(&big, &webhook.admit("team", &big).await);
    assert_eq!(injected["spec"]["containers"][248]["env"][1]["name"], "AWS_ROLE_ARN");
    // 3 MiB of small JSON values (environment variables): refused with its count.
    let env: Vec<Value> = (0..100_000).map(|i| json!({ "name": format!("E{i}") })).collect();
    let mut noisy = pod("noisy", "reader");
    noisy["spec"]["containers"][0]["env"] = Value::Array(env);
    let response = webhook.admit("team", &noisy).await;
    assert!(
        response["status"]["message"].as_str().unwrap().contains("JSON values"),
        "{}",
        &response.to_string()[..300]
    );
    still_serves_within_the_limit(&webhook, "largest pods").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_stalled_bodies_of_4_mib() {
    let api = KubeApi::start().await;
    with_reader(&api);
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let tcp = TcpStream::connect(&webhook.https).await.unwrap();
        let mut tls = tls_connect(tcp, &webhook.serving.cert_pem).await;
        // A body of 4 MiB announced, 4 MiB minus one byte sent, then nothing.
        let head = format!(
            "POST /mutate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n\r\n",
            4 << 20
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        let body = vec![b' '; (4 << 20) - 1];
        // The webhook stops reading a body it refuses: the write may not finish.
        let _ = tokio::time::timeout(Duration::from_secs(2), tls.write_all(&body)).await;
        let _ = tls.flush().await;
        stalled.push(tls);
    }
    // Those that found no room in the shared pool were refused at once (503); the rest stall.
    let mut refused = 0;
    for tls in &mut stalled {
        let mut answer = [0u8; 12];
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), tls.read_exact(&mut answer)).await
            && answer.starts_with(b"HTTP/1.1 503")
        {
            refused += 1;
        }
    }
    eprintln!("refused at once: {refused} of 40");
    assert!(refused >= 30, "most stalled bodies are refused: {refused}");
    still_serves_within_the_limit(&webhook, "stalled bodies").await;
    drop(stalled);
}

/// Connections that connect and then say nothing.
async fn idle_connections(addr: &str, count: usize) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(TcpStream::connect(addr).await.unwrap());
    }
    connections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections() {
    let api = KubeApi::start().await;
    with_reader(&api);
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    let mut idle = idle_connections(&webhook.https, 5_000).await;
    // Half of them also start a TLS handshake and stop.
    for tcp in idle.iter_mut().step_by(2) {
        let _ = tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05]).await;
    }
    still_serves_within_the_limit(&webhook, "5,000 idle connections").await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_file_descriptor_limit() {
    let api = KubeApi::start().await;
    with_reader(&api);
    // 128 descriptors: the webhook keeps its connections under it (64 here) instead of
    // failing accept() in a loop.
    let webhook = release_webhook(&api, &["prlimit", "--nofile=128:128", "--"]).await;
    webhook.wait_synced().await;
    let idle = idle_connections(&webhook.https, 600).await;
    still_serves_within_the_limit(&webhook, "fd limit").await;
    drop(idle);
    let the_pod = pod("after", "reader");
    patched(&the_pod, &webhook.admit("team", &the_pod).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_with_the_largest_legal_annotations() {
    let api = KubeApi::start().await;
    with_reader(&api);
    // 500 KSAs, each with 128 KiB of annotations (the API server allows 256 KiB), one of them
    // a role ARN of 200 KiB.
    let big = "x".repeat(128 << 10);
    api.add_many_service_accounts(
        "bulk",
        400,
        &[("kubectl.kubernetes.io/last-applied-configuration", &big)],
    );
    api.add_many_service_accounts("arns", 100, &[("amazonaws.com/role-arn", &big)]);
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    assert_eq!(
        webhook.metric("gke_aws_webhook_ksa_cache_size").await.as_deref(),
        Some("501")
    );
    still_serves_within_the_limit(&webhook, "large KSAs").await;
    // A KSA whose role ARN is too long is refused for it, not cut and used.
    let mut arn_pod = pod("long-arn", "ksa-1");
    arn_pod["metadata"]["namespace"] = json!("arns");
    let response = webhook.admit("arns", &arn_pod).await;
    assert_eq!(response["allowed"], false, "{response}");
    assert!(
        response["status"]["message"].as_str().unwrap().len() < 4096,
        "not echoed whole"
    );
    assert_eq!(api.gets(), 1, "the denial was checked once against the API server");
}

/// A hostile API server from the start: the cache never syncs (or syncs and churns), and a
/// review is answered from a direct get.
async fn against_hostile_api(hostile: Hostile) -> (KubeApi, Webhook) {
    let api = KubeApi::start().await;
    with_reader(&api);
    api.set_hostile(hostile);
    let webhook = release_webhook(&api, &[]).await;
    (api, webhook)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_list() {
    let (api, webhook) = against_hostile_api(Hostile::EndlessList).await;
    webhook
        .wait_for(
            || async { api.lists() >= 2 },
            "the endless list is cut and listed again",
        )
        .await;
    // Not even a first page: not ready, and it says what it waits for.
    let (status, text) = webhook.get_plain("/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("waiting for the first page"), "{text}");
    still_serves_within_the_limit(&webhook, "endless list").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_continue_pages() {
    // Pages of 500 KSAs with 2 KB role ARNs: 1 MB kept per page, 440 MB over the cap's
    // 200,000 items, held under the limit by the cache's byte bound; the item cap is what ends
    // the list (a reader without it never lists again), so the relist is what is waited for.
    let (api, webhook) = against_hostile_api(Hostile::EndlessContinue).await;
    webhook
        .wait_for(
            || async { api.lists() >= 2 },
            "the endless continue pages are cut at the cap and listed again",
        )
        .await;
    let pages = api.pages();
    assert!(
        pages * 500 >= MAX_LIST_ITEMS as usize,
        "relisted after {pages} pages, before the cap"
    );
    // Pages came, so it answers (KSAs not seen yet by direct GET), never synced.
    let (status, text) = webhook.get_plain("/readyz").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("ready; KSA cache warming"), "{text}");
    still_serves_within_the_limit(&webhook, "endless continue").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_answer_to_the_direct_get() {
    let api = KubeApi::start().await;
    with_reader(&api);
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    api.set_hostile(Hostile::HugeGet);
    let refused = webhook.admit("team", &pod("huge", "huge")).await;
    assert_eq!(refused["allowed"], false, "{refused}");
    assert!(
        refused["status"]["message"].as_str().unwrap().contains("larger than"),
        "{refused}"
    );
    still_serves_within_the_limit(&webhook, "50 MB get").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_flood() {
    let (_api, webhook) = against_hostile_api(Hostile::WatchFlood).await;
    webhook.wait_synced().await;
    webhook
        .wait_for(
            || async {
                let size = webhook.metric("gke_aws_webhook_ksa_cache_size").await;
                size.and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s > 5_000)
            },
            "5,000 flooded KSAs (320 MB of events) reach the cache",
        )
        .await;
    still_serves_within_the_limit(&webhook, "watch flood").await;
}

/// Waits until the pacing metric for `request` reaches 4 s: relists (or watches) at 0, 1, 2
/// and 4 s of waiting, not as fast as the API server answers.
async fn backs_off(api: &KubeApi, webhook: &Webhook, request: &str) {
    let metric = format!("gke_aws_webhook_ksa_api_backoff_seconds{{request=\"{request}\"}}");
    webhook
        .wait_for(
            || async {
                let wait = webhook.metric(&metric).await;
                wait.and_then(|w| w.parse::<f64>().ok()).is_some_and(|w| w >= 4.0)
            },
            "the pacing reaches 4 s",
        )
        .await;
    let (lists, watches) = (api.lists(), api.watches());
    assert!(
        lists <= 6 && watches <= 6,
        "{request}: {lists} lists, {watches} watches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_storm() {
    let (api, webhook) = against_hostile_api(Hostile::GoneStorm).await;
    backs_off(&api, &webhook, "relist").await;
    still_serves_within_the_limit(&webhook, "410 storm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_on_a_large_cluster_costs_one_relist() {
    let api = KubeApi::start().await;
    with_reader(&api);
    api.add_generated_service_accounts(
        20_000,
        10,
        &[("amazonaws.com/role-arn", ARN), ("iam.gke.io/gcp-service-account", GSA)],
    );
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    let (lists, pages) = (api.lists(), api.pages());
    assert_eq!(lists, 1);
    assert!(
        pages < 20,
        "{pages} continue pages for 20,000 small KSAs: pages sized to the objects"
    );
    // etcd compacts, the watch times out and resumes from a version that is gone: 410.
    api.compact();
    api.end_watches();
    webhook
        .wait_for(|| async { api.watches() >= 3 }, "a relist, then a new watch")
        .await;
    // A list that started over would be another first page: counted in lists.
    assert_eq!(api.lists(), 2, "one relist for one 410");
    let relist_pages = api.pages() - pages;
    assert!(
        relist_pages <= pages,
        "the relist took {relist_pages} continue pages (the first list {pages}): pages as large as learned"
    );
    let (status, text) = webhook.get_plain("/readyz").await;
    assert_eq!(
        (status, text.as_str()),
        (200, "ready; KSA cache synced: 20001 ServiceAccounts\n")
    );
    // Served from the cache: no direct get.
    let mut generated = pod("gen", "ksa-012345");
    generated["metadata"]["namespace"] = json!("gen-01234");
    patched(&generated, &webhook.admit("gen-01234", &generated).await);
    assert_eq!(api.gets(), 0);
    still_serves_within_the_limit(&webhook, "410 on a large cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_closes_at_once() {
    let (api, webhook) = against_hostile_api(Hostile::WatchClosesAtOnce).await;
    webhook.wait_synced().await;
    backs_off(&api, &webhook, "watch").await;
    still_serves_within_the_limit(&webhook, "watch closes at once").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_review_gets_its_uid_and_the_parse_error() {
    let api = KubeApi::start().await;
    with_reader(&api);
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    let tcp = TcpStream::connect(&webhook.https).await.unwrap();
    let mut sender = tls_client(tcp, &webhook.serving.cert_pem).await;
    let body = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-77","operation":"CREATE","object":{"spec":{"containers":{}}}}}"#;
    let (status, answer) = post(&mut sender, "/mutate", Bytes::from(body)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["uid"], "u-77", "{answer}");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 400);
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid type"),
        "{answer}"
    );
}

/// A peer that starts a TLS handshake and stops, or finishes it and sends part of a request's
/// headers and stops: it holds a connection until the webhook closes it.
async fn dripper(addr: &str, cert_pem: &str, tls: bool) -> Box<dyn tokio::io::AsyncRead + Unpin + Send> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    if !tls {
        // A TLS record header announcing a ClientHello, and a part of it.
        tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
        return Box::new(tcp);
    }
    let mut stream = tls_connect(tcp, cert_pem).await;
    stream
        .write_all(b"POST /mutate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: applic")
        .await
        .unwrap();
    stream.flush().await.unwrap();
    Box::new(stream)
}

/// Reads until the webhook closes the connection (end of stream or a reset).
async fn closed_by_the_webhook(mut stream: Box<dyn tokio::io::AsyncRead + Unpin + Send>) {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dripping_handshakes_and_headers_are_closed_and_the_api_servers_connection_is_kept() {
    let api = KubeApi::start().await;
    with_reader(&api);
    let webhook = release_webhook(&api, &[]).await;
    webhook.wait_synced().await;
    let cert = webhook.serving.cert_pem.clone();
    // The API server's pooled connection: it has served a review.
    let tcp = TcpStream::connect(&webhook.https).await.unwrap();
    let mut api_server = tls_client(tcp, &cert).await;
    let the_pod = pod("first", "reader");
    let body = Bytes::from(review("team", &the_pod).to_string());
    assert_eq!(post(&mut api_server, "/mutate", body.clone()).await.0, 200);
    // Fewer than the slots: each is closed by the timer, past its bound, not for a newcomer.
    let mut few = Vec::new();
    for i in 0..100 {
        few.push(dripper(&webhook.https, &cert, i % 2 == 0).await);
    }
    let closed = futures_util::future::join_all(few.into_iter().map(closed_by_the_webhook));
    tokio::time::timeout(crate::common::WAIT, closed)
        .await
        .expect("every dripping connection is closed after its bound");
    let metric = |reason: &str| format!("gke_aws_webhook_connections_closed_total{{reason=\"{reason}\"}}");
    let count = |text: Option<String>| text.and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    assert!(count(webhook.metric(&metric("handshake")).await) >= 50);
    assert!(count(webhook.metric(&metric("headers")).await) >= 50);
    assert_eq!(count(webhook.metric(&metric("evicted")).await), 0);
    // A thousand at once, four times the slots: newcomers close drippers, never the API
    // server's connection, which still answers, as does a new one.
    let mut many = Vec::new();
    for i in 0..1_000 {
        many.push(dripper(&webhook.https, &cert, i % 2 == 0).await);
    }
    let (status, answer) = post(&mut api_server, "/mutate", body).await;
    assert_eq!(status, 200, "{answer}");
    patched(&the_pod, &answer["response"]);
    still_serves_within_the_limit(&webhook, "1,000 dripping connections").await;
    drop(many);
}
