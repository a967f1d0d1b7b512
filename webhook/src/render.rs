//! A pod as the webhook would admit it, without a server or an API server: the decision
//! ([`crate::mutate::review`]) with its patch applied. What `examples/render.rs` prints (the
//! demo's two-role pod comes from it), and what tests use when they need the pod the webhook
//! really writes.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::mutate::{self, Annotations, Outcome, Settings};

/// The pod after admission, and what `kubectl apply` would have shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The pod as admitted (unchanged when skipped).
    pub pod: Value,
    pub warnings: Vec<String>,
    /// Why the webhook left the pod alone, when it did.
    pub skipped: Option<&'static str>,
}

/// `pod` (JSON, as the API server sends it) admitted in `namespace`, its KSA's annotations
/// `ksa` (`None`: the KSA does not exist). `Err` is the denial's message.
pub fn render(
    pod: &Value,
    namespace: &str,
    ksa: Option<&Annotations>,
    settings: &Settings,
) -> Result<Rendered, String> {
    let typed: Pod = serde_json::from_value(pod.clone()).map_err(|e| format!("not a Pod: {e}"))?;
    match mutate::review(&typed, namespace, ksa, settings) {
        Outcome::Deny { message } => Err(message),
        Outcome::Skip { reason } => Ok(Rendered {
            pod: pod.clone(),
            warnings: Vec::new(),
            skipped: Some(reason),
        }),
        Outcome::Inject { patch, warnings } => {
            let mut patched = pod.clone();
            json_patch::patch(&mut patched, &patch).map_err(|e| format!("the patch does not apply: {e}"))?;
            Ok(Rendered {
                pod: patched,
                warnings,
                skipped: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        Settings {
            sidecar_image: "registry.example/gke-aws-verifier:0.1.0".into(),
            default_region: Some("eu-west-1".into()),
            own_namespace: "gke-aws-webhook".into(),
            resources: crate::resources::Resources::default(),
        }
    }

    #[test]
    fn a_pod_is_rendered_skipped_or_denied() {
        let pod = json!({ "metadata": { "name": "p", "labels": { "gke-aws-verifier/inject": "true" } },
            "spec": { "serviceAccountName": "reports", "containers": [{ "name": "app", "image": "x" }] } });
        let ksa = Annotations::from([(
            "amazonaws.com/role-arn".to_owned(),
            "arn:aws:iam::123456789012:role/r".to_owned(),
        )]);
        let rendered = render(&pod, "team", Some(&ksa), &settings()).unwrap();
        assert_eq!(rendered.skipped, None);
        assert_eq!(
            rendered.pod["spec"]["containers"][0]["env"][0],
            json!({ "name": "AWS_ROLE_ARN", "value": "arn:aws:iam::123456789012:role/r" })
        );
        let again = render(&rendered.pod, "team", Some(&ksa), &settings()).unwrap();
        assert_eq!(again.skipped, Some("already injected"));
        assert_eq!(again.pod, rendered.pod);
        assert!(
            render(&pod, "team", None, &settings())
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            render(&json!({ "spec": 1 }), "team", None, &settings())
                .unwrap_err()
                .starts_with("not a Pod")
        );
    }
}
