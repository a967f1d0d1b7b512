//! Fleets: several contexts in one run, the report grouped by cluster, a cluster that does not
//! answer as its own finding.

use testkit::kube_cluster::objects::{self, Injected};
use testkit::kube_cluster::write_kubeconfig;

use crate::helpers::{MODES, Mode, audit, clean_cluster};

#[tokio::test]
async fn a_fleet_is_reported_by_cluster_and_a_silent_one_is_a_finding() {
    let east = clean_cluster(Mode::Gsa).await;
    east.add(objects::pod(
        "payments",
        "missed",
        Mode::Gsa.ksa(),
        true,
        None,
        &Injected::No,
    ));
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
    assert_eq!(run.code, 1, "{}", run.stdout);
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
    assert_eq!(text.code, 1);
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
