//! The Kubernetes API stand-in (`testkit::kube_cluster`) as a process, for `make demo` and the
//! benchmark: `kube-stand-in DIR demo` or `kube-stand-in DIR bench PODS OPTED KSAS WORKLOADS`
//! serves a cluster on a free port of 127.0.0.1, writes `DIR/kubeconfig` (context `stand-in`),
//! prints `ready` and serves until it is killed.
//!
//! - `demo [ROLE_ARN GSA_EMAIL]`: the webhook healthy, a Deployment whose pod was injected, and
//!   one pod of it created while the webhook was not there (the audit's one `NotInjected`);
//!   with a role and a GSA, the KSA `gke-aws/verifier` annotated with them (the demo's
//!   workload, whose GSA the demo recreates: `audit --gcp --aws` finds `GsaRecreated`).
//! - `bench PODS OPTED KSAS WORKLOADS`: made page by page, never held. KSAS annotated KSAs, ten
//!   to a namespace; WORKLOADS workloads, half Deployments, half the ReplicaSets they own, one
//!   pair to a namespace of its own; PODS pods of those ReplicaSets, OPTED of them opted in
//!   (spread evenly) and injected, but every 100th opted-in pod, which missed injection; and
//!   the Namespace of each.

use std::path::PathBuf;

use serde_json::{Value, json};
use testkit::kube_cluster::objects::{self, Injected};
use testkit::kube_cluster::{Generator, KubeCluster};

const ROLE: &str = "arn:aws:iam::123456789012:role/reports-reader";
const GSA: &str = "reports-reader@example-project.iam.gserviceaccount.com";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: kube-stand-in DIR demo [ROLE_ARN GSA_EMAIL] | kube-stand-in DIR bench PODS OPTED KSAS WORKLOADS";
    let dir = PathBuf::from(args.get(1).expect(usage));
    let cluster = KubeCluster::start().await;
    cluster.add(objects::webhook_configuration("gke-aws-webhook", true, "Fail"));
    cluster.add(objects::endpoint_slice("gke-aws-webhook", "gke-aws-webhook", 2));
    for guard in objects::inject_guard() {
        cluster.add(guard);
    }
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
            bench(&cluster, count(3), count(4), count(5), count(6));
        }
        _ => panic!("{usage}"),
    }
    cluster.kubeconfig(&dir, "stand-in");
    println!("ready {}", cluster.url());
    let _ = tokio::signal::ctrl_c().await;
    // SIGTERM ends the process by default; SIGINT lands here.
    drop(cluster);
}

/// The benchmark's cluster: every object made when a page asks for it.
fn bench(cluster: &KubeCluster, pods: usize, opted: usize, ksas: usize, workloads: usize) {
    let annotations = [
        ("amazonaws.com/role-arn", ROLE),
        ("iam.gke.io/gcp-service-account", GSA),
    ];
    let ksa_key = |i: usize| (format!("ns-{:05}", i / 10), format!("ksa-{i:06}"));
    cluster.generate(
        "ServiceAccount",
        Generator {
            count: ksas,
            key: Box::new(ksa_key),
            labels: Box::new(|_| json!({ "app": "app" })),
            object: Box::new(move |i| {
                let (ns, name) = ksa_key(i);
                objects::service_account(&ns, &name, &annotations)
            }),
        },
    );
    // Deployment d and its ReplicaSet in namespace app-d.
    let pairs = (workloads / 2).max(1);
    let app = |d: usize| format!("app-{d:05}");
    // The namespaces of both, in key order: every app-… before every ns-….
    let ksa_namespaces = ksas.div_ceil(10);
    let namespace = move |i: usize| if i < pairs { app(i) } else { ksa_key((i - pairs) * 10).0 };
    cluster.generate(
        "Namespace",
        Generator {
            count: pairs + ksa_namespaces,
            key: Box::new(move |i| (String::new(), namespace(i))),
            labels: Box::new(move |i| json!({ "kubernetes.io/metadata.name": namespace(i) })),
            object: Box::new(move |i| objects::namespace(&namespace(i), &[])),
        },
    );
    cluster.generate(
        "Deployment",
        Generator {
            count: pairs,
            key: Box::new(move |d| (app(d), "app".to_owned())),
            labels: Box::new(|_| json!({ "app": "app" })),
            object: Box::new(move |d| objects::workload("Deployment", &app(d), "app", false, true, None)),
        },
    );
    cluster.generate(
        "ReplicaSet",
        Generator {
            count: pairs,
            key: Box::new(move |d| (app(d), "app-rs".to_owned())),
            labels: Box::new(|_| json!({ "app": "app" })),
            object: Box::new(move |d| {
                objects::workload(
                    "ReplicaSet",
                    &app(d),
                    "app-rs",
                    false,
                    true,
                    Some(("Deployment", "app")),
                )
            }),
        },
    );
    // Pod p belongs to pair p % pairs, in its namespace; keys grow with p when they sort by
    // namespace first, so pods are numbered namespace by namespace.
    let per_pair = pods.div_ceil(pairs).max(1);
    let every = (pods / opted.max(1)).max(1);
    let opted_in = move |p: usize| p.is_multiple_of(every);
    let pod_key = move |p: usize| (app(p / per_pair), format!("app-rs-{p:06}"));
    let injected = Injected::Gke {
        role_arn: ROLE,
        region: Some("eu-west-1"),
    };
    cluster.generate(
        "Pod",
        Generator {
            count: pods,
            key: Box::new(pod_key),
            labels: Box::new(move |p| {
                let mut labels: Value = json!({ "app": "app" });
                if opted_in(p) {
                    labels[objects::INJECT.0] = json!(objects::INJECT.1);
                }
                labels
            }),
            object: Box::new(move |p| {
                let (ns, name) = pod_key(p);
                // Every 100th opted-in pod missed injection.
                let missed = opted_in(p) && (p / every) % 100 == 99;
                let how = if missed { Injected::No } else { injected.clone() };
                let ksa = ksa_key(p % ksas.max(1)).1;
                objects::pod(&ns, &name, &ksa, opted_in(p), Some(("ReplicaSet", "app-rs")), &how)
            }),
        },
    );
}
