//! Fleets: several contexts in one run, the report grouped by cluster, a cluster that does not
//! answer as its own finding.

use std::time::Duration;

use testkit::kube_cluster::objects::{self, Injected};
use testkit::kube_cluster::{KubeCluster, write_kubeconfig};

use crate::helpers::{MODES, Mode, audit, clean_cluster};

/// A GSA-mode cluster whose one finding is a labelled pod the webhook missed.
async fn with_a_missed_pod() -> KubeCluster {
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.add(objects::pod(
        "payments",
        "missed",
        Mode::Gsa.ksa(),
        true,
        None,
        &Injected::No,
    ));
    cluster
}

#[tokio::test]
async fn a_fleet_is_reported_by_cluster_and_a_silent_one_is_a_finding() {
    let east = with_a_missed_pod().await;
    let west = clean_cluster(Mode::Cluster).await;
    let gone = clean_cluster(MODES[0]).await;
    let gone_url = gone.url();
    gone.stop();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(
        dir.path(),
        &[("east", &east.url()), ("west", &west.url()), ("gone", &gone_url)],
    );
    let run = audit(
        &kubeconfig,
        &[
            "--format",
            "json",
            "--context",
            "east",
            "--context",
            "west,gone",
            "--timeout",
            "5s",
        ],
    )
    .await;
    assert_eq!(run.code, 6, "{}", run.stdout);
    let json = run.json();
    let clusters: Vec<&str> = json["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["east", "west", "gone"]);
    let codes = |i: usize| -> Vec<&str> {
        json["clusters"][i]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect()
    };
    assert_eq!(codes(0), ["NotInjected"]);
    assert!(codes(1).is_empty());
    assert_eq!(codes(2), ["ClusterUnreachable"]);
    assert_eq!(
        json["clusters"][2]["findings"][0]["object"],
        serde_json::json!({ "kind": "Cluster", "name": "gone" })
    );

    // The table for a person: grouped by cluster, errors first, each with its fix.
    let text = audit(&kubeconfig, &["--context", "east,west"]).await;
    assert_eq!(text.code, 6);
    assert!(
        text.stdout.starts_with("CLUSTER east\n  SEVERITY CODE"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("\nCLUSTER west\n  no finding\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("fix: kubectl delete pod missed --namespace payments"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .ends_with("FAIL: 1 finding(s) in 2 cluster(s): 1 error, 0 warning, 0 info (--fail-on warning)\n"),
        "{}",
        text.stdout
    );
}

/// Every path the audit reads once from a cluster without pagination.
const READS: [&str; 12] = [
    "/api/v1/pods",
    "/api/v1/serviceaccounts",
    "/apis/apps/v1/replicasets",
    "/apis/apps/v1/deployments",
    "/apis/apps/v1/statefulsets",
    "/apis/apps/v1/daemonsets",
    "/apis/batch/v1/jobs",
    "/apis/batch/v1/cronjobs",
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "/apis/discovery.k8s.io/v1/namespaces/gke-aws-webhook/endpointslices",
    "/api/v1/namespaces",
    "/.well-known/openid-configuration",
];

#[tokio::test]
async fn a_cluster_that_never_answers_stalls_no_other() {
    // A black hole: accepts every connection and never answers; they are held until released.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_url = format!("http://{}", hole.local_addr().unwrap());
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hole.accept().await {
            held.push(stream);
        }
    });
    let healthy = with_a_missed_pod().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &[("dead", &hole_url), ("healthy", &healthy.url())]);
    // The dead cluster first, so its reads are the first to ask for the slots; --timeout at its
    // most, so only the release ends them.
    let args = ["--format", "json", "--context", "dead,healthy", "--timeout", "5m"];
    let (run, served_while_held) = tokio::join!(audit(&kubeconfig, &args), async {
        // Not a timed assertion: the bound only ends the wait when the healthy cluster is
        // never read while the dead one holds on (the fault), which the assertion reports.
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            while !READS.iter().all(|path| healthy.requests(path) > 0) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let read = READS.map(|path| healthy.requests(path));
        // Drops the listener and every held connection: the dead cluster's reads fail now.
        holding.abort();
        read
    });
    assert!(
        served_while_held.iter().all(|served| *served > 0),
        "the healthy cluster was not read while the dead one held its connections (requests per path: {served_while_held:?})"
    );
    assert_eq!(run.code, 6, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    let codes = |i: usize| -> Vec<(&str, &str)> {
        json["clusters"][i]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["code"].as_str().unwrap(), f["object"]["name"].as_str().unwrap()))
            .collect()
    };
    assert_eq!(json["clusters"][0]["cluster"], "dead");
    assert_eq!(codes(0), [("ClusterUnreachable", "dead")]);
    assert_eq!(json["clusters"][1]["cluster"], "healthy");
    assert_eq!(codes(1), [("NotInjected", "missed")]);
}
