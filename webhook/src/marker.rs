//! The marker: the annotation the webhook writes on every opted-in pod it admits, so the guard
//! (the ValidatingAdmissionPolicy `gke-aws-verifier-inject-guard` in k8s/webhook/base) can tell
//! a labelled pod the webhook admitted from one that reached the API server without it (the
//! MutatingWebhookConfiguration deleted, set to `Ignore`, or its selectors changed). Written on
//! pods given nothing too (every container `none`): the webhook decided on them.
//!
//! Added last, to the decision's final answer ([`crate::mutate::review`]), so the rest of the
//! patch stays the injection's.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// The annotation the guard requires on a labelled pod.
pub const ADMITTED_BY: &str = "gke-aws-verifier/admitted-by";
/// Its value: who admitted the pod (the guard reads only the key).
pub const WEBHOOK: &str = "gke-aws-webhook";

/// True when the pod already carries our marker.
pub fn is_marked(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.get(ADMITTED_BY).map(String::as_str) == Some(WEBHOOK))
}

/// Appends the marker's `add`. Into the pod's annotations when it has the map or an earlier
/// operation of the patch creates it; otherwise as a new map (an `add` of a member under a
/// missing map fails, RFC 6902 section 4.1). The key's `/` is escaped as `~1` by the pointer
/// (RFC 6901 section 3).
pub fn add(pod: &Pod, patch: &mut Patch) {
    let annotations = ["metadata", "annotations"];
    let map_created = patch.0.iter().any(|op| match op {
        PatchOperation::Add(add) => add.path == PointerBuf::from_tokens(annotations),
        _ => false,
    });
    let (path, value): (PointerBuf, Value) = if pod.metadata.annotations.is_some() || map_created {
        (
            PointerBuf::from_tokens(["metadata", "annotations", ADMITTED_BY]),
            json!(WEBHOOK),
        )
    } else {
        (PointerBuf::from_tokens(annotations), json!({ ADMITTED_BY: WEBHOOK }))
    };
    patch.0.push(PatchOperation::Add(AddOperation { path, value }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn marked(v: &Value, mut patch: Patch) -> (Patch, Value) {
        add(&pod(v.clone()), &mut patch);
        let mut patched = v.clone();
        json_patch::patch(&mut patched, &patch).expect("the patch applies");
        (patch, patched)
    }

    #[test]
    fn the_marker_goes_into_the_annotations_whatever_the_pod_has() {
        for (case, metadata) in [
            ("no annotations map", json!({ "name": "p" })),
            ("an empty map", json!({ "name": "p", "annotations": {} })),
            ("a null map", json!({ "name": "p", "annotations": null })),
            (
                "other annotations",
                json!({ "name": "p", "annotations": { "a/b": "c" } }),
            ),
            (
                "a forged value",
                json!({ "name": "p", "annotations": { ADMITTED_BY: "someone" } }),
            ),
        ] {
            let v = json!({ "metadata": metadata, "spec": { "containers": [] } });
            assert!(!is_marked(&pod(v.clone())), "{case}");
            let (_, out) = marked(&v, Patch(Vec::new()));
            assert_eq!(out["metadata"]["annotations"][ADMITTED_BY], WEBHOOK, "{case}: {out}");
            assert!(is_marked(&pod(out.clone())), "{case}");
            if case == "other annotations" {
                assert_eq!(out["metadata"]["annotations"]["a/b"], "c", "{case}: kept");
            }
        }
    }

    #[test]
    fn the_key_is_escaped_and_comes_after_the_map_the_patch_creates() {
        let v = json!({ "metadata": { "name": "p" }, "spec": { "containers": [] } });
        let config: Patch = serde_json::from_value(json!([{ "op": "add", "path": "/metadata/annotations",
            "value": { "gke-aws-verifier/aws-config": "x" } }]))
        .unwrap();
        let (patch, out) = marked(&v, config);
        let last = serde_json::to_value(patch.0.last().unwrap()).unwrap();
        assert_eq!(
            last,
            json!({ "op": "add", "path": "/metadata/annotations/gke-aws-verifier~1admitted-by", "value": WEBHOOK })
        );
        assert_eq!(
            out["metadata"]["annotations"],
            json!({ "gke-aws-verifier/aws-config": "x", ADMITTED_BY: WEBHOOK })
        );
    }
}
