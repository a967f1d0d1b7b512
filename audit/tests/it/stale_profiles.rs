//! `StaleInjection` for pods with named roles: the profiles a pod was given (its
//! `gke-aws-verifier/aws-config` annotation) against what its KSA's `role.*` and `region.*`
//! annotations give now. The pods are rendered by the webhook's own code
//! (`gke_aws_webhook::render`) from the KSA as it was when they were created.

use gke_aws_webhook::mutate::{Annotations, Settings};
use gke_aws_webhook::resources::Resources;
use serde_json::{Value, json};
use testkit::kube_cluster::KubeCluster;
use testkit::kube_cluster::objects::{self, Injected};

use crate::helpers::{GSA_EMAIL, GSA_ROLE, audit_json, healthy_webhook};

const EXPORTS: &str = "arn:aws:iam::123456789012:role/reports-reader.exports";
const EXPORTS_V2: &str = "arn:aws:iam::123456789012:role/reports-reader.exports-v2";
const ARCHIVE: &str = "arn:aws:iam::123456789012:role/reports-reader.archive";
const NEW_DEFAULT: &str = "arn:aws:iam::123456789012:role/reports-reader-v2";

fn ksa(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![
        ("amazonaws.com/role-arn".to_owned(), GSA_ROLE.to_owned()),
        ("iam.gke.io/gcp-service-account".to_owned(), GSA_EMAIL.to_owned()),
        ("amazonaws.com/region".to_owned(), "us-east-1".to_owned()),
    ];
    for (k, v) in extra {
        all.retain(|(key, _)| key != k);
        all.push(((*k).to_owned(), (*v).to_owned()));
    }
    all
}

/// The pod `name` of KSA `ksa_name` as the webhook admitted it when the KSA said `then`, with
/// these pod annotations.
fn admitted(name: &str, ksa_name: &str, then: &[(String, String)], annotations: Value) -> Value {
    let mut pod = objects::pod("payments", name, ksa_name, true, None, &Injected::No);
    for (k, v) in annotations.as_object().into_iter().flatten() {
        pod["metadata"]["annotations"][k] = v.clone();
    }
    let then: Annotations = then.iter().cloned().collect();
    let settings = Settings {
        sidecar_image: "registry.example/gke-aws-verifier:0.1.0".into(),
        default_region: None,
        own_namespace: "gke-aws-webhook".into(),
        resources: Resources::default(),
    };
    let rendered = gke_aws_webhook::render::render(&pod, "payments", Some(&then), &settings).expect("admitted");
    assert_eq!(rendered.skipped, None, "{name}");
    rendered.pod
}

/// Adds the KSA as it is now and the pod as it was admitted.
fn add(cluster: &KubeCluster, ksa_name: &str, now: &[(String, String)], pod: Value) {
    let now: Vec<(&str, &str)> = now.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    cluster.add(objects::service_account("payments", ksa_name, &now));
    cluster.add(pod);
}

#[tokio::test]
async fn named_roles_changed_added_or_removed_since_the_pod_was_admitted_are_stale() {
    let cluster = KubeCluster::start().await;
    healthy_webhook(&cluster);
    let exports = ksa(&[
        ("gke-aws-verifier/role.exports", EXPORTS),
        ("gke-aws-verifier/region.exports", "eu-west-3"),
    ]);
    // Unchanged: not stale, with named roles and with profile switching at run time.
    add(
        &cluster,
        "same",
        &exports,
        admitted("same-1", "same", &exports, json!({})),
    );
    cluster.add(admitted(
        "same-2",
        "same",
        &exports,
        json!({ "gke-aws-verifier/profile-switching": "runtime" }),
    ));
    // A named role's ARN and region changed, and one added.
    let changed = ksa(&[
        ("gke-aws-verifier/role.exports", EXPORTS_V2),
        ("gke-aws-verifier/region.exports", "eu-west-1"),
        ("gke-aws-verifier/role.archive", ARCHIVE),
    ]);
    add(
        &cluster,
        "changed",
        &changed,
        admitted("changed-1", "changed", &exports, json!({})),
    );
    // Named roles removed, and named roles added to a KSA that had none.
    add(
        &cluster,
        "removed",
        &ksa(&[]),
        admitted("removed-1", "removed", &exports, json!({})),
    );
    add(
        &cluster,
        "added",
        &exports,
        admitted("added-1", "added", &ksa(&[]), json!({})),
    );
    // The default role changed: a container shows it in AWS_ROLE_ARN (said once), or, when the
    // pod switches profiles at run time, only [default] has it.
    let moved = ksa(&[
        ("amazonaws.com/role-arn", NEW_DEFAULT),
        ("gke-aws-verifier/role.exports", EXPORTS),
        ("gke-aws-verifier/region.exports", "eu-west-3"),
    ]);
    add(
        &cluster,
        "moved",
        &moved,
        admitted("moved-1", "moved", &exports, json!({})),
    );
    cluster.add(admitted(
        "moved-2",
        "moved",
        &exports,
        json!({ "gke-aws-verifier/profile-switching": "runtime" }),
    ));

    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let stale: Vec<(String, String)> = run
        .with_code("StaleInjection")
        .iter()
        .map(|f| {
            (
                f["object"]["name"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let message = |pod: &str| {
        stale
            .iter()
            .find(|(name, _)| name == pod)
            .map(|(_, m)| m.as_str())
            .unwrap_or_else(|| panic!("no StaleInjection for {pod}: {}", run.stdout))
    };
    let mut names: Vec<&str> = stale.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["added-1", "changed-1", "moved-1", "moved-2", "removed-1"],
        "{}",
        run.stdout
    );
    assert_eq!(
        message("changed-1"),
        format!(
            "injected with profile exports role {EXPORTS} (the KSA now says {EXPORTS_V2}), profile exports region eu-west-3 (the KSA now says eu-west-1), no profile archive (the KSA now has gke-aws-verifier/role.archive) by its KSA payments/changed; a new pod would get what the KSA says now"
        )
    );
    assert!(
        message("removed-1").starts_with("injected with named roles exports (the KSA now has none) by its KSA"),
        "{}",
        message("removed-1")
    );
    assert!(
        message("added-1")
            .starts_with("injected with no named roles (the KSA now has gke-aws-verifier/role.exports) by its KSA"),
        "{}",
        message("added-1")
    );
    assert!(
        message("moved-1").starts_with(&format!(
            "injected with role {GSA_ROLE} (the KSA now says {NEW_DEFAULT}) by its KSA"
        )),
        "said once, from the variables: {}",
        message("moved-1")
    );
    assert!(
        message("moved-2").starts_with(&format!(
            "injected with profile default role {GSA_ROLE} (the KSA now says {NEW_DEFAULT}) by its KSA"
        )),
        "{}",
        message("moved-2")
    );
    assert_eq!(
        run.codes().iter().filter(|c| *c != "StaleInjection").count(),
        0,
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn an_aws_config_annotation_the_webhook_did_not_write_is_stale() {
    let cluster = KubeCluster::start().await;
    healthy_webhook(&cluster);
    let exports = ksa(&[("gke-aws-verifier/role.exports", EXPORTS)]);
    let mut edited = admitted("edited-1", "edited", &exports, json!({}));
    edited["metadata"]["annotations"]["gke-aws-verifier/aws-config"] = json!("[profile exports]\nregion: x\n");
    add(&cluster, "edited", &exports, edited);
    let mut huge = admitted("huge-1", "edited", &exports, json!({}));
    huge["metadata"]["annotations"]["gke-aws-verifier/aws-config"] = json!("#".repeat(64 * 1024));
    cluster.add(huge);
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let stale = run.with_code("StaleInjection");
    assert_eq!(stale.len(), 2, "{}", run.stdout);
    for f in &stale {
        let message = f["message"].as_str().unwrap();
        let expected = if f["object"]["name"] == "edited-1" {
            "injected with a gke-aws-verifier/aws-config annotation the webhook did not write (line 2:"
        } else {
            "injected with a gke-aws-verifier/aws-config annotation with no profile (empty, or longer than any the webhook writes)"
        };
        assert!(message.starts_with(expected), "{message}");
    }
}
