//! The webhook's Kubernetes API stand-in (`testkit::kube_api`) as a process, for `make
//! bench-webhook`: `ksa-stand-in DIR generated KSAS PER_NAMESPACE` serves KSAS generated KSAs
//! (a role, a GSA and a kubectl last-applied-configuration each: under 1 KiB, made page by page,
//! never held), `ksa-stand-in DIR large COUNT BYTES` COUNT KSAs each with BYTES of annotation
//! (the hostile tests' largest legal ones). Either way one KSA `team/reader` with a role, on a
//! free port of 127.0.0.1; it writes `DIR/kubeconfig`, prints `ready URL` and serves until it is
//! killed.

use std::path::PathBuf;

use testkit::kube_api::KubeApi;

const ROLE: &str = "arn:aws:iam::123456789012:role/team-reader";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ksa-stand-in DIR generated KSAS PER_NAMESPACE | ksa-stand-in DIR large COUNT BYTES";
    let dir = PathBuf::from(args.get(1).expect(usage));
    let number = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok()).expect(usage);
    let api = KubeApi::start().await;
    api.add_service_account(
        "team",
        "reader",
        &[
            ("amazonaws.com/role-arn", ROLE),
            ("iam.gke.io/gcp-service-account", "reader@proj.iam.gserviceaccount.com"),
        ],
    );
    match args.get(2).map(String::as_str) {
        Some("generated") => {
            let applied = r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"annotations":{"amazonaws.com/role-arn":"arn:aws:iam::123456789012:role/team-reader","iam.gke.io/gcp-service-account":"{name}@proj.iam.gserviceaccount.com"},"name":"{name}","namespace":"{namespace}"}}"#;
            api.add_generated_service_accounts(
                number(3),
                number(4),
                &[
                    ("amazonaws.com/role-arn", ROLE),
                    ("iam.gke.io/gcp-service-account", "{name}@proj.iam.gserviceaccount.com"),
                    ("kubectl.kubernetes.io/last-applied-configuration", applied),
                ],
            );
        }
        Some("large") => {
            let big = "x".repeat(number(4));
            api.add_many_service_accounts(
                "bulk",
                number(3),
                &[("kubectl.kubernetes.io/last-applied-configuration", &big)],
            );
        }
        _ => panic!("{usage}"),
    }
    api.kubeconfig(&dir);
    println!("ready {}", api.url());
    let _ = tokio::signal::ctrl_c().await;
}
