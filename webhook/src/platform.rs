//! Where a pod will run, as far as the injection cares: on Windows nodes (the token sidecar is
//! Linux-only) or on the host's network (the GKE metadata server then answers as the node, not
//! as the pod's KSA). Both matter only in GSA mode, where the sidecar runs in the pod.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, PodSpec};

/// The node labels that name a node's operating system (the second is the deprecated one).
const OS_LABELS: [&str; 2] = ["kubernetes.io/os", "beta.kubernetes.io/os"];

/// Why the pod can only run on Windows nodes, or `None` when it may run on Linux.
pub fn windows_only(spec: &PodSpec) -> Option<&'static str> {
    if spec.os.as_ref().is_some_and(|os| os.name == "windows") {
        return Some("spec.os.name is windows");
    }
    let selector = spec.node_selector.as_ref();
    if OS_LABELS
        .iter()
        .any(|label| selector.and_then(|s| s.get(*label)).is_some_and(|os| os == "windows"))
    {
        return Some("its nodeSelector asks for kubernetes.io/os=windows");
    }
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref())
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or_default();
    // Terms are alternatives: the pod is kept off Linux only when every term excludes it.
    let excludes_linux = |expressions: &[NodeSelectorRequirement]| {
        expressions.iter().any(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let linux = values.iter().any(|v| v == "linux");
            OS_LABELS.contains(&e.key.as_str())
                && match e.operator.as_str() {
                    "In" => !linux,
                    "NotIn" => linux,
                    "DoesNotExist" => true,
                    _ => false,
                }
        })
    };
    let all_exclude = !terms.is_empty()
        && terms
            .iter()
            .all(|t| excludes_linux(t.match_expressions.as_deref().unwrap_or_default()));
    all_exclude.then_some("its node affinity requires non-Linux nodes")
}

/// True when the pod shares the node's network namespace.
pub fn host_network(spec: &PodSpec) -> bool {
    spec.host_network.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut v = v;
        v["containers"] = json!([{ "name": "app" }]);
        serde_json::from_value(v).unwrap()
    }

    fn affinity(terms: serde_json::Value) -> PodSpec {
        spec(
            json!({ "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": terms } } } }),
        )
    }

    #[test]
    fn a_pod_pinned_to_windows_by_any_means_is_recognised() {
        let os = |key: &str, op: &str, values: &[&str]| json!({ "key": key, "operator": op, "values": values });
        for (case, s) in [
            ("spec.os", spec(json!({ "os": { "name": "windows" } }))),
            (
                "nodeSelector",
                spec(json!({ "nodeSelector": { "kubernetes.io/os": "windows" } })),
            ),
            (
                "beta label",
                spec(json!({ "nodeSelector": { "beta.kubernetes.io/os": "windows" } })),
            ),
            (
                "affinity In",
                affinity(json!([{ "matchExpressions": [os("kubernetes.io/os", "In", &["windows"])] }])),
            ),
            (
                "affinity NotIn linux, both terms",
                affinity(json!([
                    { "matchExpressions": [os("kubernetes.io/os", "NotIn", &["linux"])] },
                    { "matchExpressions": [os("kubernetes.io/os", "In", &["windows"]), os("zone", "In", &["a"])] }
                ])),
            ),
        ] {
            assert!(windows_only(&s).is_some(), "{case}");
        }
        for (case, s) in [
            ("nothing", spec(json!({}))),
            (
                "linux",
                spec(json!({ "nodeSelector": { "kubernetes.io/os": "linux" } })),
            ),
            (
                "one term allows linux",
                affinity(json!([
                    { "matchExpressions": [os("kubernetes.io/os", "In", &["windows"])] },
                    { "matchExpressions": [os("zone", "In", &["a"])] }
                ])),
            ),
            (
                "In both",
                affinity(json!([{ "matchExpressions": [os("kubernetes.io/os", "In", &["linux", "windows"])] }])),
            ),
        ] {
            assert_eq!(windows_only(&s), None, "{case}");
        }
    }
}
