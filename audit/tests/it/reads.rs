//! How the audit reads: every list paginated, an expired continue token relisted (or a finding),
//! RBAC refusals as findings, a namespace alone when asked.

use testkit::kube_cluster::Generator;
use testkit::kube_cluster::objects::{self, Injected};

use crate::helpers::{Mode, audit_json, clean_cluster};

/// `count` opted-in pods the webhook missed, each its own bare pod.
fn missed_pods(cluster: &testkit::kube_cluster::KubeCluster, count: usize) {
    for i in 0..count {
        cluster.add(objects::pod(
            "payments",
            &format!("missed-{i:02}"),
            "reports-reader",
            true,
            None,
            &Injected::No,
        ));
    }
}

#[tokio::test]
async fn every_list_is_paginated_and_read_to_its_end() {
    let cluster = clean_cluster(Mode::Gsa).await;
    missed_pods(&cluster, 7);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--page-size", "2"]).await;
    assert_eq!(run.with_code("NotInjected").len(), 7, "{}", run.stdout);
    // 9 pods, 8 opted in (the API server leaves out the one that did not: the audit lists with
    // the opt-in label selector), in pages of 2: 4 requests.
    assert_eq!(cluster.requests("/api/v1/pods"), 4);
    assert_eq!(cluster.largest_limit(), Some(2));
}

#[tokio::test]
async fn pods_are_read_with_the_opt_in_selector_so_a_cluster_past_the_cap_is_read_whole() {
    // 200,000 pods, more than the cap on one list; 200 opted in, none injected.
    let cluster = clean_cluster(Mode::Gsa).await;
    let opted = |i: usize| i.is_multiple_of(1000);
    let key = |i: usize| (format!("gen-{:05}", i / 20), format!("pod-{i:06}"));
    cluster.generate(
        "Pod",
        Generator {
            count: 200_000,
            key: Box::new(key),
            labels: Box::new(move |i| {
                let mut labels = serde_json::json!({ "app": "app" });
                if opted(i) {
                    labels[objects::INJECT.0] = serde_json::json!(objects::INJECT.1);
                }
                labels
            }),
            object: Box::new(move |i| {
                let (ns, name) = key(i);
                objects::pod(&ns, &name, "reports-reader", opted(i), None, &Injected::No)
            }),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--page-size", "100"]).await;
    assert!(run.with_code("CannotRead").is_empty(), "{}", run.stdout);
    let missed = run.with_code("NotInjected");
    assert_eq!(missed.len(), 200, "{}", &run.stdout[..run.stdout.len().min(2000)]);
    // 200 opted-in pods in pages of 100 (the API server filters): 2 pages and the last, empty.
    assert!(
        cluster.requests("/api/v1/pods") <= 3,
        "{}",
        cluster.requests("/api/v1/pods")
    );
}

#[tokio::test]
async fn an_expired_continue_token_relists_from_the_start_without_counting_twice() {
    let cluster = clean_cluster(Mode::Gsa).await;
    missed_pods(&cluster, 7);
    cluster.expire_continue_tokens(1);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--page-size", "3"]).await;
    assert_eq!(run.with_code("NotInjected").len(), 7, "{}", run.stdout);
    assert!(run.with_code("CannotRead").is_empty(), "{}", run.stdout);
    // Which list met the expired token depends on the order of the concurrent reads; the pods'
    // list was read whole either way, and some list was read twice from its start.
    assert!(
        run.stderr.is_empty() || !run.stderr.contains("panicked"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_list_that_expires_twice_is_a_finding_not_a_crash() {
    let cluster = clean_cluster(Mode::Gsa).await;
    missed_pods(&cluster, 7);
    // More expiries than any relisting absorbs: every list with a second page fails twice.
    cluster.expire_continue_tokens(100);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--page-size", "2"]).await;
    let cannot = run.with_code("CannotRead");
    let pods = cannot
        .iter()
        .find(|f| f["object"]["name"] == "pods")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        pods["message"].as_str().unwrap().contains("expired twice"),
        "{}",
        pods["message"]
    );
    assert_eq!(run.code, 6);
}

#[tokio::test]
async fn a_resource_rbac_refuses_is_cannot_read_and_the_rest_is_still_audited() {
    let cluster = clean_cluster(Mode::Cluster).await;
    cluster.add(objects::pod(
        "payments",
        "api-7d9f-x2",
        "ledger",
        true,
        Some(("ReplicaSet", "api-7d9f")),
        &Injected::No,
    ));
    cluster.forbid("replicasets");
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let cannot = run.with_code("CannotRead");
    assert_eq!(cannot.len(), 1, "{}", run.stdout);
    assert_eq!(
        cannot[0]["object"],
        serde_json::json!({ "kind": "Resource", "name": "replicasets" })
    );
    assert!(
        cannot[0]["message"]
            .as_str()
            .unwrap()
            .contains("RBAC refuses to list replicasets"),
        "{}",
        cannot[0]["message"]
    );
    assert!(
        cannot[0]["fix"]
            .as_str()
            .unwrap()
            .ends_with("kubectl auth can-i list replicasets --all-namespaces")
    );
    // Without the ReplicaSets the owner stops at the ReplicaSet, but the pod is still found.
    let missed = run.with_code("NotInjected");
    assert_eq!(missed.len(), 1, "{}", run.stdout);
    assert_eq!(missed[0]["owner"]["kind"], "ReplicaSet");

    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.forbid("pods");
    let run = audit_json(&cluster, dir.path(), &["--fail-on", "error"]).await;
    assert_eq!(run.codes(), vec!["CannotRead"], "{}", run.stdout);
    // A warning only: --fail-on error passes.
    assert_eq!(run.code, 0);

    // The webhook's EndpointSlices are listed in its namespace, granted by the component's
    // Role there: the fix says that, not the ClusterRole's list.
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.forbid("endpointslices");
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let cannot = run.with_code("CannotRead");
    assert_eq!(cannot.len(), 1, "{}", run.stdout);
    let fix = cannot[0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("the Role of k8s/components/audit")
            && fix.ends_with("kubectl auth can-i list endpointslices.discovery.k8s.io --namespace gke-aws-webhook"),
        "{fix}"
    );
}

#[tokio::test]
async fn namespace_limits_the_audit_to_one_namespace() {
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.add(objects::pod("other", "missed", "default", true, None, &Injected::No));
    cluster.add(objects::pod(
        "payments",
        "missed",
        "reports-reader",
        true,
        None,
        &Injected::No,
    ));
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &["--namespace", "payments"]).await;
    let missed = run.with_code("NotInjected");
    assert_eq!(missed.len(), 1, "{}", run.stdout);
    assert_eq!(missed[0]["object"]["namespace"], "payments");
    assert_eq!(cluster.requests("/api/v1/pods"), 0);
    assert_eq!(cluster.requests("/api/v1/namespaces/payments/pods"), 1);
}
