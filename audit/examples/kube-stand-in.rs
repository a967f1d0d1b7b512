//! The Kubernetes API stand-in (`testkit::kube_cluster`) as a process, for `make demo` and the
//! benchmark: `kube-stand-in DIR demo` or `kube-stand-in DIR bench PODS KSAS` serves a cluster
//! on a free port of 127.0.0.1, writes `DIR/kubeconfig` (context `stand-in`), prints `ready`
//! and serves until it is killed.
//!
//! - `demo [ROLE_ARN GSA_EMAIL]`: the webhook healthy, a Deployment whose pod was injected, and
//!   one pod of it created while the webhook was not there (the audit's one `NotInjected`);
//!   with a role and a GSA, the KSA `gke-aws/verifier` annotated with them (the demo's
//!   workload, whose GSA the demo recreates: `audit --gcp --aws` finds `GsaRecreated`).
//! - `bench PODS KSAS`: PODS injected pods of Deployments over 20 namespaces, KSAS annotated
//!   KSAs; every 100th pod missed injection.

use std::path::PathBuf;

use testkit::kube_cluster::KubeCluster;
use testkit::kube_cluster::objects::{self, Injected};

const ROLE: &str = "arn:aws:iam::123456789012:role/reports-reader";
const GSA: &str = "reports-reader@example-project.iam.gserviceaccount.com";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: kube-stand-in DIR demo [ROLE_ARN GSA_EMAIL] | kube-stand-in DIR bench PODS KSAS";
    let dir = PathBuf::from(args.get(1).expect(usage));
    let cluster = KubeCluster::start().await;
    cluster.add(objects::webhook_configuration("gke-aws-webhook", true, "Fail"));
    cluster.add(objects::endpoint_slice("gke-aws-webhook", "gke-aws-webhook", 2));
    let annotations = [
        ("amazonaws.com/role-arn", ROLE),
        ("iam.gke.io/gcp-service-account", GSA),
    ];
    let injected = Injected::Gke {
        role_arn: ROLE,
        region: Some("eu-west-1"),
    };
    match args.get(2).map(String::as_str) {
        Some("demo") => {
            if let (Some(role), Some(gsa)) = (args.get(3), args.get(4)) {
                cluster.add(objects::service_account(
                    "gke-aws",
                    "verifier",
                    &[
                        ("amazonaws.com/role-arn", role.as_str()),
                        ("iam.gke.io/gcp-service-account", gsa.as_str()),
                    ],
                ));
            }
            cluster.add(objects::service_account("payments", "reports-reader", &annotations));
            cluster.add(objects::workload(
                "Deployment",
                "payments",
                "reports",
                false,
                true,
                None,
            ));
            cluster.add(objects::workload(
                "ReplicaSet",
                "payments",
                "reports-5c9d",
                false,
                true,
                Some(("Deployment", "reports")),
            ));
            let owner = Some(("ReplicaSet", "reports-5c9d"));
            cluster.add(objects::pod(
                "payments",
                "reports-5c9d-k2x7p",
                "reports-reader",
                true,
                owner,
                &injected,
            ));
            cluster.add(objects::pod(
                "payments",
                "reports-5c9d-q8w4n",
                "reports-reader",
                true,
                owner,
                &Injected::No,
            ));
        }
        Some("bench") => {
            let count = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok()).expect(usage);
            let (pods, ksas) = (count(3), count(4));
            for k in 0..ksas {
                cluster.add(objects::service_account(
                    &format!("ns-{:02}", k % 20),
                    &format!("ksa-{k}"),
                    &annotations,
                ));
            }
            for d in 0..pods.div_ceil(10) {
                let ns = format!("ns-{:02}", d % 20);
                cluster.add(objects::workload(
                    "Deployment",
                    &ns,
                    &format!("app-{d}"),
                    false,
                    true,
                    None,
                ));
                cluster.add(objects::workload(
                    "ReplicaSet",
                    &ns,
                    &format!("app-{d}-rs"),
                    false,
                    true,
                    Some(("Deployment", &format!("app-{d}"))),
                ));
            }
            for p in 0..pods {
                let d = p / 10;
                let ns = format!("ns-{:02}", d % 20);
                let ksa = format!("ksa-{}", (d % 20) + 20 * ((p / 200) % (ksas / 20).max(1)));
                let how = if p % 100 == 99 { Injected::No } else { injected.clone() };
                cluster.add(objects::pod(
                    &ns,
                    &format!("app-{d}-rs-{p}"),
                    &ksa,
                    true,
                    Some(("ReplicaSet", &format!("app-{d}-rs"))),
                    &how,
                ));
            }
        }
        _ => panic!("{usage}"),
    }
    cluster.kubeconfig(&dir, "stand-in");
    println!("ready {}", cluster.url());
    let _ = tokio::signal::ctrl_c().await;
    // SIGTERM ends the process by default; SIGINT lands here.
    drop(cluster);
}
