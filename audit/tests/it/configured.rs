//! The webhook as it is configured: `NotInjected` only for pods the MutatingWebhookConfiguration's
//! own `namespaceSelector` and `objectSelector` send to the webhook (evaluated as the API server
//! does, on the Namespaces' labels the stand-in serves), `ExcludedByWebhook` with the selector
//! for a labelled pod they leave out.

use serde_json::json;
use testkit::kube_cluster::objects::{self, Injected};

use crate::helpers::{Mode, audit_json, clean_cluster};

fn missed(namespace: &str, name: &str) -> serde_json::Value {
    objects::pod(namespace, name, Mode::Gsa.ksa(), true, None, &Injected::No)
}

#[tokio::test]
async fn the_deployed_selectors_leave_out_kube_system_and_say_so() {
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.add(objects::webhook_configuration_as_deployed("gke-aws-webhook"));
    for ns in ["payments", "kube-system", "gke-aws-webhook"] {
        cluster.add(objects::namespace(ns, &[]));
    }
    cluster.add(missed("payments", "missed"));
    cluster.add(missed("kube-system", "labelled-by-mistake"));
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let not_injected = run.with_code("NotInjected");
    assert_eq!(not_injected.len(), 1, "{}", run.stdout);
    assert_eq!(not_injected[0]["object"]["name"], "missed");
    let excluded = run.with_code("ExcludedByWebhook");
    assert_eq!(excluded.len(), 1, "{}", run.stdout);
    assert_eq!(
        excluded[0]["object"],
        json!({ "kind": "Pod", "namespace": "kube-system", "name": "labelled-by-mistake" })
    );
    let message = excluded[0]["message"].as_str().unwrap();
    assert!(
        message.contains("namespaceSelector kubernetes.io/metadata.name NotIn (gke-aws-webhook, kube-system), which namespace kube-system does not meet")
            && message.contains("a restart cannot change that"),
        "{message}"
    );
    assert!(
        excluded[0]["fix"]
            .as_str()
            .unwrap()
            .contains("kubectl get namespace kube-system --show-labels"),
        "{}",
        excluded[0]["fix"]
    );
}

#[tokio::test]
async fn a_namespace_selector_on_labels_is_read_from_the_namespaces() {
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.add(objects::webhook_configuration_with_selectors(
        "gke-aws-webhook",
        json!({ "matchLabels": { "gke-aws-verifier/injection": "enabled" } }),
        json!({ "matchLabels": { "gke-aws-verifier/inject": "true" } }),
    ));
    cluster.add(objects::namespace(
        "payments",
        &[("gke-aws-verifier/injection", "enabled")],
    ));
    cluster.add(objects::namespace("ledger", &[]));
    cluster.add(missed("payments", "missed"));
    cluster.add(missed("ledger", "never-sent"));
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    assert_eq!(run.with_code("NotInjected").len(), 1, "{}", run.stdout);
    let excluded = run.with_code("ExcludedByWebhook");
    assert_eq!(excluded.len(), 1, "{}", run.stdout);
    assert_eq!(excluded[0]["object"]["name"], "never-sent");
    assert!(
        excluded[0]["message"]
            .as_str()
            .unwrap()
            .contains("namespaceSelector gke-aws-verifier/injection=enabled"),
        "{}",
        excluded[0]["message"]
    );
    // Namespaces unreadable: only kubernetes.io/metadata.name is known, so a selector on other
    // labels cannot send the pod either, and the CannotRead says why.
    cluster.forbid("namespaces");
    let run = audit_json(&cluster, dir.path(), &[]).await;
    assert!(
        run.with_code("CannotRead")
            .iter()
            .any(|f| f["object"]["name"] == "namespaces"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn an_object_selector_with_an_opt_out_label_excludes_the_pod() {
    let cluster = clean_cluster(Mode::Gsa).await;
    cluster.add(objects::webhook_configuration_with_selectors(
        "gke-aws-webhook",
        serde_json::Value::Null,
        json!({ "matchLabels": { "gke-aws-verifier/inject": "true" },
                "matchExpressions": [{ "key": "gke-aws-verifier/skip", "operator": "DoesNotExist" }] }),
    ));
    let mut pod = missed("payments", "skipped");
    pod["metadata"]["labels"]["gke-aws-verifier/skip"] = json!("");
    cluster.add(pod);
    cluster.add(missed("payments", "missed"));
    let dir = tempfile::tempdir().unwrap();
    let run = audit_json(&cluster, dir.path(), &[]).await;
    let excluded = run.with_code("ExcludedByWebhook");
    assert_eq!(excluded.len(), 1, "{}", run.stdout);
    assert_eq!(excluded[0]["object"]["name"], "skipped");
    assert!(
        excluded[0]["message"]
            .as_str()
            .unwrap()
            .contains("objectSelector gke-aws-verifier/skip DoesNotExist"),
        "{}",
        excluded[0]["message"]
    );
    assert_eq!(run.with_code("NotInjected").len(), 1, "{}", run.stdout);
}
