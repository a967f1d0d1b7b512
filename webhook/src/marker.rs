//! The marker: the annotation the webhook writes on every opted-in pod it admits, so the guard
//! (the ValidatingAdmissionPolicy `gke-aws-verifier-inject-guard` in k8s/webhook/base) can tell
//! a labelled pod the webhook admitted from one that reached the API server without it (the
//! MutatingWebhookConfiguration deleted, set to `Ignore`, or its selectors changed). Written on
//! pods given nothing too (every container `none`): the webhook decided on them.
//!
//! Added last, to the decision's final answer, so the rest of the patch stays the injection's.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::mutate::Outcome;

/// The annotation the guard requires on a labelled pod.
pub const ADMITTED_BY: &str = "gke-aws-verifier/admitted-by";
/// Its value: who admitted the pod (the guard reads only the key).
pub const WEBHOOK: &str = "gke-aws-webhook";

/// The decision's answer for an opted-in pod, with the marker: added to an injection's patch,
/// and a skip of an already injected pod that lacks it becomes a patch of the marker alone.
/// Denials stay denials.
pub fn marked(pod: &Pod, outcome: Outcome) -> Outcome {
    let has_marker = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.get(ADMITTED_BY).map(String::as_str) == Some(WEBHOOK));
    match outcome {
        Outcome::Inject { mut patch, warnings } => {
            if !has_marker {
                add_marker(pod, &mut patch);
            }
            Outcome::Inject { patch, warnings }
        }
        Outcome::Skip { .. } if !has_marker => {
            let mut patch = Patch(Vec::new());
            add_marker(pod, &mut patch);
            Outcome::Inject {
                patch,
                warnings: Vec::new(),
            }
        }
        other => other,
    }
}

/// Appends the marker's `add`. Into the pod's annotations when it has the map or an earlier
/// operation of the patch creates it; otherwise as a new map (an `add` of a member under a
/// missing map fails, RFC 6902 section 4.1). The key's `/` is escaped as `~1` by the pointer
/// (RFC 6901 section 3).
fn add_marker(pod: &Pod, patch: &mut Patch) {
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

    fn apply(v: &Value, outcome: &Outcome) -> Value {
        let Outcome::Inject { patch, .. } = outcome else {
            panic!("expected a patch, got {outcome:?}")
        };
        let mut patched = v.clone();
        json_patch::patch(&mut patched, patch).expect("the patch applies");
        patched
    }

    fn one_op(path: &str, value: Value) -> Patch {
        serde_json::from_value(json!([{ "op": "add", "path": path, "value": value }])).unwrap()
    }

    #[test]
    fn the_marker_goes_into_the_annotations_whatever_the_pod_has() {
        let empty = Outcome::Inject {
            patch: Patch(Vec::new()),
            warnings: Vec::new(),
        };
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
            let out = apply(&v, &marked(&pod(v.clone()), empty.clone()));
            assert_eq!(out["metadata"]["annotations"][ADMITTED_BY], WEBHOOK, "{case}: {out}");
            if case == "other annotations" {
                assert_eq!(out["metadata"]["annotations"]["a/b"], "c", "{case}: kept");
            }
        }
    }

    #[test]
    fn the_key_is_escaped_and_comes_after_the_map_the_patch_creates() {
        let v = json!({ "metadata": { "name": "p" }, "spec": { "containers": [] } });
        let config = Outcome::Inject {
            patch: one_op("/metadata/annotations", json!({ "gke-aws-verifier/aws-config": "x" })),
            warnings: vec!["w".to_owned()],
        };
        let outcome = marked(&pod(v.clone()), config);
        let Outcome::Inject { patch, warnings } = &outcome else {
            unreachable!()
        };
        assert_eq!(warnings, &["w".to_owned()]);
        let last = serde_json::to_value(patch.0.last().unwrap()).unwrap();
        assert_eq!(
            last,
            json!({ "op": "add", "path": "/metadata/annotations/gke-aws-verifier~1admitted-by", "value": WEBHOOK })
        );
        let out = apply(&v, &outcome);
        assert_eq!(
            out["metadata"]["annotations"],
            json!({ "gke-aws-verifier/aws-config": "x", ADMITTED_BY: WEBHOOK })
        );
    }

    #[test]
    fn a_marked_pod_gets_no_second_marker_and_denials_stay() {
        let v = json!({ "metadata": { "annotations": { ADMITTED_BY: WEBHOOK } }, "spec": { "containers": [] } });
        let skip = Outcome::Skip {
            reason: "already injected",
        };
        assert_eq!(marked(&pod(v.clone()), skip.clone()), skip);
        let deny = Outcome::Deny { message: "no".into() };
        let unmarked = json!({ "metadata": {}, "spec": { "containers": [] } });
        assert_eq!(marked(&pod(unmarked.clone()), deny.clone()), deny);
        // An injected pod without the marker (copied from one by hand) gets the marker alone.
        let out = apply(&unmarked, &marked(&pod(unmarked.clone()), skip));
        assert_eq!(out["metadata"]["annotations"], json!({ ADMITTED_BY: WEBHOOK }));
    }
}
